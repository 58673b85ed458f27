using System.Collections.Concurrent;
using Livrable.Build.Cache;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Filesystem;
using Livrable.Layers;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// Runs the steps of a Dockerfile build (docs/build-cache.md): each instruction becomes its <see cref="IBuildStep"/>,
/// is prepared and keyed, answered by the step cache when it holds the key, and run otherwise
/// (in a slot of the build's <see cref="WorkLimiter"/>, the one place where a missed step's work runs). Each step's <see cref="StepOutcome"/>
/// is recorded for the <c>[k/n]</c> progress and the plan. In a plan (<see cref="DockerfileBuildOptions.PlanOnly"/>)
/// nothing runs and nothing is written: a miss is <see cref="StepOutcome.WouldRun"/>, and a step whose key needs an
/// earlier step's output is <see cref="StepOutcome.KnownAfterRunning"/>.
/// </summary>
internal sealed class StepExecutor(DockerfileBuildOptions options, StepServices services, StageGraph graph)
{
    private readonly StepCache _cache = new(options.Store);

    /// <summary>Whether the step cache held no record when the build started (read once, at the first step).</summary>
    private readonly Lazy<bool> _emptyAtStart = new(() => new StepCache(options.Store).IsEmpty());

    /// <summary>The keys of steps this build ran (missed): no record can follow from them, so their next steps miss too.</summary>
    private readonly ConcurrentDictionary<string, bool> _ran = new(StringComparer.Ordinal);

    /// <summary>How many records this build wrote: with an empty cache at the start, more records than these are another build's.</summary>
    private int _puts;
    private readonly ConcurrentDictionary<string, StepRecord> _records = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, List<PlannedStep>> _steps = new();
    private int _step;
    private int _total;

    /// <summary>Whether progress lines name the stage (a build of several stages).</summary>
    public bool MultiStage { get; set; }

    /// <summary>The step cache records this build used or made, by key: what <c>ContainerCacheTo</c> exports.</summary>
    public IReadOnlyCollection<StepRecord> Records => _records.Values.ToList();

    /// <summary>The number of the last step announced.</summary>
    public int Step => Volatile.Read(ref _step);

    /// <summary>The steps counted in <c>[k/n]</c>.</summary>
    public int Total => Volatile.Read(ref _total);

    /// <summary>Counts <paramref name="steps"/> more steps (the stages', then ONBUILD triggers found on the way).</summary>
    public void AddSteps(int steps) => Interlocked.Add(ref _total, steps);

    /// <summary>The steps of the given stages, each stage's in order.</summary>
    public IReadOnlyList<PlannedStep> Steps(IEnumerable<int> stages)
        => stages.SelectMany(s => _steps.TryGetValue(s, out var list) ? list : []).ToList();

    /// <summary>A stage's start (FROM): one <c>[k/n]</c> line, recorded as applied.</summary>
    public void Progress(int stageIndex, string text)
    {
        int k = Interlocked.Increment(ref _step);
        Record(stageIndex, text, null, StepOutcome.Applied);
        LogProgress(k, stageIndex, text, StepOutcome.Applied);
    }

