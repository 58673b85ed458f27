using System.Text;

namespace Livrable.Go;

/// <summary>
/// Go's <c>path</c> and <c>path/filepath</c> functions the Dockerfile rules are written in (BuildKit, fsutil and
/// moby's patternmatcher are Go), for slash-separated paths on a Unix target: <c>Clean</c>, <c>Split</c>, <c>Join</c>
/// (https://pkg.go.dev/path) and <c>Match</c> (https://pkg.go.dev/path/filepath#Match). Match is Go's algorithm, chunk
/// by chunk, including its checks that the whole pattern is well formed. The one copy of these rules in Livrable:
/// the build context, .dockerignore, COPY from a stage and image paths all call it, so they cannot disagree.
/// Tested with Go's own tables (tests/Livrable.Tests/Go).
/// </summary>
internal static class GoPath
{
    /// <summary>
    /// Go's <c>path.Clean</c>: one slash between names, no <c>.</c>, <c>..</c> resolved lexically (above the root it
    /// stays at the root; at the start of a relative path it is kept); <c>.</c> for an empty result.
    /// </summary>
    public static string Clean(string path)
    {
        if (path.Length == 0) return ".";
        bool rooted = path[0] == '/';
        var parts = new List<string>();
        foreach (string part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                if (parts.Count > 0 && parts[^1] != "..") parts.RemoveAt(parts.Count - 1);
                else if (!rooted) parts.Add("..");
                continue;
            }
            parts.Add(part);
        }
        string joined = string.Join('/', parts);
        if (rooted) return "/" + joined;
        return joined.Length == 0 ? "." : joined;
    }

    /// <summary>
    /// Go's <c>path.Split</c>: the path up to and including its last slash, and the rest
    /// (<c>a/b</c> is <c>a/</c> and <c>b</c>).
    /// </summary>
    public static (string Directory, string File) Split(string path)
    {
        int slash = path.LastIndexOf('/');
        return (path[..(slash + 1)], path[(slash + 1)..]);
    }

    /// <summary>Go's <c>path.Join</c>: the non-empty elements joined by slashes, then cleaned; empty when all are empty.</summary>
    public static string Join(params string[] elements)
    {
        var present = elements.Where(e => e.Length > 0).ToList();
        return present.Count == 0 ? "" : Clean(string.Join('/', present));
    }

    /// <summary>Whether a path segment has a wildcard (<c>* ? [</c>) not escaped by <c>\</c> (fsutil's containsWildcards).</summary>
    public static bool ContainsWildcards(string name)
    {
        for (int i = 0; i < name.Length; i++)
        {
            char ch = name[i];
            if (ch == '\\') i++;
            else if (ch is '*' or '?' or '[') return true;
        }
        return false;
    }

    /// <summary>Thrown for a malformed pattern, as Go returns <c>filepath.ErrBadPattern</c>.</summary>
    public sealed class BadPatternException() : Exception("syntax error in pattern");

    /// <summary>Go's <c>filepath.Match(pattern, name)</c> with <c>/</c> as the separator and <c>\</c> as the escape.</summary>
    /// <exception cref="BadPatternException">The pattern is malformed (checked even when the name does not match).</exception>
    public static bool Match(string pattern, string name)
    {
        while (pattern.Length > 0)
        {
            (bool star, string chunk, string rest) = ScanChunk(pattern);
            pattern = rest;
            if (star && chunk.Length == 0)
                return !name.Contains('/');

            (string? t, bool ok) = MatchChunk(chunk, name);
            if (ok && (t!.Length == 0 || pattern.Length > 0))
            {
                name = t;
                continue;
            }
            bool matchedAfterSkip = false;
            if (star)
            {
                for (int i = 0; i < name.Length && name[i] != '/'; i++)
                {
                    (string? t2, bool ok2) = MatchChunk(chunk, name[(i + 1)..]);
                    if (ok2)
                    {
                        if (pattern.Length == 0 && t2!.Length > 0) continue;
                        name = t2!;
                        matchedAfterSkip = true;
                        break;
                    }
                }
            }
            if (matchedAfterSkip) continue;
            // No match: still check that the rest of the pattern is well formed.
            while (pattern.Length > 0)
            {
                (_, string c, string r) = ScanChunk(pattern);
                pattern = r;
                MatchChunk(c, "");
            }
            return false;
        }
        return name.Length == 0;
    }

    /// <summary>Checks a pattern's syntax as <c>filepath.Match(pattern, ".")</c> would.</summary>
    public static void Validate(string pattern) => Match(pattern, ".");

    private static (bool Star, string Chunk, string Remainder) ScanChunk(string pattern)
    {
        bool star = false;
        int start = 0;
        while (start < pattern.Length && pattern[start] == '*')
        {
            start++;
            star = true;
        }
        pattern = pattern[start..];
        bool inRange = false;
        int i;
        for (i = 0; i < pattern.Length; i++)
        {
            char ch = pattern[i];
            if (ch == '\\')
            {
                if (i + 1 < pattern.Length) i++;
            }
            else if (ch == '[') inRange = true;
            else if (ch == ']') inRange = false;
            else if (ch == '*' && !inRange) break;
        }
        return (star, pattern[..i], pattern[i..]);
    }

    /// <summary>Matches one chunk at the start of <paramref name="s"/>; after a mismatch keeps parsing for errors.</summary>
    private static (string? Remaining, bool Ok) MatchChunk(string chunk, string s)
    {
        bool failed = false;
        int c = 0, p = 0;
        while (c < chunk.Length)
        {
            if (!failed && p >= s.Length) failed = true;
            switch (chunk[c])
            {
                case '[':
                {
                    int r = 0;
                    if (!failed)
                    {
                        r = DecodeRune(s, p, out int used);
                        p += used;
                    }
                    c++;
                    bool negated = false;
                    if (c < chunk.Length && chunk[c] == '^')
                    {
                        negated = true;
                        c++;
                    }
                    bool match = false;
                    int ranges = 0;
                    while (true)
                    {
                        if (c < chunk.Length && chunk[c] == ']' && ranges > 0)
                        {
                            c++;
                            break;
                        }
                        int lo = GetEscaped(chunk, ref c);
                        int hi = lo;
                        if (chunk[c] == '-')
                        {
                            c++;
                            hi = GetEscaped(chunk, ref c);
                        }
                        if (lo <= r && r <= hi) match = true;
                        ranges++;
                    }
                    if (match == negated) failed = true;
                    break;
                }
                case '?':
                    if (!failed)
                    {
                        if (s[p] == '/') failed = true;
                        DecodeRune(s, p, out int used);
                        p += used;
                    }
                    c++;
                    break;
                default:
                    if (chunk[c] == '\\')
                    {
                        c++;
                        if (c >= chunk.Length) throw new BadPatternException();
                    }
                    if (!failed)
                    {
                        if (chunk[c] != s[p]) failed = true;
                        p++;
                    }
                    c++;
                    break;
            }
        }
        return failed ? (null, false) : (s[p..], true);
    }

    private static int GetEscaped(string chunk, ref int c)
    {
        if (c >= chunk.Length || chunk[c] == '-' || chunk[c] == ']') throw new BadPatternException();
        if (chunk[c] == '\\')
        {
            c++;
            if (c >= chunk.Length) throw new BadPatternException();
        }
        int rune = DecodeRune(chunk, c, out int used);
        c += used;
        if (c >= chunk.Length) throw new BadPatternException();
        return rune;
    }

    private static int DecodeRune(string s, int index, out int used)
    {
        if (Rune.DecodeFromUtf16(s.AsSpan(index), out Rune rune, out used) != System.Buffers.OperationStatus.Done)
        {
            used = Math.Max(used, 1);
            return 0xFFFD;
        }
        return rune.Value;
    }
}
