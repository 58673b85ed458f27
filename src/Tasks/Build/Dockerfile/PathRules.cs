namespace Livrable.Build.Dockerfile;

/// <summary>
/// The path arithmetic of the Dockerfile build, on image paths (always <c>/</c>-separated, Linux targets): Go's
/// <c>path.Clean</c>, WORKDIR joining (<c>system.NormalizeWorkdir</c>), COPY destinations relative to the working
/// directory (<c>pathRelativeToWorkingDir</c>), source clamping (<c>system.NormalizePath("/", src)</c>) and Go's
/// <c>filepath.Match</c> for wildcards in sources read from a stage or an image.
/// </summary>
internal static class PathRules
{
    /// <summary>Go's <c>path.Clean</c> of an absolute path: <c>/a/./b/../c/</c> is <c>/a/c</c>; <c>..</c> above the root stays at the root.</summary>
    public static string CleanAbsolute(string path)
    {
        var parts = new List<string>();
        foreach (string part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                if (parts.Count > 0) parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

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

    /// <summary>The parent of an absolute clean path (<c>/</c> for <c>/a</c> and for <c>/</c>).</summary>
    public static string Parent(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }

    /// <summary>The last component of a clean path.</summary>
    public static string Name(string path) => path[(path.LastIndexOf('/') + 1)..];

    /// <summary><c>directory/name</c> for an absolute directory (the root has no trailing slash to double).</summary>
    public static string Join(string directory, string relative)
        => CleanAbsolute(directory.TrimEnd('/') + "/" + relative);

    /// <summary>Whether a path holds a wildcard of Go's <c>filepath.Match</c> (<c>*</c>, <c>?</c>, <c>[</c>; <c>\</c> escapes).</summary>
    public static bool ContainsWildcards(string path)
    {
        for (int i = 0; i < path.Length; i++)
        {
            if (path[i] is '*' or '?' or '[') return true;
            if (path[i] == '\\') i++;
        }
        return false;
    }

    /// <summary>
    /// Go's <c>filepath.Match</c> on one path segment: <c>*</c> any run of characters, <c>?</c> one, <c>[a-z]</c> and
    /// <c>[^a-z]</c> classes, <c>\</c> escapes. A malformed pattern matches nothing.
    /// </summary>
    public static bool Match(string pattern, string name) => MatchAt(pattern, 0, name, 0);

    private static bool MatchAt(string p, int pi, string s, int si)
    {
        while (pi < p.Length)
        {
            char c = p[pi];
            if (c == '*')
            {
                while (pi < p.Length && p[pi] == '*') pi++;
                if (pi == p.Length) return true;
                for (int k = si; k <= s.Length; k++)
                    if (MatchAt(p, pi, s, k)) return true;
                return false;
            }
            if (si >= s.Length) return false;
            if (c == '?')
            {
                pi++;
                si++;
                continue;
            }
            if (c == '[')
            {
                int end = ClassEnd(p, pi);
                if (end < 0 || !ClassMatches(p, pi + 1, end, s[si])) return false;
                pi = end + 1;
                si++;
                continue;
            }
            if (c == '\\')
            {
                pi++;
                if (pi >= p.Length) return false;
                c = p[pi];
            }
            if (c != s[si]) return false;
            pi++;
            si++;
        }
        return si == s.Length;
    }

    // The index of the ']' that closes the class opened at p[start], or -1.
    private static int ClassEnd(string p, int start)
    {
        int i = start + 1;
        if (i < p.Length && p[i] == '^') i++;
        bool first = true;
        for (; i < p.Length; i++)
        {
            if (p[i] == '\\') i++;
            else if (p[i] == ']' && !first) return i;
            first = false;
        }
        return -1;
    }

    private static bool ClassMatches(string p, int from, int end, char c)
    {
        bool negate = from < end && p[from] == '^';
        if (negate) from++;
        bool matched = false;
        for (int i = from; i < end; i++)
        {
            char lo = p[i] == '\\' && i + 1 < end ? p[++i] : p[i];
            char hi = lo;
            if (i + 2 < end && p[i + 1] == '-')
            {
                i += 2;
                hi = p[i] == '\\' && i + 1 < end ? p[++i] : p[i];
            }
            if (lo <= c && c <= hi) matched = true;
        }
        return matched != negate;
    }
}
