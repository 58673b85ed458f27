using Livrable.Go;

namespace Livrable.Layers;

/// <summary>
/// Absolute, clean paths in an image (<c>/</c>, <c>/usr/bin</c>): no trailing '/', no <c>.</c> or empty segments.
/// <c>..</c> stops at the root, as it does in a container.
/// </summary>
internal static class ImagePath
{
    public const string Root = "/";

    /// <summary>The clean absolute form of <paramref name="path"/> (relative paths are taken from the root).</summary>
    public static string Clean(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return GoPath.Clean("/" + path);
    }

    /// <summary>The parent of a clean path (the root is its own parent).</summary>
    public static string Parent(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash <= 0 ? Root : path[..slash];
    }

    /// <summary>The last segment of a clean path ("" for the root).</summary>
    public static string Name(string path) => path[(path.LastIndexOf('/') + 1)..];

    /// <summary><paramref name="name"/> (one segment) in the clean directory <paramref name="directory"/>.</summary>
    public static string Join(string directory, string name) => directory == Root ? "/" + name : directory + "/" + name;

    /// <summary>Whether <paramref name="path"/> is <paramref name="directory"/> or below it.</summary>
    public static bool IsWithin(string path, string directory)
        => directory == Root || path == directory || (path.StartsWith(directory, StringComparison.Ordinal) && path[directory.Length] == '/');

    /// <summary>The segments of a path, without empty ones and <c>.</c> (<c>..</c> kept).</summary>
    public static List<string> Segments(string path)
        => path.Split('/').Where(s => s is not ("" or ".")).ToList();
}
