using System.Collections.Concurrent;
using Livrable.Build.Cache;
using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Sources;
using Livrable.Store;

namespace Livrable.Build.Dockerfile;

/// <summary>What a Dockerfile build needs besides the Dockerfile: the engine's services and the request's values.</summary>
internal sealed record DockerfileBuildOptions
{
    /// <summary>The platform of the image (and of every stage without FROM <c>--platform</c>).</summary>
    public required Platform TargetPlatform { get; init; }

    /// <summary>The platform the build runs on, for the <c>BUILD*</c> arguments.</summary>
    public Platform? BuildPlatform { get; init; }

    /// <summary>The time in every history entry, layer entry and the final <c>created</c> (SOURCE_DATE_EPOCH).</summary>
    public DateTimeOffset Epoch { get; init; } = Reproducibility.DefaultEpoch;

    /// <summary>How the layers the build writes are compressed (ContainerLayerCompression); base layers keep theirs.</summary>
    public LayerCompression LayerCompression { get; init; } = LayerCompression.Gzip;

    public IReadOnlyDictionary<string, string> BuildArgs { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> NamedContexts { get; init; } = new Dictionary<string, string>();
    public string? Target { get; init; }

    /// <summary>The build context folder; null for a build that reads no context (a test).</summary>
    public string? ContextDirectory { get; init; }

    /// <summary>The Dockerfile's path, for <c>&lt;Dockerfile&gt;.dockerignore</c>.</summary>
    public string? DockerfilePath { get; init; }

    public required BlobStore Store { get; init; }

    /// <summary>An image string (<c>ImageSources.Open</c>'s forms) to its source.</summary>
    public required Func<string, IImageSource> OpenImage { get; init; }

    /// <summary>Told of each URL ADD downloaded and the sha256 of its bytes (the provenance's resolved dependencies); null when nobody asks.</summary>
    public Action<Uri, Digest>? Downloaded { get; init; }

    public required ILogger Logger { get; init; }

    /// <summary>Variable expansion; the frontend's <see cref="ShellExpander"/> with the Dockerfile's escape when null.</summary>
    public IWordExpander? Expander { get; init; }

    /// <summary>A folder for files the build materializes (base-layer files copied, archives, downloads); deleted at dispose.</summary>
    public required string TempDirectory { get; init; }

    /// <summary>The OCI runtime RUN uses (ContainerRuntimePath): a path or a name on PATH; <c>runc</c> when null.</summary>
    public string? RuntimePath { get; init; }

    /// <summary>Secrets RUN can mount, by id.</summary>
    public IReadOnlyDictionary<string, BuildSecret> Secrets { get; init; } = new Dictionary<string, BuildSecret>();

    /// <summary>
    /// <c>ContainerNoCache</c>: run every step instead of reusing the step cache's records. Keys are still computed and
    /// records written, so the next build can use what this one made (BuildKit's <c>--no-cache</c> likewise exports).
    /// </summary>
    public bool NoCache { get; init; }

    /// <summary>Steps that come after the stages (writing the image), counted in the <c>[k/n]</c> progress.</summary>
    public int StepsAfter { get; init; } = 1;
}

/// <summary>The target stage's image: its config (final platform and <c>created</c> set) and its layers, base first.</summary>
internal sealed record DockerfileBuildResult(ImageConfig Config, IReadOnlyList<ILayer> Layers, string Stage, int NextStep, int TotalSteps);

/// <summary>
/// One Dockerfile build (BuildKit's <c>dockerfile2llb.toDispatchState</c> and <c>dispatchStages</c>, without LLB): the
/// build and meta arguments, the stage graph, and each stage the target needs built once, independent stages in
/// parallel (a stage awaits the stages it reads from). Steps are one class per instruction kind; this class holds what
/// they share: image resolution (named contexts first), the build context, layer writing, history, progress.
/// </summary>
internal sealed class DockerfileBuildSession : IDisposable
{
    /// <summary>The largest archive ADD extracts (uncompressed bytes), against archive bombs.</summary>
    public const long MaxArchiveBytes = 16L << 30;

    /// <summary>The history comment of every instruction, as BuildKit writes it.</summary>
    public const string HistoryComment = "buildkit.dockerfile.v0";

