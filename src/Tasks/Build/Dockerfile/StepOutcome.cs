namespace Livrable.Build.Dockerfile;

/// <summary>What became of one step of a build or a plan (the <c>[k/n]</c> progress line and the plan printer read it).</summary>
internal enum StepOutcome
{
    /// <summary>A metadata step or a stage's start: applied to the config, nothing to cache.</summary>
    Applied,

    /// <summary>The step cache held the step's output; it was reused, the step did not run.</summary>
    Cached,

    /// <summary>The step ran (a miss, or <c>ContainerNoCache</c>).</summary>
    Ran,

    /// <summary>In a plan: the key is known and the cache does not hold it, so a build would run the step.</summary>
    WouldRun,

    /// <summary>In a plan: the key can be known only by running an earlier step or this one (an ADD of a URL).</summary>
    KnownAfterRunning,
}
