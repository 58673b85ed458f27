using System.Text;
using Livrable.Tests.Infrastructure;

namespace Livrable.Tests.Differential;

/// <summary>
/// One file of an unpacked root filesystem, as <c>lstat</c> sees it: type (<c>d f l c b p s</c>), permission bits with
/// setuid, setgid and sticky (octal), owner, link target, a regular file's size and the sha256 of its content, and its
/// hard-link group: for a file with several names in the tree, the first of them in path order (null for one name).
/// Times are not compared: the builders clamp them differently and the specs leave them free.
/// </summary>
public sealed record TreeEntry(string Path, char Type, string Mode, long Uid, long Gid, string? LinkTarget, string? Sha256, long Size = 0, string? HardLinkOf = null)
{
    public override string ToString()
        => $"{Path} {Type} {Mode} {Uid}:{Gid}" + (LinkTarget is null ? "" : " -> " + LinkTarget) + (Sha256 is null ? "" : $" {Size}B {Sha256[..12]}")
           + (HardLinkOf is null ? "" : " =" + HardLinkOf);
}

/// <summary>
/// The file tree of a root filesystem (the root itself left out), read by python3's <c>os.lstat</c> so the same
/// independent reader sees both builders' results. Compare two with <see cref="Differences"/>.
/// </summary>
public sealed class TreeSnapshot
{
    private const string Walker = """
        import hashlib, os, stat, sys
        root = sys.argv[1]
        kinds = {stat.S_IFDIR: 'd', stat.S_IFREG: 'f', stat.S_IFLNK: 'l', stat.S_IFCHR: 'c', stat.S_IFBLK: 'b', stat.S_IFIFO: 'p', stat.S_IFSOCK: 's'}
        out = []
        inodes = {}
        for dirpath, dirnames, filenames in os.walk(root):
            for name in filenames:
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), []).append('/' + os.path.relpath(full, root))
        first = {}
        for paths in inodes.values():
            if len(paths) > 1:
                for p in paths: first[p] = min(paths)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                kind = kinds[stat.S_IFMT(st.st_mode)]
                link = os.readlink(full) if kind == 'l' else ''
                digest = ''
                if kind == 'f':
                    with open(full, 'rb') as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                rel = '/' + os.path.relpath(full, root)
                size = str(st.st_size) if kind == 'f' else '0'
                out.append('\t'.join([rel, kind, '%04o' % stat.S_IMODE(st.st_mode), str(st.st_uid), str(st.st_gid), link, digest, size, first.get(rel, '')]))
        sys.stdout.write('\n'.join(sorted(out)))
        """;

    private TreeSnapshot(IReadOnlyDictionary<string, TreeEntry> entries) => Entries = entries;

    /// <summary>Every entry by absolute path (<c>/etc/passwd</c>).</summary>
    public IReadOnlyDictionary<string, TreeEntry> Entries { get; }

    /// <summary>The entry at <paramref name="path"/>, or null.</summary>
    public TreeEntry? this[string path] => Entries.GetValueOrDefault(path);

    /// <summary>Walks the folder <paramref name="rootFs"/>.</summary>
    public static async Task<TreeSnapshot> ReadAsync(string rootFs)
    {
        string listing = await Tools.PythonAsync(Walker, rootFs);
        var entries = new SortedDictionary<string, TreeEntry>(StringComparer.Ordinal);
        foreach (string line in listing.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split('\t');
            entries[f[0]] = new TreeEntry(f[0], f[1][0], f[2], long.Parse(f[3]), long.Parse(f[4]), f[5].Length == 0 ? null : f[5], f[6].Length == 0 ? null : f[6],
                long.Parse(f[7]), f[8].Length == 0 ? null : f[8]);
        }
        return new TreeSnapshot(entries);
    }

    /// <summary>The same tree with <paramref name="entry"/> put in place of the entry at its path (a known deviation of the peer).</summary>
    public TreeSnapshot With(TreeEntry entry)
        => new(new SortedDictionary<string, TreeEntry>(Entries.ToDictionary(), StringComparer.Ordinal) { [entry.Path] = entry });

    /// <summary>The same tree without the entries at or under <paramref name="paths"/>.</summary>
    public TreeSnapshot Without(params string[] paths)
        => new(new SortedDictionary<string, TreeEntry>(
            Entries.Where(e => !paths.Any(p => e.Key == p || e.Key.StartsWith(p + "/", StringComparison.Ordinal))).ToDictionary(), StringComparer.Ordinal));

    /// <summary>The subtree at or under <paramref name="path"/>.</summary>
    public IEnumerable<TreeEntry> Under(string path)
        => Entries.Values.Where(e => e.Path == path || e.Path.StartsWith(path + "/", StringComparison.Ordinal));

    /// <summary>One line per path that is missing on one side or differs, empty when the trees are the same.</summary>
    public static IReadOnlyList<string> Differences(TreeSnapshot expected, TreeSnapshot actual, string expectedName = "peer", string actualName = "livrable")
    {
        var lines = new List<string>();
        foreach (string path in expected.Entries.Keys.Union(actual.Entries.Keys).Order(StringComparer.Ordinal))
        {
            var e = expected[path];
            var a = actual[path];
            if (e == a) continue;
            lines.Add(e is null ? $"only {actualName}: {a}"
                : a is null ? $"only {expectedName}: {e}"
                : $"differs: {expectedName} {e} | {actualName} {a}");
        }
        return lines;
    }

    /// <summary>The whole listing, one entry a line.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var e in Entries.Values) text.AppendLine(e.ToString());
        return text.ToString();
    }
}
