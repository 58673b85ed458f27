using Livrable.Build.Cache;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// What a stage has become so far: its config (with history and diff ids), its layers (the base's first), its build
/// environment (base ENV, then ENV and ARG values in order, the later winning: BuildKit's state env), and its file
/// tree. The tree is loaded only when a step needs it (COPY, ADD, WORKDIR, or a later <c>COPY --from</c>), so a stage
/// that only changes metadata never reads its base's layers. A stage is changed by its own task only; once built, it
/// is read by the stages that use it. A layer reused from the step cache has no entries at hand: it joins the tree
/// only when the tree is needed, read from its blob like a base layer.
/// </summary>
internal sealed class StageState
{
    private readonly object _gate = new();
    private readonly IReadOnlyList<ILayer> _treeBase;
    private readonly List<Pending> _pending;
    private readonly List<StepOutput> _outputs = [];
    private Task<FileTree>? _tree;
    private readonly LayerEntryIndex? _entryIndex;
    // Whether a layer this build planned is in the tree (its entries, not its record): then the tree is no chain's.
    private bool _planned;
    // The snapshot of the stage's layers as they are now, while the tree is not loaded; null when none was opened.
    private TreeSnapshot? _snapshot;

    private StageState(Platform platform, ImageConfig config, List<ILayer> layers, Dictionary<string, string> environment,
        IReadOnlyList<ILayer> treeBase, List<Pending> pending, Task<FileTree>? tree, string cacheKey, LayerEntryIndex? entryIndex, bool planned)
    {
        _entryIndex = entryIndex;
        _planned = planned;
        Platform = platform;
        Config = config;
        Layers = layers;
        Environment = environment;
        _treeBase = treeBase;
        _pending = pending;
        _tree = tree;
        CacheKey = cacheKey;
    }

    /// <summary>A change to the tree not loaded yet: a layer's entries as the step planned them, or a cached layer.</summary>
    private sealed record Pending(IReadOnlyList<FileEntry>? Entries, ILayer? Layer);

    /// <summary>
    /// A stage starting from an image (its config is cloned; <c>created</c> is reset as BuildKit does). Its tree reads
    /// layers' entries from <paramref name="entryIndex"/> when it holds them (the state folder's <c>cache/trees/</c>).
    /// </summary>
    public static StageState FromImage(IImage image, Platform platform, LayerEntryIndex? entryIndex = null)
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
        return new StageState(platform, config, [.. image.Layers], environment, image.Layers, [], null, StepKey.OfImage(image.Digest, platform), entryIndex, planned: false);
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

    /// <summary>
    /// The step cache key of the stage's file system so far (docs/build-cache.md): the base image's, then each step's
    /// in turn. Metadata steps leave it as it is; the config fields that change what a step does are in that step's key.
    /// </summary>
    public string CacheKey { get; set; }

    /// <summary>What the stage's steps added (history entries, with their layers), in order; a base image's are not included.</summary>
    public IReadOnlyList<StepOutput> Outputs
    {
        get { lock (_gate) return [.. _outputs]; }
    }

    /// <summary>
    /// In a plan: the step after which the stage's key is known only by running (an ADD of a URL, or a step after
    /// one); null when the key is known. A build never sets it (it runs the step and chains from its output).
    /// </summary>
    public string? UnknownAfter { get; set; }

    /// <summary>Whether a CMD was set in this stage (ENTRYPOINT then keeps it).</summary>
    public bool CmdSet { get; set; }

    /// <summary>A copy for a stage built FROM this one: config, layers, environment and tree; CMD not yet set.</summary>
    public StageState CloneForChild()
    {
        lock (_gate)
        {
            return new StageState(Platform, Config.Clone(), [.. Layers], new Dictionary<string, string>(Environment, StringComparer.Ordinal),
                _treeBase, [.. _pending], _tree, CacheKey, _entryIndex, _planned) { DeclaredArgs = [.. DeclaredArgs], UnknownAfter = UnknownAfter };
        }
    }

