using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Livrable.Build.Cache;
using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Registry;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Threading;

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

    /// <summary>
    /// The build context's digest index read ahead of the build (<see cref="ImageBuildHeadStart"/>), by context root
    /// (<see cref="Livrable.Context.BuildContext.Root"/>): null when none was, or for another root (then the index is opened).
    /// </summary>
    public Func<string, FileDigests?>? ContextDigestsAhead { get; init; }

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

    /// <summary>
    /// A plan (<c>-t:ContainerPlan</c>): steps are prepared and keyed, the step cache is read, and nothing runs or is
    /// written (no layer, no record, no temporary folder; only the context's digest index may be saved).
    /// </summary>
    public bool PlanOnly { get; init; }

    /// <summary>Steps that come after the stages (writing the image), counted in the <c>[k/n]</c> progress.</summary>
    public int StepsAfter { get; init; } = 1;

    /// <summary>The build's bound on concurrent work (ContainerMaxParallelism): a missed step runs in one of its slots.</summary>
    public WorkLimiter Work { get; init; } = new(WorkLimiter.DefaultBound);

    /// <summary>
    /// Whether the destination holds the base image's bytes (an image tarball, an OCI layout, a local engine), so the
    /// target stage's base layers are needed whatever the steps do; a push mounts them instead.
    /// </summary>
    public bool DestinationHoldsBase { get; init; }

    /// <summary>
    /// Told the target stage's layers before each of its steps that has to run (a cache miss): layers no later step
    /// changes, the image's first ones. An image tarball starts its write with the first of these that is not empty
    /// (<c>Outputs/ArchivePrefix</c>) while that step and the next run. Never in a plan, nor in a build whose every step
    /// is cached.
    /// </summary>
    public Action<IReadOnlyList<ILayer>>? TargetLayersKnown { get; init; }
}

/// <summary>The target stage's image: its config (final platform and <c>created</c> set) and its layers, base first.</summary>
internal sealed record DockerfileBuildResult(ImageConfig Config, IReadOnlyList<ILayer> Layers, string Stage, int NextStep, int TotalSteps);

/// <summary>
/// One Dockerfile build (BuildKit's <c>dockerfile2llb.toDispatchState</c> and <c>dispatchStages</c>, without LLB): the
/// build and meta arguments, the stage graph, and each stage the target needs built once, independent stages in
/// parallel (a stage awaits the stages it reads from). Each stage starts with <see cref="FromStep"/>; its instructions
/// go to the <see cref="StepExecutor"/>, which gives each step only <see cref="IStepServices"/>. This class resolves
/// images (named contexts first) and other stages. <see cref="PlanAsync"/> does the same without running anything.
/// </summary>
internal sealed class DockerfileBuildSession : IDisposable
{
    private readonly DockerfileBuildOptions _options;
    private readonly ConcurrentDictionary<int, Lazy<Task<StageState>>> _stages = new();
    private readonly ConcurrentDictionary<string, Lazy<Task<IImage>>> _images = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<StageState>>> _imageStates = new(StringComparer.Ordinal);
    private readonly StepServices _services;
    private readonly StepExecutor _executor;
    private IReadOnlyList<int> _needed = [];

    public DockerfileBuildSession(DockerfileDocument document, DockerfileBuildOptions options)
    {
        Document = document;
        _options = options;
        Expander = options.Expander ?? new ShellWordExpander(document.Directives.Escape);
        (Arguments, Graph) = StageGraph.Prepare(document, options.BuildArgs, options.Target, options.TargetPlatform,
            options.BuildPlatform ?? BuildArguments.HostPlatform(), Expander);
        _services = new StepServices(options, Expander, Arguments, CopySourceAsync);
        _executor = new StepExecutor(options, _services, Graph);
    }

    public DockerfileDocument Document { get; }
    public StageGraph Graph { get; }
    public BuildArguments Arguments { get; }
    public IWordExpander Expander { get; }
    public ILogger Logger => _options.Logger;
    public Platform TargetPlatform => _options.TargetPlatform;

