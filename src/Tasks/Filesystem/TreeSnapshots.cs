namespace Livrable.Filesystem;

/// <summary>
/// The <see cref="TreeSnapshot"/>s of one state folder, beside the layers' entry indexes (<c>cache/trees/</c>), as one
/// build uses them: opened for a step's lookups and closed with the build (<see cref="Dispose"/>); recorded on the pool,
/// so that the step which loaded a tree does not wait for the file, and awaited before the build ends
/// (<see cref="WhenRecordedAsync"/>). A failure to record costs the next build a tree load, nothing else.
/// </summary>
internal sealed class TreeSnapshots(LayerEntryIndex entries) : IDisposable
{
    private readonly object _gate = new();
    private readonly List<TreeSnapshot> _open = [];
    private readonly Dictionary<string, Task> _recording = new(StringComparer.Ordinal);

    private string PathOf(IReadOnlyList<Images.ILayer> chain) => Path.Combine(entries.Directory, TreeSnapshot.FileName(chain));

    /// <summary>The snapshot of <paramref name="chain"/>'s tree (base first) when one was recorded; null otherwise.</summary>
    public TreeSnapshot? TryOpen(IReadOnlyList<Images.ILayer> chain)
    {
        if (chain.Count == 0) return null;
        string path = PathOf(chain);
        if (!File.Exists(path)) return null; // the usual miss, without an exception
        var snapshot = TreeSnapshot.TryOpen(path, chain);
        if (snapshot is not null)
            lock (_gate) _open.Add(snapshot);
        return snapshot;
    }

    /// <summary>
    /// Records the tree of <paramref name="chain"/> unless it is recorded already: <paramref name="tree"/> when it is that
    /// tree as loaded from the layers (no step's planned entries in it), else a tree loaded on the pool from the layers'
    /// entry indexes when each layer has one (never from a blob: that read is the step's to make, when it needs it).
    /// </summary>
    public void Record(IReadOnlyList<Images.ILayer> chain, FileTree? tree)
    {
        if (chain.Count == 0) return;
        var layers = chain.ToList();
        string path = PathOf(layers);
        lock (_gate)
        {
            if (_recording.ContainsKey(path) || File.Exists(path)) return;
            _recording[path] = Task.Run(async () =>
            {
                try
                {
                    if (tree is null)
                    {
                        if (!layers.All(entries.Holds)) return;
                        tree = await FileTree.LoadAsync(layers, Decompression.DefaultMaxBytes, entries, CancellationToken.None).ConfigureAwait(false);
                    }
                    TreeSnapshot.TryWrite(path, layers, tree);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or Diagnostics.LivrableException)
                {
                    // Not recorded: the next build loads the tree, as before.
                }
            });
        }
    }

    /// <summary>Completes when every snapshot started has been written (or given up).</summary>
    public Task WhenRecordedAsync()
    {
        lock (_gate) return Task.WhenAll(_recording.Values.ToList());
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var snapshot in _open) snapshot.Dispose();
            _open.Clear();
        }
    }
}