    /// <summary>The merged file tree of the stage as it is now (loaded once, on first use).</summary>
    public Task<FileTree> GetTreeAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return _tree ??= LoadAsync(_treeBase, [.. _pending], _entryIndex, cancellationToken);
        }
    }

    /// <summary>
    /// What a step plans against (<see cref="ITreeLookup"/>): the loaded tree when there is one; else, when every layer
    /// of the stage is an image's or the step cache's (an edit after a cold build: the COPY over a cached
    /// <c>RUN apt-get</c>), the <see cref="TreeSnapshot"/> of those layers when one was recorded, so that the step looks
    /// up the paths it touches instead of loading every entry; else the tree, loaded, and its snapshot recorded for the
    /// next build (from that tree when it holds only those layers' entries, else on the pool from their entry indexes).
    /// </summary>
    public async Task<ITreeLookup> GetLookupAsync(CancellationToken cancellationToken)
    {
        Task<FileTree> tree;
        List<ILayer> chain;
        bool planned;
        lock (_gate)
        {
            if (_tree is null && _snapshot is not null) return _snapshot;
            chain = [.. Layers];
            planned = _planned;
            if (_tree is null && !planned && _entryIndex?.Snapshots.TryOpen(chain) is { } snapshot) return _snapshot = snapshot;
            tree = _tree ??= LoadAsync(_treeBase, [.. _pending], _entryIndex, cancellationToken);
        }
        var loaded = await tree.ConfigureAwait(false);
        _entryIndex?.Snapshots.Record(chain, planned ? null : loaded);
        return loaded;
    }

    /// <summary>Adds a layer the stage made: to the image (diff id and history), to the layers, and to the tree.</summary>
    public void AddLayer(ILayer layer, IReadOnlyList<FileEntry> entries, HistoryEntry history)
    {
        Config.AddLayer(layer.DiffId, history);
        Layers.Add(layer);
        lock (_gate)
        {
            _planned = true;
            _snapshot = null;
            _outputs.Add(new StepOutput(layer.Descriptor, layer.DiffId, history with { EmptyLayer = false }));
            if (_tree is null) _pending.Add(new Pending(entries, null));
            else _tree = Then(_tree, entries);
        }
    }

    /// <summary>
    /// Adds a layer reused from the step cache: to the image and the layers; the tree reads it from its blob when it
    /// is needed (at once when the tree is already loaded, in the background of the next step that asks for it).
    /// </summary>
    public void AddCachedLayer(ILayer layer, HistoryEntry history, CancellationToken cancellationToken)
    {
        Config.AddLayer(layer.DiffId, history);
        Layers.Add(layer);
        lock (_gate)
        {
            _snapshot = null;
            _outputs.Add(new StepOutput(layer.Descriptor, layer.DiffId, history with { EmptyLayer = false }));
            if (_tree is null) _pending.Add(new Pending(null, layer));
            else _tree = Then(_tree, layer, _entryIndex, cancellationToken);
        }
    }

    /// <summary>Adds a history entry for a step that made no layer.</summary>
    public void AddHistory(HistoryEntry history)
    {
        Config.AddHistory(history);
        lock (_gate) _outputs.Add(new StepOutput(null, null, history));
    }

    private static async Task<FileTree> LoadAsync(IReadOnlyList<ILayer> layers, IReadOnlyList<Pending> pending, LayerEntryIndex? index,
        CancellationToken cancellationToken)
    {
        var tree = layers.Count == 0 ? FileTree.Empty : await FileTree.LoadAsync(layers, Decompression.DefaultMaxBytes, index, cancellationToken).ConfigureAwait(false);
        foreach (var change in pending)
            tree = change.Layer is { } layer ? await tree.WithLayerAsync(layer, index, cancellationToken).ConfigureAwait(false) : tree.With(change.Entries!);
        return tree;
    }

    private static async Task<FileTree> Then(Task<FileTree> tree, IReadOnlyList<FileEntry> entries)
        => (await tree.ConfigureAwait(false)).With(entries);

    private static async Task<FileTree> Then(Task<FileTree> tree, ILayer layer, LayerEntryIndex? index, CancellationToken cancellationToken)
        => await (await tree.ConfigureAwait(false)).WithLayerAsync(layer, index, cancellationToken).ConfigureAwait(false);
}

/// <summary>
/// A step's view of the build: the stage, where the instruction is, and the services steps share (never the session);
/// <paramref name="RunFollows"/>: a later instruction of the stage is a RUN (the layer this step writes becomes its lower folder).
/// </summary>
internal sealed record StepContext(IStepServices Services, StageState State, int StageIndex, SourceSpan Span, bool RunFollows = false);
