using Livrable.Build.Cache;
using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
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
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task<(IReadOnlyList<ContextEntry> Entries, StepKey? Parts, string Timing)>> _walks = new(StringComparer.Ordinal);

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
            return _digests ??= options.ContextDigestsAhead?.Invoke(context.Root) ?? FileDigests.Open(StateDirectory, context.Root, Logger);
    }

    /// <summary>
    /// Starts walking the build context sources of <paramref name="instructions"/>' COPYs whose inputs are known before
    /// the stage starts (a literal source: no variable, quote or escape; no <c>--from</c>, <c>--exclude</c> or
    /// <c>--parents</c>), and reading the context's digest index, on the pool, while the stage's FROM resolves its base
    /// (a manifest request for a registry tag): an unchanged build of a large context waited for one, then the other
    /// (issue 14). When the index knows every walked file, the key's parts of them are made too
    /// (<see cref="ContextSources.KeyPartsKnown"/>; no file is read here), unless ContainerNoCache makes the key wait
    /// for the layer write. The step takes the walk's result (<see cref="WalkedAhead"/>, <see cref="KeyPartsAhead"/>);
    /// an error is not reported from here.
    /// </summary>
    public void WalkAhead(IEnumerable<Instruction> instructions)
    {
        if (options.ContextDirectory is null || !Directory.Exists(options.ContextDirectory)) return;
        foreach (var copy in instructions.OfType<CopyInstruction>())
        {
            if (copy.From is not null || copy.Excludes.Count > 0 || copy.Parents) continue;
            foreach (var source in copy.Sources)
                if (source.Path is { } path && path.IndexOfAny(['$', '"', '\'', '\\', '`']) < 0)
                    _walks.GetOrAdd(path, p => StartNow(() =>
                    {
                        long started = System.Diagnostics.Stopwatch.GetTimestamp();
                        // The context first: the index is read under the same lock, and the walk would wait for it.
                        var context = Context(copy.Span);
                        double indexRead = 0;
                        var digests = StartNow(() =>
                        {
                            var read = ContextDigests(copy.Span);
                            indexRead = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                            return read;
                        });
                        var entries = ContextSources.Walk(context, copy.Span, p, [], _ => false);
                        double walked = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                        var parts = options.NoCache ? null : PartsOrNull(entries, p, digests);
                        return (entries, parts, $"{entries.Count} entries walked in {walked:0} ms, digest index read at {indexRead:0} ms, " +
                            $"key parts {(parts is null ? "left to the step" : "made")} at {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms");
                    }));
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a thread of its own, started now: at a build's start the pool's threads are taken
    /// (the base's resolution, MSBuild's), and a work item waited 10-25 ms for the pool to add one while a core was idle
    /// (issue 14: the walk ahead and the digest index, on the unchanged build's critical path).
    /// </summary>
    private static Task<T> StartNow<T>(Func<T> work)
        => Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>The key's parts of walked entries, or null (the step makes them, and meets any error again).</summary>
    private static StepKey? PartsOrNull(IReadOnlyList<ContextEntry> entries, string source, Task<FileDigests> digests)
    {
        try
        {
            return ContextSources.KeyPartsKnown(entries, source, digests.GetAwaiter().GetResult());
        }
        catch (Exception e) when (e is LivrableException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public IReadOnlyList<ContextEntry>? WalkedAhead(string source) => Ahead(source)?.Entries;

    public StepKey? KeyPartsAhead(string source)
    {
        // Logged here, by the step, not by the walk: the walk runs on the pool, and may end when no step wants it.
        if (Ahead(source) is not { } ahead) return null;
        Logger.Detail($"  context walk ahead of the step: {ahead.Timing}");
        return ahead.Parts;
    }

    private (IReadOnlyList<ContextEntry> Entries, StepKey? Parts, string Timing)? Ahead(string source)
    {
        if (!_walks.TryGetValue(source, out var walk)) return null;
        try
        {
            return walk.GetAwaiter().GetResult();
        }
        catch (Exception)
        {
            // Whatever went wrong ahead is met again, and reported, by the step's own walk.
            return null;
        }
    }

    public void AddHistory(StageState state, string createdBy)
        => state.AddHistory(new HistoryEntry(Epoch, createdBy, HistoryComment, EmptyLayer: true));

    public async Task AddLayerAsync(StageState state, IReadOnlyList<FileEntry> entries, string createdBy, CancellationToken cancellationToken, bool forRun = false,
        string? upper = null)
    {
        var spec = new EntriesLayerSpec(entries) { CreatedBy = createdBy };
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var headers = new List<TarHeader>();
        var cpu = Units.Cpu();
        // A RUN follows: its lower folder is the RUN's upper folder made equal to the layer, or made from the tar as it
        // is written, not from the blob afterwards. The tar's size, about: each entry's bytes, header and padding.
        var lower = forRun ? Runtime.LowerFolderPreparation.Start(StateDirectory, Logger, entries.Sum(e => e.Size + 1024), upper) : null;
        StoredLayer layer;
        string written;
        await using (lower)
        {
            layer = await LayerWriter.WriteAsync(spec, new LayerWriteOptions
            {
                Epoch = Epoch, Compression = options.LayerCompression, Headers = headers, TarCopy = lower?.TarCopy, Written = lower?.Written,
            }, options.Store, cancellationToken).ConfigureAwait(false);
            // The next build finds this layer's entries recorded, as for a layer read from its blob: a COPY after this step,
            // cached then, plans without decompressing it (pyapp's first edit after a cold build read its 580 MB apt layer).
            // Before the lower folder: an upper folder adopted no longer holds the files the small ones are read from.
            try
            {
                EntryIndex.Write(layer, FileTree.EntriesWritten(layer, headers, path => InlineBytes(entries, path)));
            }
            catch (LivrableException)
            {
                // An entry a tree refuses (a whiteout naming no file): not recorded, so a read of the blob says why, as before.
            }
            written = $"({Units.CpuSince(cpu)}) {Units.Since(started)}";
            if (lower is not null) await lower.CompleteAsync(layer, headers, cancellationToken).ConfigureAwait(false);
        }
        // The layer's own time: the lower folder's is its own line.
        Logger.Detail($"  layer write: tar, compression and store {written}");
        Logger.Detail($"  {createdBy}: {layer.Descriptor.Digest.Hex[..12]} ({Units.Bytes(layer.Descriptor.Size)}, {entries.Count} entries)");
        state.AddLayer(layer, entries, new HistoryEntry(Epoch, createdBy, HistoryComment));
    }

    /// <summary>The bytes of the small file at <paramref name="path"/> among <paramref name="entries"/>; null when it is not a plain file there.</summary>
    private static byte[]? InlineBytes(IReadOnlyList<FileEntry> entries, string path)
    {
        var entry = entries.LastOrDefault(e => ImagePath.Clean(e.Path) == path);
        if (entry is not { Type: TarTypeFlag.RegularFile, Open: { } open }) return null;
        try
        {
            using var stream = open(CancellationToken.None).GetAwaiter().GetResult();
            var bytes = new MemoryStream();
            stream.CopyTo(bytes);
            return bytes.Length == entry.Size ? bytes.ToArray() : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Completes when the tree snapshots the steps started recording are written (<see cref="TreeSnapshots"/>).</summary>
    public Task WhenTreesRecordedAsync() => _entryIndex?.Snapshots.WhenRecordedAsync() ?? Task.CompletedTask;

    public void Dispose()
    {
        _digests?.Save();
        if (_entryIndex is not null)
        {
            // A build that failed did not wait for the snapshots its steps started: none is left half written.
            try
            {
                _entryIndex.Snapshots.WhenRecordedAsync().Wait(TimeSpan.FromSeconds(30));
            }
            catch (AggregateException)
            {
                // Recording swallows its own failures; nothing else can end up here.
            }
            _entryIndex.Snapshots.Dispose();
        }
        if (_http.IsValueCreated) _http.Value.Dispose();
        // The step folders (the last RUN's upper folder, which no later step adopted...) are removed while the image is
        // written, not before: inside the build's lease folder, the lease waits for their removal when it ends.
        string temp = TempDirectory;
        if (options.Store.Lease is { } lease && Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(temp)) == Path.TrimEndingDirectorySeparator(lease.TempDirectory))
            lease.Defer(Task.Run(() => DeleteTemporary(temp)));
        else
            DeleteTemporary(temp);
    }

    private static void DeleteTemporary(string temp)
    {
        try
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A rootless RUN's files of other users of its namespace: deleted there. Else left for a later cleanup.
            Runtime.ContainerRun.DeleteStepDirectory(temp);
        }
    }
}