    /// <summary>The step cache records this build used or made, by key: what <c>ContainerCacheTo</c> exports.</summary>
    public IReadOnlyCollection<StepRecord> Records => _executor.Records;

    /// <summary>Layers' entries by diff id (<c>&lt;state&gt;/cache/trees/</c>), so a cached layer's tree is not read from its blob again.</summary>
    public LayerEntryIndex EntryIndex => _services.EntryIndex;

    /// <summary>
    /// Builds the target stage and the stages it needs. Errors carry the span of their instruction.
    /// </summary>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
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
        _needed = needed; // in Dockerfile order
        foreach (int s in _needed) ResolveBaseAhead(s, cancellationToken);
        _executor.MultiStage = needed.Count > 1;
        // Loops rather than LINQ over the int indexes (Sum, Select: generic code compiled at run time in every build).
        int steps = _options.StepsAfter;
        foreach (int s in needed) steps += 1 + (IsReplaced(s) ? 0 : Graph.Stages[s].Instructions.Count);
        _executor.AddSteps(steps);
        if (!_options.PlanOnly) Directory.CreateDirectory(_options.TempDirectory);

        var tasks = new List<Task<StageState>>(needed.Count);
        foreach (int s in needed) tasks.Add(StageAsync(s, cancellationToken));
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
        // The tree snapshots steps started for the next build (usually written while a later step ran).
        await _services.WhenTreesRecordedAsync().ConfigureAwait(false);

        foreach (string unused in Arguments.Unused())
            Logger.Warning(DiagnosticCodes.UnusedBuildArg,
                $"The build argument {unused} was not consumed: no ARG of the stages built declares it.");

