using Livrable.Build.Cache;

namespace Livrable.Build.Dockerfile;

/// <summary>How a step's output is found again: not kept by the step cache, by a key known before it runs, or only by running it.</summary>
internal enum StepKeying
{
    /// <summary>A metadata step (ENV, LABEL, CMD...): it changes the config and history only, and always runs (it reads and writes nothing).</summary>
    NotCached,

    /// <summary>Its key is complete before it runs: a hit reuses the recorded output.</summary>
    Keyed,

    /// <summary>An input is known only by running the step (an ADD of a URL): it runs, and the chain continues from what it made.</summary>
    KnownAfterRunning,
}

/// <summary>
/// One instruction of a stage, whatever its kind (metadata, COPY/ADD, RUN, WORKDIR), as the executor
/// (<see cref="StepExecutor"/>) sees it: <see cref="PrepareAsync"/> first, then <see cref="RunAsync"/> unless the step
/// cache answered. A step reaches the build only through its <see cref="StepContext"/> (the stage and
/// <see cref="IStepServices"/>), never the session.
/// </summary>
internal interface IBuildStep
{
    /// <summary>
    /// Expands the instruction, makes the config changes every outcome needs (WORKDIR's), and adds to
    /// <paramref name="key"/> everything the step's output depends on besides the parent state: expanded values and
    /// the content digests of what it reads. Reads no stage tree and writes nothing, so a plan can call it.
    /// </summary>
    Task<StepKeying> PrepareAsync(StepKey key, CancellationToken cancellationToken);

    /// <summary>Runs the step (after <see cref="PrepareAsync"/>): its layer or history entry is added to the stage.</summary>
    Task RunAsync(CancellationToken cancellationToken);
}