    /// <summary>
    /// Runs one instruction. What goes wrong in its work (an ADD URL that cannot be fetched, a path outside the image,
    /// a full disk) is reported at the instruction, <c>Dockerfile(line,col)</c>, as BuildKit does, not at the task in
    /// the targets; an error that already points somewhere keeps its place.
    /// </summary>
    public async Task DispatchAsync(StepContext step, Instruction instruction, CancellationToken cancellationToken)
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
                $"The disk is full ({e.Message}). Free space in the state folder '{options.Store.Root}' (ContainerStateDirectory), then build again.",
                step.Span, e);
        }
    }

    private static IBuildStep Create(StepContext step, Instruction instruction, int number) => instruction switch
    {
        RunInstruction run => new RunStep(step, run, number),
        WorkdirInstruction workdir => new WorkdirStep(step, workdir),
        CopyInstruction copy => new CopyStep(step, copy),
        AddInstruction add => new AddStep(step, add),
        _ => new MetadataStep(step, instruction),
    };

    /// <summary>
    /// A step's key is the stage's key, the instruction, the config fields that change what a step does, and what the
    /// step adds (its expanded values and input digests). A hit applies the recorded layer and history entry
    /// (<c>[k/n] CACHED ...</c>); a miss runs the step and records what it added, after its layer is in the store.
    /// Either way the stage's key becomes the step's.
    /// </summary>
    private async Task DispatchCoreAsync(StepContext context, Instruction instruction, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int number = Interlocked.Increment(ref _step);
        string text = FirstLine(instruction.Text);
        var state = context.State;
        var step = Create(context, instruction, number);
        StepOutcome? announced = null;
        try
        {
            string parent = state.CacheKey;
            string? key;
            StepKeying keying;
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            var cpu = Units.Cpu();
            // No record can match a step whose parent this build ran, or any step when the cache was empty at the start
            // (or ContainerNoCache): its key may then wait for the step's output (a COPY hashes the context files as it
            // writes them into the layer, one read instead of two), as a lookup before running could only miss.
            bool certainMiss = !options.PlanOnly && (options.NoCache || _ran.ContainsKey(parent) || _emptyAtStart.Value);
            using var builder = new StepKey(parent) { MayDefer = certainMiss };
            builder.Add("instruction", instruction.Text)
                .Add("platform", state.Platform.ToString())
                .Add("epoch", options.Epoch.ToUnixTimeSeconds())
                .Add("env", state.Environment.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + p.Value))
                .Add("user", state.Config.User)
                .Add("workdir", state.Config.WorkingDir)
                .Add("shell", state.Config.Shell ?? []);
            keying = await step.PrepareAsync(builder, cancellationToken).ConfigureAwait(false);
            using var deferred = keying == StepKeying.Keyed && builder.Deferred
                ? await options.Work.EnterAsync("deferred " + builder.DeferredFrom, cancellationToken).ConfigureAwait(false)
                : null;
            // Still nothing can match once this step's turn came: another build (another platform's same step, which
            // ran first under the same turn) may have recorded it meanwhile, and then the key is finished now and looked up.
            if (deferred is not null && (options.NoCache || _ran.ContainsKey(parent) || _emptyAtStart.Value && _cache.Count() <= Volatile.Read(ref _puts)))
            {
                services.Logger.Detail("  step key: after the layer write (no step cache record can match this step)");
                if (step is FileStep) services.Logger.Detail($"  context hashing: in the layer write's pass ({Units.CpuSince(cpu)}) {Units.Since(started)}");
                announced = Announce(number, context.StageIndex, text, null, StepOutcome.Ran);
                BeforeRun(context);
                await RunKeyedAfterAsync(state, step, number, builder, cancellationToken).ConfigureAwait(false);
                return;
            }
            key = keying == StepKeying.Keyed ? builder.Finish() : null;
            // One step key runs once at a time (two platforms' identical steps): the second then finds the first's record.
            using var once = key is null || options.PlanOnly ? null : await options.Work.EnterAsync(key, cancellationToken).ConfigureAwait(false);
            if (keying == StepKeying.NotCached)
            {
                announced = Announce(number, context.StageIndex, text, null, StepOutcome.Applied);
                await step.RunAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            services.Logger.Detail($"  step key {key?[..12] ?? "(none: inputs known only by running)"} in {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms"
                + (services.ContextFilesHashed is { } hashed ? $", {hashed} context files read so far" : ""));
            // For COPY and ADD the key is the context hashing: its time in the progress lines' form.
            if (step is FileStep) services.Logger.Detail($"  context hashing: the sources' digests ({Units.CpuSince(cpu)}) {Units.Since(started)}");
            if (options.PlanOnly && Unknown(state, key, text) is { } reason)
            {
                announced = Announce(number, context.StageIndex, text, null, StepOutcome.KnownAfterRunning, reason);
                return;
            }
            if (key is not null && !options.NoCache && _cache.TryGet(key, touch: !options.PlanOnly) is { } record)
            {
                _records[key] = record;
                announced = Announce(number, context.StageIndex, text, key, StepOutcome.Cached);
                foreach (var output in record.Outputs)
                {
                    if (output.Layer is { } layer)
                        state.AddCachedLayer(new StoredLayer(layer, output.DiffId!.Value, options.Store) { FromCache = true }, output.History, cancellationToken);
                    else
                        state.AddHistory(output.History);
                }
                state.CacheKey = key;
                return;
            }
            if (options.PlanOnly)
            {
                // Later keys chain from this one, known now: the plan goes on without the step's output.
                announced = Announce(number, context.StageIndex, text, key, StepOutcome.WouldRun);
                state.CacheKey = key!;
                return;
            }
            announced = Announce(number, context.StageIndex, text, key, StepOutcome.Ran);
            BeforeRun(context);
            int before = state.Outputs.Count;
            long running = System.Diagnostics.Stopwatch.GetTimestamp();
            await options.Work.RunAsync(() => step.RunAsync(cancellationToken), cancellationToken).ConfigureAwait(false);
            // BuildKit's DONE line: what the step took, so users and bench/ see where the time goes.
            services.Logger.Info($"[{number}/{Total}] DONE {Units.Since(running)}");
            var outputs = state.Outputs.Skip(before).ToList();
            if (key is not null)
            {
                var made = new StepRecord(key, outputs);
                _cache.Put(made);
                Interlocked.Increment(ref _puts);
                _records[key] = made;
                _ran[key] = true;
                state.CacheKey = key;
                return;
            }
            // Inputs not known beforehand: the chain continues from what the step made, so later steps still hit.
            using var chained = new StepKey(parent);
            chained.Add("instruction", instruction.Text);
            foreach (var output in outputs)
                chained.Add("output", $"{output.DiffId} {output.History.CreatedBy} {output.History.EmptyLayer}");
            state.CacheKey = chained.Finish();
            _ran[state.CacheKey] = true;
        }
        finally
        {
            if (announced is null) LogProgress(number, context.StageIndex, text, StepOutcome.Ran);
        }
    }

    /// <summary>
    /// Before a missed step of the target stage runs: <see cref="DockerfileBuildOptions.TargetLayersKnown"/> is told the
    /// stage's layers so far, which no later step changes (steps only add layers).
    /// </summary>
    private void BeforeRun(StepContext context)
    {
        if (options.TargetLayersKnown is { } known && !options.PlanOnly && context.StageIndex == graph.Target(options.Target))
            known([.. context.State.Layers]);
    }

    /// <summary>
    /// Runs a step whose key waits for its output (<see cref="StepKey.Deferred"/>: a COPY whose context files are hashed
    /// by its layer write), known to miss; then finishes the key from what the step read and records the output under
    /// it, the same key and record a build hashing the files first would make.
    /// </summary>
    private async Task RunKeyedAfterAsync(StageState state, IBuildStep step, int number, StepKey builder, CancellationToken cancellationToken)
    {
        int before = state.Outputs.Count;
        long running = System.Diagnostics.Stopwatch.GetTimestamp();
        await options.Work.RunAsync(() => step.RunAsync(cancellationToken), cancellationToken).ConfigureAwait(false);
        services.Logger.Info($"[{number}/{Total}] DONE {Units.Since(running)}");
        string key = builder.Finish();
        services.Logger.Detail($"  step key {key[..12]}" + (step is FileStep { FilesHashedInLayerWrite: { } hashed } ? $", {hashed} context files hashed by the layer write" : ""));
        var made = new StepRecord(key, state.Outputs.Skip(before).ToList());
        _cache.Put(made);
        Interlocked.Increment(ref _puts);
        _records[key] = made;
        _ran[key] = true;
        state.CacheKey = key;
    }

    /// <summary>
    /// In a plan, why the step's key is not known before running, or null when it is: an earlier step of the stage
    /// (or of a stage it reads) is known only by running, or this step's own inputs are (an ADD of a URL).
    /// </summary>
    private static string? Unknown(StageState state, string? key, string text)
    {
        if (state.UnknownAfter is { } after) return $"its key follows from what \"{after}\" makes";
        if (key is not null) return null;
        state.UnknownAfter = text;
        return "its inputs are known only by running it (an ADD of a URL, or a source that cannot be read)";
    }

    private StepOutcome Announce(int number, int stageIndex, string text, string? key, StepOutcome outcome, string? reason = null)
    {
        Record(stageIndex, text, key, outcome, reason);
        LogProgress(number, stageIndex, text, outcome);
        return outcome;
    }

    private void Record(int stageIndex, string text, string? key, StepOutcome outcome, string? reason = null)
    {
        var list = _steps.GetOrAdd(stageIndex, _ => []);
        lock (list) list.Add(new PlannedStep(stageIndex, StageName(stageIndex), text, key, outcome, reason));
    }

    /// <summary>
    /// The <c>[k/n]</c> line of step k: <c>CACHED</c> for a step the build cache answered, then the stage's name. A
    /// plan prints its own table (<see cref="DockerfilePlan"/>): its lines are detail.
    /// </summary>
    private void LogProgress(int k, int stageIndex, string text, StepOutcome outcome)
    {
        string stage = MultiStage ? StageName(stageIndex) + ": " : "";
        string line = $"[{k}/{Total}] {(outcome == StepOutcome.Cached ? "CACHED " : "")}{stage}{text}";
        if (options.PlanOnly) services.Logger.Detail(line);
        else services.Logger.Info(line);
    }

    private string StageName(int stageIndex) => graph.Stages[stageIndex].Name ?? $"stage-{stageIndex}";

    private static string FirstLine(string text)
    {
        int newline = text.IndexOf('\n');
        return (newline < 0 ? text : text[..newline]).Trim();
    }
}
