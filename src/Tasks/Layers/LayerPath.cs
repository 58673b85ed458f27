using Livrable.Diagnostics;

namespace Livrable.Layers;

/// <summary>
/// Paths inside a layer. The image side uses absolute paths (<c>/app/hello.dll</c>); the tar side uses the same path
/// relative to the root, with no <c>./</c> and no leading <c>/</c> (<c>app/hello.dll</c>), as the layer spec's examples
/// do, and a trailing <c>/</c> on directories.
/// </summary>
internal static class LayerPath
{
    /// <summary>
    /// The tar name of an absolute image path, cleaned (<c>//</c> and <c>.</c> dropped); "" for the root.
    /// Throws LIV4011 for a relative path or a <c>..</c> segment: a listed file must say exactly where it goes.
    /// </summary>
    public static string FromImagePath(string path, string what)
    {
        if (string.IsNullOrEmpty(path) || path[0] != '/')
            throw new LivrableException(DiagnosticCodes.InvalidLayerPath, $"{what} '{path}' is not an absolute path in the image (it must start with '/').");
        var segments = new List<string>();
        foreach (string segment in path.Split('/'))
        {
            if (segment is "" or ".") continue;
            if (segment == "..")
                throw new LivrableException(DiagnosticCodes.InvalidLayerPath, $"{what} '{path}' has a '..' segment; give the path in the image without it.");
            if (segment.Contains('\0'))
                throw new LivrableException(DiagnosticCodes.InvalidLayerPath, $"{what} '{path}' has a NUL character.");
            segments.Add(segment);
        }
        return string.Join('/', segments);
    }

    /// <summary>
    /// Cleans a name read from an archive as Go's <c>path.Clean</c> would, relative to the archive root
    /// (<c>./usr//bin/</c> becomes <c>usr/bin</c>, <c>a/../b</c> becomes <c>b</c>); false when it climbs above the root.
    /// </summary>
    public static bool TryCleanArchiveName(string name, out string cleaned)
    {
        var segments = new List<string>();
        foreach (string segment in name.Split('/'))
        {
            if (segment is "" or ".") continue;
            if (segment == "..")
            {
                if (segments.Count == 0)
                {
                    cleaned = "";
                    return false;
                }
                segments.RemoveAt(segments.Count - 1);
                continue;
            }
            segments.Add(segment);
        }
        cleaned = string.Join('/', segments);
        return true;
    }

    /// <summary><paramref name="relative"/> under <paramref name="root"/> (either may be "", the image root).</summary>
    public static string Join(string root, string relative)
        => root.Length == 0 ? relative : relative.Length == 0 ? root : root + "/" + relative;

    /// <summary>The tar name of a directory: its path with a trailing '/'.</summary>
    public static string DirectoryName(string path) => path + "/";

    /// <summary>Every proper ancestor of <paramref name="path"/>, outermost first (<c>a</c>, <c>a/b</c> for <c>a/b/c</c>).</summary>
    public static IEnumerable<string> Ancestors(string path)
    {
        for (int i = path.IndexOf('/'); i >= 0; i = path.IndexOf('/', i + 1))
            yield return path[..i];
    }
}
