using Livrable.Diagnostics;
using Livrable.Go;

namespace Livrable.Context;

public sealed partial class BuildContext
{
    // Following symbolic links the way the kernel does (component by component, a relative target read from the link's
    // folder), with one rule added: from the context root, the walk may never leave it, whether by "..", by an
    // absolute target or through a chain of links. BuildKit instead resolves links as if the context were the file
    // system root (fs.RootPath); refusing is safer and says what is wrong.

    /// <summary>
    /// Resolves a clean relative path inside the root, following every link on the way and at the end. Null when
    /// something is missing, or a link on the way is excluded by the .dockerignore (it is not in the context).
    /// </summary>
    /// <exception cref="LivrableException">LIV1061 when the walk would leave the root; LIV1064 for a loop of links.</exception>
    private string? ResolveInside(string relative, string display, SourceSpan span)
    {
        var pending = new Stack<string>(Enumerable.Reverse(relative.Split('/')));
        string current = _root;
        int hops = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                if (current == _root) throw Escape(display, span);
                current = Path.GetDirectoryName(current)!;
                continue;
            }
            string next = Path.Join(current, part);
            string? target = ReadLink(next);
            if (target is null)
            {
                if (!File.Exists(next) && !Directory.Exists(next)) return null;
                current = next;
                continue;
            }
            if (++hops > MaxLinkHops)
                throw new LivrableException(DiagnosticCodes.ContextUnreadable,
                    $"{GoFormat.Quote(display)}: too many levels of symbolic links", span);
            if (Ignore.IsExcluded(RealRelative(next))) return null;
            if (Path.IsPathRooted(target))
            {
                string resolved = HostRealPath(target);
                if (!IsInside(resolved)) throw Escape(display, span);
                if (!File.Exists(resolved) && !Directory.Exists(resolved)) return null;
                current = resolved;
                continue;
            }
            foreach (string piece in Enumerable.Reverse(target.Split('/'))) pending.Push(piece);
        }
        return current;
    }

    /// <summary>
    /// The <see cref="Root"/> <see cref="Open"/> gives the folder <paramref name="root"/>, without opening it (no ignore
    /// file read): what keys its digest index, read ahead of the build (<c>Build/ImageBuildHeadStart</c>).
    /// </summary>
    internal static string RealRoot(string root) => HostRealPath(Path.GetFullPath(root));

    /// <summary>An absolute path with every link resolved (realpath), whether or not it exists.</summary>
    private static string HostRealPath(string absolute)
    {
        if (OperatingSystem.IsWindows()) return Path.TrimEndingDirectorySeparator(Path.GetFullPath(absolute));
        var pending = new Stack<string>(Enumerable.Reverse(absolute.Split('/')));
        string current = "/";
        int hops = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }
            string next = Path.Join(current, part);
            string? target = ReadLink(next);
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++hops > MaxLinkHops)
                throw new LivrableException(DiagnosticCodes.ContextUnreadable, $"'{absolute}': too many levels of symbolic links");
            if (target.StartsWith('/')) current = "/";
            foreach (string piece in Enumerable.Reverse(target.Split('/'))) pending.Push(piece);
        }
        return current;
    }

    /// <summary>A link's target as stored, or null when the path is not a link (or does not exist).</summary>
    private static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private bool IsInside(string path)
        => path == _root || _root == "/" || path.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>The slash-separated path of <paramref name="real"/> from the root; empty for the root.</summary>
    private string RealRelative(string real)
        => real == _root ? "" : Path.GetRelativePath(_root, real).Replace('\\', '/');

    private LivrableException Escape(string display, SourceSpan span)
        => new(DiagnosticCodes.ContextSymlinkEscape,
            $"{GoFormat.Quote(display)}: a symbolic link leads outside the build context '{_root}'", span);
}