    private readonly DockerfileBuildOptions _options;
    private readonly ConcurrentDictionary<int, Lazy<Task<StageState>>> _stages = new();
    private readonly ConcurrentDictionary<string, Lazy<Task<IImage>>> _images = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<StageState>>> _imageStates = new(StringComparer.Ordinal);
    // Redirects are followed by UrlDownload, which checks each target (RedirectGuard), not by the handler.
    private readonly Lazy<HttpClient> _http = new(() => new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }));
    private readonly object _gate = new();
    private readonly StepCache _cache;
    private readonly ConcurrentDictionary<string, StepRecord> _records = new(StringComparer.Ordinal);

    /// <summary>The step cache records this build used or made, by key: what <c>ContainerCacheTo</c> exports.</summary>
    public IReadOnlyCollection<StepRecord> Records => _records.Values.ToList();
    private BuildContext? _context;
    private FileDigests? _digests;
    private int _step;
    private int _total;
    private bool _multiStage;

    public DockerfileBuildSession(DockerfileDocument document, DockerfileBuildOptions options)
    {
        Document = document;
        _options = options;
        Expander = options.Expander ?? new ShellWordExpander(document.Directives.Escape);
        if (document.Stages.Count == 0)
            throw new LivrableException(DiagnosticCodes.StageNotFound, "dockerfile contains no stages to build", new SourceSpan(document.Path, 1, 1));
        string? targetName = string.IsNullOrWhiteSpace(options.Target) ? document.Stages[^1].Name : options.Target.Trim().ToLowerInvariant();
        Arguments = BuildArguments.Create(document.GlobalArgs, options.BuildArgs, options.TargetPlatform,
            options.BuildPlatform ?? HostPlatform(), targetName ?? "default", Expander);
        Graph = StageGraph.Create(document, Arguments.Meta, Expander);
        _cache = new StepCache(options.Store);
    }

    public DockerfileDocument Document { get; }
    public StageGraph Graph { get; }
    public BuildArguments Arguments { get; }
    public IWordExpander Expander { get; }
    public ILogger Logger => _options.Logger;
    public Platform TargetPlatform => _options.TargetPlatform;
    public DateTimeOffset Epoch => _options.Epoch;
    public string TempDirectory => _options.TempDirectory;
    public Action<Uri, Digest>? Downloaded => _options.Downloaded;
    public HttpClient Http => _http.Value;
    public string? RuntimePath => _options.RuntimePath;
    public IReadOnlyDictionary<string, BuildSecret> Secrets => _options.Secrets;

    /// <summary>Layers' entries by diff id (<c>&lt;state&gt;/cache/trees/</c>), so a cached layer's tree is not read from its blob again.</summary>
    public LayerEntryIndex EntryIndex => _entryIndex ??= new LayerEntryIndex(StateLayout.Records(_options.Store.Root, CacheRecordKind.Trees));

    private LayerEntryIndex? _entryIndex;

    /// <summary>The state folder (RUN extracts layers under it).</summary>
    public string StateDirectory => _options.Store.Root;

    /// <summary>
    /// Builds the target stage and the stages it needs. Errors carry the span of their instruction.
    /// </summary>
    public async Task<DockerfileBuildResult> BuildAsync(CancellationToken cancellationToken)
    {
        int target = Graph.Target(_options.Target);
        var needed = Graph.Needed(target);
        foreach (int s in needed)
        {
            if (IsReplaced(s)) continue;
            foreach (var copy in Graph.Stages[s].Instructions.OfType<CopyInstruction>())
                if (copy.From is { } from) Graph.ResolveCopySource(from, s, copy.Span);
        }
        _multiStage = needed.Count > 1;
        _total = needed.Sum(s => 1 + (IsReplaced(s) ? 0 : Graph.Stages[s].Instructions.Count)) + _options.StepsAfter;
        Directory.CreateDirectory(TempDirectory);

        var tasks = needed.Select(s => StageAsync(s, cancellationToken)).ToList();
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch when (tasks.FirstOrDefault(t => t.IsFaulted)?.Exception?.InnerException is LivrableException first)
        {
            // The first stage (in Dockerfile order) that failed is the error to report, whatever finished first.
            throw first;
        }
        var state = await StageAsync(target, cancellationToken).ConfigureAwait(false);

        foreach (string unused in Arguments.Unused())
            Logger.Warning(DiagnosticCodes.UnusedBuildArg,
                $"The build argument {unused} was not consumed: no ARG of the stages built declares it.");

        var config = state.Config.Clone();
        config.Os = TargetPlatform.Os;
        config.Architecture = TargetPlatform.Architecture;
        config.Variant = TargetPlatform.Variant;
        config.Created = Epoch;
        var stage = Graph.Stages[target];
        return new DockerfileBuildResult(config, state.Layers, stage.Name ?? $"stage-{target}", _step + 1, _total);
    }

    /// <summary>Stage <paramref name="index"/>, built once (later calls get the same task).</summary>
    public Task<StageState> StageAsync(int index, CancellationToken cancellationToken)
        => _stages.GetOrAdd(index, i => new Lazy<Task<StageState>>(() => Task.Run(() => BuildStageAsync(i, cancellationToken), cancellationToken))).Value;

    private async Task<StageState> BuildStageAsync(int index, CancellationToken cancellationToken)
    {
        var (state, triggers) = await FromStep.RunAsync(this, index, cancellationToken).ConfigureAwait(false);
        // A stage a named context replaces is that image, as it is (BuildKit dispatches none of its instructions).
        if (IsReplaced(index)) return state;
        if (triggers.Count > 0) Interlocked.Add(ref _total, triggers.Count);
        var fromSpan = Graph.Stages[index].From.Span;
        foreach (var trigger in triggers)
            await DispatchAsync(new StepContext(this, state, index, fromSpan), trigger, cancellationToken).ConfigureAwait(false);
        foreach (var instruction in Graph.Stages[index].Instructions)
            await DispatchAsync(new StepContext(this, state, index, instruction.Span), instruction, cancellationToken).ConfigureAwait(false);
        return state;
    }

    /// <summary>
    /// Runs one instruction. What goes wrong in its work (an ADD URL that cannot be fetched, a path outside the image,
    /// a full disk) is reported at the instruction, <c>Dockerfile(line,col)</c>, as BuildKit does, not at the task in
    /// the targets; an error that already points somewhere keeps its place.
    /// </summary>
    private async Task DispatchAsync(StepContext step, Instruction instruction, CancellationToken cancellationToken)
    {
        try
        {
            await DispatchCoreAsync(step, instruction, cancellationToken).ConfigureAwait(false);
        }
        catch (LivrableException e) when (e.Span is null)
        {
            throw new LivrableException(e.Code, e.Message, step.Span, e);
        }
        catch (IOException e) when (DiskSpace.IsFull(e))
        {
            throw new LivrableException(DiagnosticCodes.DiskFull,
                $"The disk is full ({e.Message}). Free space in the state folder '{_options.Store.Root}' (ContainerStateDirectory), then build again.",
                step.Span, e);
        }
    }

    private async Task DispatchCoreAsync(StepContext step, Instruction instruction, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int number = Interlocked.Increment(ref _step);
        string text = FirstLine(instruction.Text);
        ICacheableStep? cacheable = instruction switch
        {
            RunInstruction run => new RunStep(step, run, number),
            WorkdirInstruction workdir => new WorkdirStep(step, workdir),
            CopyInstruction copy => new CopyStep(step, copy),
            AddInstruction add => new AddStep(step, add),
            _ => null,
        };
        if (cacheable is not null)
        {
            await DispatchCachedAsync(step, instruction, cacheable, number, text, cancellationToken).ConfigureAwait(false);
            return;
        }
        LogProgress(number, step.StageIndex, text);
        switch (instruction)
        {
            case EnvInstruction env: MetadataSteps.Env(step, env); break;
            case ArgInstruction arg: MetadataSteps.Arg(step, arg); break;
            case LabelInstruction label: MetadataSteps.Label(step, label); break;
            case MaintainerInstruction maintainer: MetadataSteps.Maintainer(step, maintainer); break;
            case ExposeInstruction expose: MetadataSteps.Expose(step, expose); break;
            case VolumeInstruction volume: MetadataSteps.Volume(step, volume); break;
            case UserInstruction user: MetadataSteps.User(step, user); break;
            case StopsignalInstruction stop: MetadataSteps.StopSignal(step, stop); break;
            case HealthcheckInstruction health: MetadataSteps.Healthcheck(step, health); break;
            case ShellInstruction shell: MetadataSteps.Shell(step, shell); break;
            case CmdInstruction cmd: MetadataSteps.Cmd(step, cmd); break;
            case EntrypointInstruction entrypoint: MetadataSteps.Entrypoint(step, entrypoint); break;
            case OnbuildInstruction onbuild: MetadataSteps.Onbuild(step, onbuild); break;
            default:
                throw new LivrableException(DiagnosticCodes.Internal, $"{instruction.Keyword} cannot appear inside a stage.", step.Span);
        }
    }

    /// <summary>
    /// A step the cache can keep (docs/build-cache.md): its key is the stage's key, the instruction, the config fields
    /// that change what a step does, and what the step adds (its expanded values and input digests). A hit applies the
    /// recorded layer and history entry (<c>[k/n] CACHED ...</c>); a miss runs the step and records what it added,
    /// after its layer is in the store. Either way the stage's key becomes the step's.
    /// </summary>
    private async Task DispatchCachedAsync(StepContext step, Instruction instruction, ICacheableStep cacheable, int number, string text,
        CancellationToken cancellationToken)
    {
        var state = step.State;
        bool announced = false;
        try
        {
            string parent = state.CacheKey;
            string? key;
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            using (var builder = new StepKey(parent))
            {
                builder.Add("instruction", instruction.Text)
                    .Add("platform", state.Platform.ToString())
                    .Add("epoch", Epoch.ToUnixTimeSeconds())
                    .Add("env", state.Environment.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + p.Value))
                    .Add("user", state.Config.User)
                    .Add("workdir", state.Config.WorkingDir)
                    .Add("shell", state.Config.Shell ?? []);
                bool complete = await cacheable.PrepareAsync(builder, cancellationToken).ConfigureAwait(false);
                key = complete ? builder.Finish() : null;
            }
            Logger.Detail($"  step key {key?[..12] ?? "(none: inputs known only by running)"} in {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms"
                + (_digests is { } d ? $", {d.FilesHashed} context files read so far" : ""));
            // For COPY and ADD the key is the context hashing: its time in the progress lines' form.
            if (cacheable is FileStep) Logger.Detail($"  context hashing: the sources' digests {Units.Since(started)}");
            if (key is not null && !_options.NoCache && _cache.TryGet(key) is { } record)
            {
                _records[key] = record;
                LogProgress(number, step.StageIndex, text, cached: true);
                announced = true;
                foreach (var output in record.Outputs)
                {
                    if (output.Layer is { } layer)
                        state.AddCachedLayer(new StoredLayer(layer, output.DiffId!.Value, _options.Store) { FromCache = true }, output.History, cancellationToken);
                    else
                        state.AddHistory(output.History);
                }
                state.CacheKey = key;
                return;
            }
            LogProgress(number, step.StageIndex, text);
            announced = true;
            int before = state.Outputs.Count;
            long running = System.Diagnostics.Stopwatch.GetTimestamp();
            await cacheable.RunAsync(cancellationToken).ConfigureAwait(false);
            // BuildKit's DONE line: what the step took, so users and bench/ see where the time goes.
            Logger.Info($"[{number}/{Volatile.Read(ref _total)}] DONE {Units.Since(running)}");
            var outputs = state.Outputs.Skip(before).ToList();
            if (key is not null)
            {
                var made = new StepRecord(key, outputs);
                _cache.Put(made);
                _records[key] = made;
                state.CacheKey = key;
                return;
            }
            // Inputs not known beforehand: the chain continues from what the step made, so later steps still hit.
            using var chained = new StepKey(parent);
            chained.Add("instruction", instruction.Text);
            foreach (var output in outputs)
                chained.Add("output", $"{output.DiffId} {output.History.CreatedBy} {output.History.EmptyLayer}");
            state.CacheKey = chained.Finish();
        }
        finally
        {
            if (!announced) LogProgress(number, step.StageIndex, text);
        }
    }

    /// <summary>Whether a named context has the stage's name, and so replaces it.</summary>
    public bool IsReplaced(int index) => Graph.Stages[index].Name is { } name && NamedContextSource(name) is not null;

    /// <summary>The state <c>COPY --from=<paramref name="from"/></c> reads: an earlier stage, a named context, or an image.</summary>
    public async Task<StageState> CopySourceAsync(string from, int current, SourceSpan span, CancellationToken cancellationToken)
    {
        var source = Graph.ResolveCopySource(from, current, span);
        if (source.Stage is int s) return await StageAsync(s, cancellationToken).ConfigureAwait(false);
        string image = NamedContextSource(from) ?? from;
        return await _imageStates.GetOrAdd(image, i => new Lazy<Task<StageState>>(async () =>
        {
            var resolved = await ResolveImageAsync(i, TargetPlatform, span, cancellationToken).ConfigureAwait(false);
            return StageState.FromImage(resolved, TargetPlatform, EntryIndex);
        })).Value.ConfigureAwait(false);
    }

    /// <summary>
    /// The image string of the named context <paramref name="name"/>: the same key, else one naming the same image
    /// reference once normalized (<c>debian:bookworm</c> is <c>docker.io/library/debian:bookworm</c>). Null when none.
    /// </summary>
    public string? NamedContextSource(string name) => NamedContexts.Find(_options.NamedContexts, name);

    /// <summary>Resolves an image once per build and platform; a resolution error points at <paramref name="span"/>.</summary>
    public Task<IImage> ResolveImageAsync(string source, Platform platform, SourceSpan span, CancellationToken cancellationToken)
        => _images.GetOrAdd(source + "\n" + platform, _ => new Lazy<Task<IImage>>(async () =>
        {
            try
            {
                var imageSource = _options.OpenImage(source);
                return await imageSource.ResolveAsync(platform, cancellationToken).ConfigureAwait(false);
            }
            catch (LivrableException e) when (e.Span is null)
            {
                throw new LivrableException(e.Code, e.Message, span, e);
            }
        })).Value;

    /// <summary>The build context, opened on first use. LIV2072 when the build has none.</summary>
    public BuildContext Context(SourceSpan span)
    {
        lock (_gate)
        {
            if (_context is not null) return _context;
            if (_options.ContextDirectory is null || !Directory.Exists(_options.ContextDirectory))
                throw new LivrableException(DiagnosticCodes.BuildContextNotFound,
                    $"This step reads the build context, but the build context folder '{_options.ContextDirectory}' does not exist (ContainerBuildContext).", span);
            return _context = BuildContext.Open(_options.ContextDirectory, _options.DockerfilePath);
        }
    }

    /// <summary>
    /// The content digests of the build context's files, from the state folder's index (<see cref="FileDigests"/>),
    /// opened on first use.
    /// </summary>
    public FileDigests ContextDigests(SourceSpan span)
    {
        var context = Context(span);
        lock (_gate)
            return _digests ??= FileDigests.Open(StateDirectory, context.Root, Logger);
    }

    /// <summary>A history entry for an instruction that adds no layer.</summary>
    public void AddHistory(StageState state, string createdBy)
        => state.AddHistory(new HistoryEntry(Epoch, createdBy, HistoryComment, EmptyLayer: true));

    /// <summary>Writes one layer of <paramref name="entries"/> and adds it to the stage.</summary>
    public async Task AddLayerAsync(StageState state, IReadOnlyList<FileEntry> entries, string createdBy, CancellationToken cancellationToken)
    {
        var spec = new EntriesLayerSpec(entries) { CreatedBy = createdBy };
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var layer = await LayerWriter.WriteAsync(spec, new LayerWriteOptions { Epoch = Epoch, Compression = _options.LayerCompression }, _options.Store, cancellationToken).ConfigureAwait(false);
        Logger.Detail($"  layer write: tar, compression and store {Units.Since(started)}");
        Logger.Detail($"  {createdBy}: {layer.Descriptor.Digest.Hex[..12]} ({Units.Bytes(layer.Descriptor.Size)}, {entries.Count} entries)");
        state.AddLayer(layer, entries, new HistoryEntry(Epoch, createdBy, HistoryComment));
    }

    /// <summary>One <c>[k/n]</c> progress line; returns k.</summary>
    public int Progress(int stageIndex, string text)
    {
        int k = Interlocked.Increment(ref _step);
        LogProgress(k, stageIndex, text);
        return k;
    }

    /// <summary>The <c>[k/n]</c> line of step k: <c>CACHED</c> for a step the build cache answered, then the stage's name.</summary>
    private void LogProgress(int k, int stageIndex, string text, bool cached = false)
    {
        string stage = _multiStage ? (Graph.Stages[stageIndex].Name ?? $"stage-{stageIndex}") + ": " : "";
        Logger.Info($"[{k}/{Volatile.Read(ref _total)}] {(cached ? "CACHED " : "")}{stage}{text}");
    }

    private static string FirstLine(string text)
    {
        int newline = text.IndexOf('\n');
        return (newline < 0 ? text : text[..newline]).Trim();
    }

    internal static Platform HostPlatform()
    {
        try
        {
            return Platform.Host();
        }
        catch (LivrableException)
        {
            return new Platform("linux", "amd64");
        }
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
