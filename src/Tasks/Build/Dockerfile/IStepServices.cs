using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Build.Cache;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// What a step may use of the build besides its stage (<see cref="StepContext"/>): expansion and arguments, the build
/// context and its digests, other stages and images (<c>COPY --from</c>, <c>RUN --mount=from=</c>), layer writing and
/// history, the runtime's settings, a temporary folder and the log. <see cref="StepServices"/> is the build's.
/// </summary>
internal interface IStepServices
{
    IWordExpander Expander { get; }

    /// <summary>The build and meta arguments (ARG consumes them, RUN passes the proxy ones).</summary>
    BuildArguments Arguments { get; }

    ILogger Logger { get; }

    /// <summary>The time of every history entry and layer entry (SOURCE_DATE_EPOCH).</summary>
    DateTimeOffset Epoch { get; }

    /// <summary>A folder for files the build materializes; deleted when the build ends.</summary>
    string TempDirectory { get; }

    /// <summary>The state folder (RUN extracts layers and keeps cache mounts under it).</summary>
    string StateDirectory { get; }

    /// <summary>Told of each URL ADD downloaded and the sha256 of its bytes; null when nobody asks.</summary>
    Action<Uri, Digest>? Downloaded { get; }

    /// <summary>The client ADD downloads with (redirects followed by <c>UrlDownload</c>, not by the handler).</summary>
    HttpClient Http { get; }

    /// <summary>The OCI runtime RUN uses; <c>runc</c> when null.</summary>
    string? RuntimePath { get; }

    /// <summary>Secrets RUN can mount, by id.</summary>
    IReadOnlyDictionary<string, BuildSecret> Secrets { get; }

    /// <summary>The state <c>COPY --from=<paramref name="from"/></c> reads: an earlier stage, a named context, or an image.</summary>
    Task<StageState> CopySourceAsync(string from, int current, SourceSpan span, CancellationToken cancellationToken);

    /// <summary>The build context, opened on first use. LIV2072 when the build has none.</summary>
    BuildContext Context(SourceSpan span);

    /// <summary>The content digests of the build context's files (the state folder's index), opened on first use.</summary>
    FileDigests ContextDigests(SourceSpan span);

    /// <summary>
    /// The context entries a COPY source with no <c>--exclude</c> reads, when they were walked ahead while the stage's
    /// FROM resolved its base (<see cref="StepServices.WalkAhead"/>); null when they were not (or the walk failed: the
    /// step walks again and reports what it finds).
    /// </summary>
    IReadOnlyList<ContextEntry>? WalkedAhead(string source);

    /// <summary>
    /// The key's parts of the files <see cref="WalkedAhead"/> gives (<see cref="ContextSources.KeyPartsKnown"/>), made
    /// ahead when the context's digest index knew every one of them; null otherwise.
    /// </summary>
    Cache.StepKey? KeyPartsAhead(string source);

    /// <summary>A history entry for an instruction that adds no layer.</summary>
    void AddHistory(StageState state, string createdBy);

    /// <summary>
    /// Writes one layer of <paramref name="entries"/> and adds it to the stage; <paramref name="forRun"/> (a RUN of the
    /// stage follows, <see cref="StepContext.RunFollows"/>): its RUN lower folder is made as it is written, or, for a
    /// RUN's layer, from <paramref name="upper"/> (<see cref="Runtime.RunResult.UpperDirectory"/>) once it is written.
    /// </summary>
    Task AddLayerAsync(StageState state, IReadOnlyList<Layers.FileEntry> entries, string createdBy, CancellationToken cancellationToken, bool forRun = false,
        string? upper = null);
}
