using Livrable.Go;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// The path arithmetic of the Dockerfile build, on image paths (always <c>/</c>-separated, Linux targets): Go's
/// <c>path.Clean</c>, WORKDIR joining (<c>system.NormalizeWorkdir</c>), COPY destinations relative to the working
/// directory (<c>pathRelativeToWorkingDir</c>) and source clamping (<c>system.NormalizePath("/", src)</c>). Go's own
/// rules (<c>path.Clean</c>, <c>filepath.Match</c>) are <see cref="GoPath"/>'s.
/// </summary>
internal static class PathRules
{
    /// <summary>Go's <c>path.Clean</c> of an absolute path: <c>/a/./b/../c/</c> is <c>/a/c</c>; <c>..</c> above the root stays at the root.</summary>
    public static string CleanAbsolute(string path) => GoPath.Clean("/" + path);

    /// <summary>
    /// The working directory after <c>WORKDIR path</c>: a relative path is joined to the current one
    /// (https://docs.docker.com/reference/dockerfile/#workdir), the result absolute and clean.
    /// </summary>
    public static string NormalizeWorkdir(string? current, string path)
    {
        if (path.StartsWith('/')) return CleanAbsolute(path);
        string baseDir = string.IsNullOrEmpty(current) ? "/" : current;
        return CleanAbsolute(baseDir + "/" + path);
    }

    /// <summary>
    /// Whether a COPY/ADD destination means "into this directory": empty, <c>.</c>, or ending in <c>/</c> or <c>/.</c>
    /// (BuildKit keeps the trailing slash through <c>pathRelativeToWorkingDir</c>).
    /// </summary>
    public static bool IsDirectoryDestination(string destination)
        => destination is "" or "." || destination.EndsWith('/') || destination.EndsWith("/.", StringComparison.Ordinal);

    /// <summary>A COPY/ADD destination as an absolute clean path: relative ones are against the working directory.</summary>
    public static string ResolveDestination(string destination, string? workingDirectory)
        => destination.StartsWith('/') ? CleanAbsolute(destination) : NormalizeWorkdir(workingDirectory, destination);

    /// <summary>A source path inside a stage or image: a leading <c>/</c> and <c>..</c> clamped to the root.</summary>
    public static string ClampSource(string source) => CleanAbsolute("/" + source);

    /// <summary><c>directory/name</c> for an absolute directory (the root has no trailing slash to double).</summary>
    public static string Join(string directory, string relative)
        => CleanAbsolute(directory.TrimEnd('/') + "/" + relative);
}
