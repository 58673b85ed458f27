using Livrable.Diagnostics;
using Livrable.Layers;

namespace Livrable.Runtime;

/// <summary>
/// Paths inside a root folder on the host (an extracted layer, a mounted root filesystem, the build context), with
/// symbolic links resolved as the container would see them: an absolute target starts again at the root and
/// <c>..</c> stops there (what <c>filepath-securejoin</c> does for runc). Nothing here ever leaves the root, so a
/// link such as <c>/lib -> /usr/lib</c> of the image never reaches the host's <c>/usr/lib</c>.
/// </summary>
internal static class ScopedPath
{
    private const int MaxLinks = 255;

    /// <summary>The components of an image path: empty and <c>.</c> dropped, absolute names read as relative.</summary>
    public static string[] Components(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToArray();

    /// <summary>
    /// <paramref name="path"/> (an image path) resolved inside <paramref name="root"/>: every symbolic link on the
    /// way followed within the root, missing components kept as they are. The result is a host path below (or equal
    /// to) the root.
    /// </summary>
    public static string Resolve(string root, string path)
    {
        var done = new List<string>();
        var pending = new Stack<string>(Enumerable.Reverse(Components(path)));
        int links = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == ".") continue;
            if (part == "..")
            {
                if (done.Count > 0) done.RemoveAt(done.Count - 1);
                continue;
            }
            string host = Path.Combine([root, .. done, part]);
            var status = UnixFileStatus.TryRead(host);
            if (status is { Kind: UnixFileKind.SymbolicLink })
            {
                if (++links > MaxLinks)
                    throw new LivrableException(DiagnosticCodes.SymlinkLoop, $"Resolving '{path}' met more than {MaxLinks} symbolic links.");
                string target = new FileInfo(host).LinkTarget ?? "";
                if (target.StartsWith('/')) done.Clear();
                foreach (string t in Enumerable.Reverse(Components(target))) pending.Push(t);
                continue;
            }
            done.Add(part);
        }
        return done.Count == 0 ? root : Path.Combine([root, .. done]);
    }

    /// <summary>Whether <paramref name="path"/> exists in <paramref name="root"/> (links resolved inside it).</summary>
    public static bool Exists(string root, string path) => UnixFileStatus.TryRead(Resolve(root, path)) is not null;

    /// <summary>
    /// Creates <paramref name="path"/> and its missing parents as folders (0755, root) inside <paramref name="root"/>,
    /// links resolved inside it; returns the host path. A component that exists and is not a folder is an error.
    /// </summary>
    public static string CreateDirectory(string root, string path, string code)
    {
        string current = "/";
        foreach (string part in Components(path))
        {
            current = current == "/" ? "/" + part : current + "/" + part;
            string host = Resolve(root, current);
            var status = UnixFileStatus.TryRead(host);
            if (status is null) Directory.CreateDirectory(host);
            else if (status.Value.Kind != UnixFileKind.Directory)
                throw new LivrableException(code, $"'{current}' exists in the image and is not a folder.");
        }
        return Resolve(root, path);
    }
}
