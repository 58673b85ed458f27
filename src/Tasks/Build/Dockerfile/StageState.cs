using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Images;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// What a stage has become so far: its config (with history and diff ids), its layers (the base's first), its build
/// environment (base ENV, then ENV and ARG values in order, the later winning: BuildKit's state env), and its file
/// tree. The tree is loaded only when a step needs it (COPY, ADD, WORKDIR, or a later <c>COPY --from</c>), so a stage
/// that only changes metadata never reads its base's layers. A stage is changed by its own task only; once built, it
/// is read by the stages that use it.
/// </summary>
internal sealed class StageState
{
    private readonly object _gate = new();
    private readonly IReadOnlyList<ILayer> _treeBase;
    private readonly List<IReadOnlyList<FileEntry>> _pending;
    private Task<FileTree>? _tree;

    private StageState(Platform platform, ImageConfig config, List<ILayer> layers, Dictionary<string, string> environment,
        IReadOnlyList<ILayer> treeBase, List<IReadOnlyList<FileEntry>> pending, Task<FileTree>? tree)
    {
        Platform = platform;
        Config = config;
        Layers = layers;
        Environment = environment;
        _treeBase = treeBase;
        _pending = pending;
        _tree = tree;
    }

    /// <summary>A stage starting from an image (its config is cloned; <c>created</c> is reset as BuildKit does).</summary>
    public static StageState FromImage(IImage image, Platform platform)
    {
        var config = image.Config.Clone();
        config.Created = null;
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in config.Env)
        {
            int eq = line.IndexOf('=');
            if (eq < 0) environment[line] = "";
            else environment[line[..eq]] = line[(eq + 1)..];
        }
        return new StageState(platform, config, [.. image.Layers], environment, image.Layers, [], null);
    }

    /// <summary>The stage's platform (FROM <c>--platform</c>, else the target's).</summary>
    public Platform Platform { get; }

    public ImageConfig Config { get; }

    /// <summary>Every layer of the stage's image, base first.</summary>
    public List<ILayer> Layers { get; }

    /// <summary>The build environment variables expand with.</summary>
    public Dictionary<string, string> Environment { get; }

    /// <summary>
    /// The ARG names the stage declared, in order (a child stage starts with its base stage's): RUN's history lists
    /// them with their values (BuildKit's <c>d.buildArgs</c>).
    /// </summary>
    public List<string> DeclaredArgs { get; private init; } = [];

    /// <summary>Whether a CMD was set in this stage (ENTRYPOINT then keeps it).</summary>
    public bool CmdSet { get; set; }

    /// <summary>A copy for a stage built FROM this one: config, layers, environment and tree; CMD not yet set.</summary>
    public StageState CloneForChild()
    {
        lock (_gate)
        {
            return new StageState(Platform, Config.Clone(), [.. Layers], new Dictionary<string, string>(Environment, StringComparer.Ordinal),
                _treeBase, [.. _pending], _tree) { DeclaredArgs = [.. DeclaredArgs] };
        }
    }

    /// <summary>The merged file tree of the stage as it is now (loaded once, on first use).</summary>
    public Task<FileTree> GetTreeAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return _tree ??= LoadAsync(_treeBase, [.. _pending], cancellationToken);
        }
    }

    /// <summary>Adds a layer the stage made: to the image (diff id and history), to the layers, and to the tree.</summary>
    public void AddLayer(ILayer layer, IReadOnlyList<FileEntry> entries, HistoryEntry history)
    {
        Config.AddLayer(layer.DiffId, history);
        Layers.Add(layer);
        lock (_gate)
        {
            if (_tree is null) _pending.Add(entries);
            else _tree = Then(_tree, entries);
        }
    }

    private static async Task<FileTree> LoadAsync(IReadOnlyList<ILayer> layers, IReadOnlyList<IReadOnlyList<FileEntry>> pending, CancellationToken cancellationToken)
    {
        var tree = layers.Count == 0 ? FileTree.Empty : await FileTree.LoadAsync(layers, cancellationToken).ConfigureAwait(false);
        foreach (var entries in pending) tree = tree.With(entries);
        return tree;
    }

    private static async Task<FileTree> Then(Task<FileTree> tree, IReadOnlyList<FileEntry> entries)
        => (await tree.ConfigureAwait(false)).With(entries);
}

/// <summary>A step's view of the build: the stage, where the instruction is, and the shared services.</summary>
internal sealed record StepContext(DockerfileBuildSession Session, StageState State, int StageIndex, SourceSpan Span);