        var config = state.Config.Clone();
        config.Os = TargetPlatform.Os;
        config.Architecture = TargetPlatform.Architecture;
        config.Variant = TargetPlatform.Variant;
        config.Created = _options.Epoch;
        var stage = Graph.Stages[target];
        return new DockerfileBuildResult(config, state.Layers, stage.Name ?? $"stage-{target}", _executor.Step + 1, _executor.Total);
    }

    /// <summary>
    /// The plan of the build (<see cref="DockerfileBuildOptions.PlanOnly"/> must be set): every step of the stages the
    /// target needs, keyed and looked up in the step cache, nothing run; and the result as far as the cache knows it.
    /// </summary>
    public async Task<DockerfilePlan> PlanAsync(CancellationToken cancellationToken)
    {
        if (!_options.PlanOnly) throw new LivrableException(DiagnosticCodes.Internal, "A plan needs DockerfileBuildOptions.PlanOnly.");
        var result = await BuildAsync(cancellationToken).ConfigureAwait(false);
        return new DockerfilePlan(_executor.Steps(_needed), result);
    }

    /// <summary>Stage <paramref name="index"/>, built once (later calls get the same task).</summary>
    public Task<StageState> StageAsync(int index, CancellationToken cancellationToken)
        => _stages.GetOrAdd(index, i => new Lazy<Task<StageState>>(() => Task.Run(() => BuildStageAsync(i, cancellationToken), cancellationToken))).Value;

    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    private async Task<StageState> BuildStageAsync(int index, CancellationToken cancellationToken)
    {
        if (!IsReplaced(index)) _services.WalkAhead(Graph.Stages[index].Instructions);
        var (state, triggers) = await FromStep.RunAsync(this, index, cancellationToken).ConfigureAwait(false);
        // A stage a named context replaces is that image, as it is (BuildKit dispatches none of its instructions).
        if (IsReplaced(index)) return state;
        PrefetchBase(index, state, cancellationToken);
        if (triggers.Count > 0) _executor.AddSteps(triggers.Count);
        var fromSpan = Graph.Stages[index].From.Span;
        // The ONBUILD triggers, then the stage's instructions; each step knows whether a RUN comes later in the stage.
        // Loops, not LINQ over these value tuples (generic code no ReadyToRun image holds, compiled in every build).
        var instructions = Graph.Stages[index].Instructions;
        var steps = new List<(Instruction Instruction, SourceSpan Span)>(triggers.Count + instructions.Count);
        foreach (var trigger in triggers) steps.Add((trigger, fromSpan));
        foreach (var instruction in instructions) steps.Add((instruction, instruction.Span));
        int lastRun = -1;
        for (int i = 0; i < steps.Count; i++)
            if (steps[i].Instruction is RunInstruction) lastRun = i;
        for (int i = 0; i < steps.Count; i++)
        {
            bool runFollows = i < lastRun;
            await _executor.DispatchAsync(new StepContext(_services, state, index, steps[i].Span, runFollows), steps[i].Instruction, cancellationToken).ConfigureAwait(false);
        }
        return state;
    }

    /// <summary>
    /// When the stage's base layers are not in the store yet (a cold build), starts in the background what the stage
    /// would otherwise wait for in the middle of a step: the stage's file tree (which downloads the layers first) when a
    /// COPY, ADD or WORKDIR of the stage plans against it, else the download alone when the base layers go into the
    /// destination (<see cref="DockerfileBuildOptions.DestinationHoldsBase"/>, target stage). So the pull runs while
    /// the first steps hash the build context instead of inside the COPY's plan (issue 14 item 5). With every base
    /// layer stored (an unchanged build, an edit) nothing starts, so a cache hit costs nothing more; a cold store whose
    /// steps all hit (records imported by ContainerCacheFrom) builds a tree it does not use.
    /// </summary>
    private void PrefetchBase(int index, StageState state, CancellationToken cancellationToken)
    {
        if (_options.PlanOnly) return;
        var images = state.Layers.OfType<RegistryLayer>().Where(l => !_options.Store.Contains(l.Descriptor.Digest)).Select(l => l.Image).Distinct().ToList();
        if (images.Count == 0) return;
        Task started;
        if (Graph.Stages[index].Instructions.Any(i => i is CopyInstruction or AddInstruction or WorkdirInstruction))
        {
            Logger.Detail("  base layers: fetching them and reading the stage's tree in the background");
            started = state.GetTreeAsync(cancellationToken);
        }
        else if (_options.DestinationHoldsBase && index == Graph.Target(_options.Target))
        {
            Logger.Detail("  base layers: fetching them in the background");
            started = Task.WhenAll(images.Select(i => i.DownloadLayersAsync(cancellationToken)));
        }
        else
        {
            return;
        }
        // A failure is the step's to report when it needs the tree (the task is kept), or the output's when it reads the
        // layers (it downloads them again); here it is only observed.
        _ = started.ContinueWith(t => _ = t.Exception, CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>
    /// Starts resolving stage <paramref name="index"/>'s base image now, when FROM names an image for the target's
    /// platform (no <c>--platform</c>, no earlier stage, not <c>scratch</c>, no named context replacing the stage): the
    /// first request to a registry (a manifest HEAD, the HTTP client's start) then overlaps the rest of the build's
    /// start instead of following it (issue 14). FROM takes the same task (<see cref="ResolveImageAsync"/>) and reports
    /// its error; here a failure is only observed.
    /// </summary>
    private void ResolveBaseAhead(int index, CancellationToken cancellationToken)
    {
        if (DockerfileImageNames.BaseAhead(Graph, index, _options.NamedContexts) is not { } source) return;
        var span = Graph.Stages[index].From.Span;
        _ = Task.Run(() => ResolveImageAsync(source, TargetPlatform, span, cancellationToken), cancellationToken)
            .ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
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
        => _images.GetOrAdd(source + "\n" + platform, _ => new Lazy<Task<IImage>>([AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))] async Task<IImage> () =>
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

    /// <summary>A stage's start (FROM): one <c>[k/n]</c> line.</summary>
    public void Progress(int stageIndex, string text) => _executor.Progress(stageIndex, text);

    public void Dispose() => _services.Dispose();
}
