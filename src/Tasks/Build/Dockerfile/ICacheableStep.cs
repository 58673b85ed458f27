using Livrable.Build.Cache;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// A step whose output (a layer and its history entry) the step cache can keep: COPY, ADD, RUN, WORKDIR. The session
/// calls <see cref="PrepareAsync"/>, looks the key up, and calls <see cref="RunAsync"/> only on a miss.
/// </summary>
internal interface ICacheableStep
{
    /// <summary>
    /// Expands the instruction, makes the config changes every outcome needs (WORKDIR's), and adds to
    /// <paramref name="key"/> everything the step's output depends on besides the parent state: expanded values and
    /// the content digests of what it reads. False when an input cannot be known without running the step (an ADD of
    /// a URL without <c>--checksum</c>); the step then runs, and the chain continues from what it made.
    /// </summary>
    Task<bool> PrepareAsync(StepKey key, CancellationToken cancellationToken);

    /// <summary>Runs the step (after <see cref="PrepareAsync"/>): its layer or history entry is added to the stage.</summary>
    Task RunAsync(CancellationToken cancellationToken);
}
