namespace Livrable.Build.Dockerfile;

/// <summary>
/// One step of a plan or a build, in the order of its stage: where it stands (<paramref name="Stage"/>, named
/// <paramref name="StageName"/>), its instruction's first line, its step cache key when known before running, and its
/// <paramref name="Outcome"/>; <paramref name="Reason"/> says why a key is known only after running.
/// </summary>
internal sealed record PlannedStep(int Stage, string StageName, string Text, string? Key, StepOutcome Outcome, string? Reason = null);

/// <summary>
/// The plan of a Dockerfile build (<c>-t:ContainerPlan</c>): every step of the stages the target needs, stage by stage
/// in Dockerfile order, with its key and whether the step cache holds its output; and the target stage's result as
/// far as the cache knows it, which is the image a build makes when <see cref="Complete"/>.
/// </summary>
internal sealed record DockerfilePlan(IReadOnlyList<PlannedStep> Steps, DockerfileBuildResult Result)
{
    /// <summary>The steps a build would run: misses, and the steps whose key is known only after running.</summary>
    public int ToRun => Steps.Count(s => s.Outcome is StepOutcome.WouldRun or StepOutcome.KnownAfterRunning);

    /// <summary>Whether every step is cached or metadata: the result is then the built image's config and layers.</summary>
    public bool Complete => ToRun == 0;
}
