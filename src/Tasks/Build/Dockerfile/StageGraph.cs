using System.Globalization;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Images;

namespace Livrable.Build.Dockerfile;

/// <summary>Where <c>COPY --from</c> reads: an earlier stage, or an image (a named context or a reference).</summary>
internal readonly record struct CopySource(int? Stage, string? Image);

/// <summary>
/// The stages of a Dockerfile and how they depend on each other: a FROM that names an earlier stage (by its lowercased
/// name, as BuildKit's <c>dispatchStates.addState</c> looks it up), and <c>COPY --from</c> (a stage name, any case, or
/// an index; else an image), including the COPY triggers a base stage leaves with ONBUILD. Only the stages the target
/// needs are built; a circle is an error (BuildKit's <c>validateCircularDependency</c>).
/// </summary>
internal sealed class StageGraph
{
    private readonly Dictionary<string, int> _byName = new(StringComparer.Ordinal);
    private readonly List<HashSet<int>> _dependencies = [];

    private StageGraph(DockerfileDocument document, IReadOnlyList<string> baseNames)
    {
        Document = document;
        BaseNames = baseNames;
    }

    public DockerfileDocument Document { get; }

    public IReadOnlyList<Stage> Stages => Document.Stages;

    /// <summary>Each stage's FROM image, expanded with the meta arguments.</summary>
    public IReadOnlyList<string> BaseNames { get; }

    /// <summary>
    /// The build arguments and the stage graph of <paramref name="document"/> for one target platform, as a build and
    /// the up-to-date check (<see cref="DockerfileImageNames"/>) both read it: the target stage's name (the last stage's
    /// when <paramref name="target"/> is empty) for TARGETSTAGE, then the graph with FROM expanded by the meta arguments.
    /// LIV1100 (StageNotFound) for a Dockerfile without stages.
    /// </summary>
    public static (BuildArguments Arguments, StageGraph Graph) Prepare(DockerfileDocument document, IReadOnlyDictionary<string, string> buildArgs,
        string? target, Platform targetPlatform, Platform buildPlatform, IWordExpander expander)
    {
        if (document.Stages.Count == 0)
            throw new LivrableException(DiagnosticCodes.StageNotFound, "dockerfile contains no stages to build", new SourceSpan(document.Path, 1, 1));
        string? targetName = string.IsNullOrWhiteSpace(target) ? document.Stages[^1].Name : target.Trim().ToLowerInvariant();
        var arguments = BuildArguments.Create(document.GlobalArgs, buildArgs, targetPlatform, buildPlatform, targetName ?? "default", expander);
        return (arguments, Create(document, arguments.Meta, expander));
    }

    /// <summary>
    /// Builds the graph: FROM lines expanded with <paramref name="meta"/> (LIV1102 when blank), then every dependency;
    /// LIV1101 for a circle.
    /// </summary>
    public static StageGraph Create(DockerfileDocument document, IReadOnlyDictionary<string, string> meta, IWordExpander expander)
    {
        var baseNames = new List<string>();
        foreach (var stage in document.Stages)
        {
            string name = expander.Word(stage.From.Image, meta, stage.From.Span);
            if (name.Length == 0)
                throw new LivrableException(DiagnosticCodes.InvalidBaseImage, $"base name ({stage.From.Image}) should not be blank", stage.From.Span);
            baseNames.Add(name);
        }
        var graph = new StageGraph(document, baseNames);
        for (int i = 0; i < document.Stages.Count; i++)
        {
            var deps = new HashSet<int>();
            graph._dependencies.Add(deps);
            if (graph.BaseStage(i) is int b) deps.Add(b);
            if (document.Stages[i].Name is { } n) graph._byName[n.ToLowerInvariant()] = i;
        }
        for (int i = 0; i < document.Stages.Count; i++)
        {
            foreach (var copy in graph.CopiesOf(i))
                if (copy.From is { } from && graph.FindStage(from, copy.Span) is int s)
                    graph._dependencies[i].Add(s);
            // RUN --mount=from=<stage> reads that stage as COPY --from does.
            foreach (var run in document.Stages[i].Instructions.OfType<RunInstruction>())
                foreach (string mount in run.Mounts)
                    if (RunMountSpec.FromOf(mount) is { } from && graph.FindStage(from, run.Span) is int s)
                        graph._dependencies[i].Add(s);
        }
        graph.CheckCircles();
        return graph;
    }

