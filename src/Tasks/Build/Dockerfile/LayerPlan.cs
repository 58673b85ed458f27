using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Layers;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// The entries of one layer a step writes, planned against the stage's file tree: destinations resolved through the
/// tree's symlinks (so <c>COPY x /lib/</c> lands in <c>/usr/lib</c> on a merged-/usr base, as a copy in a real root
/// does), missing folders created, and the existing folders above every entry written with their current owner and
/// mode, as an overlay diff shows them, so that a layer never changes a folder it only passes through.
/// </summary>
internal sealed class LayerPlan(ITreeLookup tree, SourceSpan span)
{
    private readonly Dictionary<string, FileEntry> _entries = new(StringComparer.Ordinal);

    public ITreeLookup Tree => tree;

    /// <summary>
    /// <paramref name="path"/> with every component that is a symlink in the tree (and not replaced in this layer)
    /// replaced by what it points to, resolved inside the root as BuildKit's <c>fs.RootPath</c> does: the last component
    /// too, a link to nothing giving the path it names; components that do not exist are kept.
    /// </summary>
    public string RealPath(string path)
    {
        string current = "/";
        foreach (string part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = PathRules.Join(current, part);
            if (!_entries.ContainsKey(candidate) && tree.Get(candidate) is { Type: TarTypeFlag.SymbolicLink })
                current = tree.RealPath(candidate);
            else
                current = candidate;
        }
        return current;
    }

    /// <summary>Whether <paramref name="path"/> is a folder, in this layer or (through symlinks) in the tree.</summary>
    public bool IsDirectory(string path)
    {
        if (_entries.TryGetValue(path, out var planned)) return planned.Type == TarTypeFlag.Directory;
        return tree.Resolve(path) is { Type: TarTypeFlag.Directory };
    }

    /// <summary>
    /// Makes sure <paramref name="path"/> (a real path) and its parents are folders: missing ones are added with
    /// <paramref name="mode"/> and the owner given; an existing non-folder on the way is LIV1112.
    /// </summary>
    public void EnsureDirectory(string path, int mode, long uid, long gid)
    {
        string current = "/";
        foreach (string part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            current = PathRules.Join(current, part);
            if (_entries.TryGetValue(current, out var planned))
            {
                if (planned.Type != TarTypeFlag.Directory) throw NotADirectory(current);
                continue;
            }
            var existing = tree.Resolve(current);
            if (existing is null)
                _entries[current] = new FileEntry(current, TarTypeFlag.Directory, mode, uid, gid);
            else if (existing.Type != TarTypeFlag.Directory)
                throw NotADirectory(current);
        }
    }

    /// <summary>Adds (or replaces) the entry at its path (a file with several names is written as hard link entries).</summary>
    public void Add(FileEntry entry) => _entries[entry.Path] = entry.HardLinks is null ? entry : entry with { HardLinks = null };

    /// <summary>
    /// Checks that a folder's copy can put <paramref name="path"/> (below the real destination folder
    /// <paramref name="root"/>) where it goes, as fsutil's copy does: each folder on the way, and the entry itself when
    /// it is a folder, must not be something else in the image (a file, or a symbolic link such as <c>/bin -> usr/bin</c>
    /// of a merged-/usr base). BuildKit fails there ("cannot copy to non-directory"), and so does this (LIV1112): a
    /// folder never replaces an entry of the image, which would lose what the link pointed to.
    /// </summary>
    public void CheckCopyTarget(string root, string path, bool isDirectory)
    {
        if (!path.StartsWith(root == "/" ? "/" : root + "/", StringComparison.Ordinal)) return;
        string current = root;
        var parts = path[root.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < parts.Length; i++)
        {
            current = PathRules.Join(current, parts[i]);
            if (i == parts.Length - 1 && !isDirectory) break;
            if (_entries.TryGetValue(current, out var planned))
            {
                if (planned.Type != TarTypeFlag.Directory) throw NotADirectory(current);
                continue;
            }
            if (tree.Get(current) is { } existing && existing.Type != TarTypeFlag.Directory) throw NotADirectory(current);
        }
    }

    /// <summary>
    /// The layer's entries: those added, plus every folder above them that the layer does not hold: the tree's entry
    /// when there is one (its owner and mode kept), else 0755 0:0.
    /// </summary>
    public IReadOnlyList<FileEntry> Entries()
    {
        var all = new Dictionary<string, FileEntry>(_entries, StringComparer.Ordinal);
        foreach (string path in _entries.Keys)
        {
            for (string parent = ImagePath.Parent(path); parent != "/"; parent = ImagePath.Parent(parent))
            {
                if (all.ContainsKey(parent)) continue;
                var existing = tree.Get(parent);
                all[parent] = existing is { Type: TarTypeFlag.Directory }
                    ? existing with { Path = parent, Open = null }
                    : new FileEntry(parent, TarTypeFlag.Directory, 0b111_101_101, 0, 0);
            }
        }
        return all.Values.OrderBy(e => e.Path, StringComparer.Ordinal).ToList();
    }

    private LivrableException NotADirectory(string path)
        => new(DiagnosticCodes.NotADirectory, $"cannot copy to non-directory: {path} (it exists in the image and is not a folder; a COPY never replaces it)", span);
}
