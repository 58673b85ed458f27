using Livrable.Build.Cache;
using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// The services of one Dockerfile build that its steps share (<see cref="IStepServices"/>): the build context and its
/// digest index opened once, the HTTP client, layer writing (compressed as <see cref="DockerfileBuildOptions.LayerCompression"/>
/// says) and history entries. Other stages come from the session through <c>copySource</c>. Disposing saves the
/// context's digest index and deletes the temporary folder.
/// </summary>
internal sealed class StepServices(DockerfileBuildOptions options, IWordExpander expander, BuildArguments arguments,
    Func<string, int, SourceSpan, CancellationToken, Task<StageState>> copySource) : IStepServices, IDisposable
{
    /// <summary>The largest archive ADD extracts (uncompressed bytes), against archive bombs.</summary>
    public const long MaxArchiveBytes = 16L << 30;

    /// <summary>The history comment of every instruction, as BuildKit writes it.</summary>
    public const string HistoryComment = "buildkit.dockerfile.v0";

    // Redirects are followed by UrlDownload, which checks each target (RedirectGuard), not by the handler.
    private readonly Lazy<HttpClient> _http = new(() => new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }));
    private readonly object _gate = new();
    private BuildContext? _context;
    private FileDigests? _digests;
    private LayerEntryIndex? _entryIndex;

    public IWordExpander Expander => expander;
    public BuildArguments Arguments => arguments;
    public ILogger Logger => options.Logger;
    public DateTimeOffset Epoch => options.Epoch;
    public string TempDirectory => options.TempDirectory;
    public string StateDirectory => options.Store.Root;
    public Action<Uri, Digest>? Downloaded => options.Downloaded;
    public HttpClient Http => _http.Value;
    public string? RuntimePath => options.RuntimePath;
    public IReadOnlyDictionary<string, BuildSecret> Secrets => options.Secrets;

    /// <summary>The context files hashed so far (the detailed log's count), or null before the first.</summary>
    public int? ContextFilesHashed => _digests?.FilesHashed;

    /// <summary>Layers' entries by diff id (<c>&lt;state&gt;/cache/trees/</c>), so a cached layer's tree is not read from its blob again.</summary>
    public LayerEntryIndex EntryIndex => _entryIndex ??= new LayerEntryIndex(StateLayout.Records(options.Store.Root, CacheRecordKind.Trees));

    public Task<StageState> CopySourceAsync(string from, int current, SourceSpan span, CancellationToken cancellationToken)
        => copySource(from, current, span, cancellationToken);

    public BuildContext Context(SourceSpan span)
    {
        lock (_gate)
        {
            if (_context is not null) return _context;
            if (options.ContextDirectory is null || !Directory.Exists(options.ContextDirectory))
                throw new LivrableException(DiagnosticCodes.BuildContextNotFound,
                    $"This step reads the build context, but the build context folder '{options.ContextDirectory}' does not exist (ContainerBuildContext).", span);
            return _context = BuildContext.Open(options.ContextDirectory, options.DockerfilePath);
        }
    }

    public FileDigests ContextDigests(SourceSpan span)
    {
        var context = Context(span);
        lock (_gate)
            return _digests ??= FileDigests.Open(StateDirectory, context.Root, Logger);
    }

    public void AddHistory(StageState state, string createdBy)
        => state.AddHistory(new HistoryEntry(Epoch, createdBy, HistoryComment, EmptyLayer: true));

    public async Task AddLayerAsync(StageState state, IReadOnlyList<FileEntry> entries, string createdBy, CancellationToken cancellationToken, bool forRun = false)
    {
        var spec = new EntriesLayerSpec(entries) { CreatedBy = createdBy };
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        // A RUN follows: its lower folder is made from the tar as it is written, not from the blob afterwards.
        // The tar's size, about: each entry's bytes, header and padding.
        var lower = forRun ? Runtime.LowerFolderPreparation.Start(StateDirectory, Logger, entries.Sum(e => e.Size + 1024)) : null;
        StoredLayer layer;
        await using (lower)
        {
            layer = await LayerWriter.WriteAsync(spec, new LayerWriteOptions { Epoch = Epoch, Compression = options.LayerCompression, TarCopy = lower?.TarCopy },
                options.Store, cancellationToken).ConfigureAwait(false);
            if (lower is not null) await lower.CompleteAsync(layer, cancellationToken).ConfigureAwait(false);
        }
        Logger.Detail($"  layer write: tar, compression and store {Units.Since(started)}");
        Logger.Detail($"  {createdBy}: {layer.Descriptor.Digest.Hex[..12]} ({Units.Bytes(layer.Descriptor.Size)}, {entries.Count} entries)");
        state.AddLayer(layer, entries, new HistoryEntry(Epoch, createdBy, HistoryComment));
    }

    public void Dispose()
    {
        _digests?.Save();
        if (_http.IsValueCreated) _http.Value.Dispose();
        try
        {
            if (Directory.Exists(TempDirectory)) Directory.Delete(TempDirectory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A rootless RUN's files of other users of its namespace: deleted there. Else left for a later cleanup.
            Runtime.ContainerRun.DeleteStepDirectory(TempDirectory);
        }
    }
}