    /// <summary>The earlier stage a stage's FROM names, if any (exact lowercase name, defined before it).</summary>
    public int? BaseStage(int index)
    {
        string name = BaseNames[index];
        for (int i = index - 1; i >= 0; i--)
            if (Stages[i].Name == name) return i;
        return null;
    }

    /// <summary>
    /// The stage to build: <paramref name="target"/> by name (any case), else the last one. LIV1100 when no stage has that name.
    /// </summary>
    public int Target(string? target)
    {
        if (string.IsNullOrWhiteSpace(target)) return Stages.Count - 1;
        if (_byName.TryGetValue(target.Trim().ToLowerInvariant(), out int index)) return index;
        string names = string.Join(", ", Stages.Where(s => s.Name is not null).Select(s => s.Name));
        throw new LivrableException(DiagnosticCodes.StageNotFound,
            $"target stage \"{target}\" could not be found{(names.Length > 0 ? $" (the stages are: {names})" : " (no stage has a name)")}.");
    }

    /// <summary>The stages <paramref name="target"/> needs, itself included, in Dockerfile order.</summary>
    public IReadOnlyList<int> Needed(int target)
    {
        // A flag per stage (indexes are few and dense, and index order is Dockerfile order), not a SortedSet<int> and a
        // Stack<int>, whose code no ReadyToRun image holds: compiled at run time in every build.
        var needed = new bool[Stages.Count];
        var pending = new List<int> { target };
        while (pending.Count > 0)
        {
            int s = pending[^1];
            pending.RemoveAt(pending.Count - 1);
            if (needed[s]) continue;
            needed[s] = true;
            foreach (int d in _dependencies[s]) pending.Add(d);
        }
        var inOrder = new List<int>();
        for (int s = 0; s < needed.Length; s++)
            if (needed[s]) inOrder.Add(s);
        return inOrder;
    }

    /// <summary>
    /// Resolves <c>COPY --from=<paramref name="from"/></c> in stage <paramref name="current"/>: a stage defined before it
    /// (LIV1104 otherwise), or an image. LIV1103 for a variable, LIV1100 for an index out of range.
    /// </summary>
    public CopySource ResolveCopySource(string from, int current, SourceSpan span)
    {
        if (FindStage(from, span) is int s)
        {
            if (s >= current)
                throw new LivrableException(DiagnosticCodes.StageOrder,
                    $"cannot copy from stage \"{from}\", it needs to be defined before current stage \"{Stages[current].Name ?? $"stage-{current}"}\"", span);
            return new CopySource(s, null);
        }
        return new CopySource(null, from);
    }

    /// <summary>The COPY instructions of a stage, and those of the ONBUILD triggers its base stage leaves.</summary>
    public IEnumerable<CopyInstruction> CopiesOf(int index)
    {
        foreach (var copy in Stages[index].Instructions.OfType<CopyInstruction>()) yield return copy;
        if (BaseStage(index) is int b)
        {
            foreach (var trigger in Stages[b].Instructions.OfType<OnbuildInstruction>())
                if (trigger.Parsed is CopyInstruction copy) yield return copy;
        }
    }

    private int? FindStage(string from, SourceSpan span)
    {
        if (from.Contains('$'))
            throw new LivrableException(DiagnosticCodes.StageReferenceVariable,
                "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround", span);
        if (int.TryParse(from, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int index))
        {
            if (index < 0 || index >= Stages.Count)
                throw new LivrableException(DiagnosticCodes.StageNotFound, $"invalid stage index {index}", span);
            return index;
        }
        return _byName.TryGetValue(from.ToLowerInvariant(), out int s) ? s : null;
    }

    private void CheckCircles()
    {
        // 0 unvisited, 1 on the current path, 2 done.
        var state = new int[Stages.Count];
        for (int i = 0; i < Stages.Count; i++) Visit(i);

        void Visit(int s)
        {
            if (state[s] == 2) return;
            if (state[s] == 1)
                throw new LivrableException(DiagnosticCodes.StageCycle,
                    $"circular dependency detected on stage: {Stages[s].Name ?? $"stage-{s}"}", Stages[s].From.Span);
            state[s] = 1;
            foreach (int d in _dependencies[s]) Visit(d);
            state[s] = 2;
        }
    }
}
