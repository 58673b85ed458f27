using System.Text;
using System.Text.RegularExpressions;
using Livrable.Diagnostics;
using Livrable.Go;

namespace Livrable.Context;

/// <summary>
/// A <c>.dockerignore</c> file: patterns of context paths to leave out, with <c>!</c> exceptions. Reading follows
/// moby/patternmatcher's <c>ignorefile.ReadAll</c> and matching its <c>PatternMatcher.MatchesOrParentMatches</c>
/// (https://docs.docker.com/build/concepts/context/#dockerignore-files): a pattern matches the whole slash-separated
/// path relative to the context root, or any of its parent folders; the last pattern that matches decides.
/// </summary>
/// <remarks>
/// Each pattern is compiled once, as patternmatcher does: a plain name is compared as a string, <c>dir/**</c> is a
/// prefix, <c>**/name</c> a suffix, anything else a regular expression (<c>*</c> is <c>[^/]*</c>, <c>?</c> one
/// character but <c>/</c>, <c>**</c> any number of folders including none, <c>[...]</c> a class, <c>\x</c> a literal
/// <c>x</c>). Matching is case-sensitive.
/// </remarks>
public sealed class DockerIgnore
{
    /// <summary>No patterns: nothing is excluded.</summary>
    public static readonly DockerIgnore Empty = new([], []);

    private readonly IgnorePattern[] _patterns;
    private readonly IgnorePattern[] _exceptions;

    private DockerIgnore(IReadOnlyList<string> lines, IgnorePattern[] patterns)
    {
        Patterns = lines;
        _patterns = patterns;
        _exceptions = patterns.Where(p => p.Exception).ToArray();
    }

    /// <summary>
    /// The patterns in file order as read: comments and blank lines dropped, trimmed, cleaned, a leading <c>/</c>
    /// removed, exceptions written <c>!pattern</c>.
    /// </summary>
    public IReadOnlyList<string> Patterns { get; }

    /// <summary>Whether there is no pattern at all, so that nothing is excluded (a walk then matches no path).</summary>
    internal bool IsEmpty => _patterns.Length == 0;

    /// <summary>Whether any pattern is an exception (<c>!</c>).</summary>
    public bool HasExceptions => _exceptions.Length > 0;

    /// <summary>
    /// Reads the text of a <c>.dockerignore</c> file: a UTF-8 BOM is dropped; a line is a comment only when <c>#</c> is
    /// its very first character; lines are trimmed and blank ones skipped; a leading <c>!</c> makes an exception (the
    /// rest is trimmed again); the pattern is cleaned as Go's <c>filepath.Clean</c> and a leading <c>/</c> removed.
    /// </summary>
    /// <exception cref="LivrableException">LIV1062: a lone <c>!</c>, or a malformed pattern (<c>[</c> not closed).</exception>
    public static DockerIgnore Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        var lines = new List<string>();
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.EndsWith('\r') ? raw[..^1] : raw;
            // A comment only in column 0: " # x" is the pattern "# x".
            if (line.StartsWith('#')) continue;
            string pattern = line.Trim();
            if (pattern.Length == 0) continue;
            bool invert = pattern[0] == '!';
            if (invert) pattern = pattern[1..].Trim();
            if (pattern.Length > 0)
            {
                pattern = GoPath.Clean(pattern);
                if (pattern.Length > 1 && pattern[0] == '/') pattern = pattern[1..];
            }
            lines.Add(invert ? "!" + pattern : pattern);
        }
        return FromPatterns(lines);
    }

    /// <summary>
    /// Patterns given one by one, as <c>COPY --exclude</c> gives them (patternmatcher.New: trimmed, cleaned, a leading
    /// <c>!</c> an exception, empty ones skipped; no comments and no leading-<c>/</c> removal).
    /// </summary>
    /// <exception cref="LivrableException">LIV1062: a lone <c>!</c>, or a malformed pattern.</exception>
    public static DockerIgnore FromPatterns(IEnumerable<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        var kept = new List<string>();
        var compiled = new List<IgnorePattern>();
        foreach (string given in patterns)
        {
            string pattern = given.Trim();
            if (pattern.Length == 0) continue;
            pattern = GoPath.Clean(pattern);
            bool exception = false;
            if (pattern[0] == '!')
            {
                if (pattern.Length == 1)
                    throw new LivrableException(DiagnosticCodes.InvalidIgnorePattern, "illegal exclusion pattern: \"!\"");
                exception = true;
                pattern = pattern[1..];
            }
            try
            {
                GoPath.Validate(pattern);
            }
            catch (GoPath.BadPatternException)
            {
                throw new LivrableException(DiagnosticCodes.InvalidIgnorePattern, $"syntax error in pattern: \"{pattern}\"");
            }
            kept.Add(given.Trim());
            compiled.Add(IgnorePattern.Compile(pattern, exception));
        }
        return compiled.Count == 0 && kept.Count == 0 ? Empty : new DockerIgnore(kept, [.. compiled]);
    }

    /// <summary>
    /// Whether a context path is left out: the last pattern that matches the path or one of its parent folders decides.
    /// The root (<c>.</c> or empty) never is.
    /// </summary>
    /// <param name="relativePath">Slash-separated and relative to the context root (a leading <c>/</c> or <c>./</c> is ignored).</param>
    public bool IsExcluded(string relativePath)
    {
        ArgumentNullException.ThrowIfNull(relativePath);
        if (_patterns.Length == 0) return false;
        string path = GoPath.Clean(relativePath).TrimStart('/');
        if (path.Length == 0 || path == ".") return false;
        int slash = path.LastIndexOf('/');
        bool[] parents = slash < 0 ? new bool[_patterns.Length] : AncestorMatches(path[..slash]);
        return Evaluate(path, parents, null);
    }

    /// <summary>
    /// For each pattern, whether it matches <paramref name="directory"/> or one of its parents: the state the children
    /// of that folder start from. Empty for the root.
    /// </summary>
    internal bool[] AncestorMatches(string directory)
    {
        var state = new bool[_patterns.Length];
        if (directory.Length == 0 || directory == ".") return state;
        int end = 0;
        while (end >= 0)
        {
            end = directory.IndexOf('/', end + 1);
            string prefix = end < 0 ? directory : directory[..end];
            for (int i = 0; i < _patterns.Length; i++)
                state[i] |= _patterns[i].Matches(prefix);
        }
        return state;
    }

    /// <summary>
    /// Decides one path given its parents' state (<see cref="AncestorMatches"/>); when <paramref name="own"/> is
    /// given it receives this path's state for its children.
    /// </summary>
    internal bool Evaluate(string path, bool[] parents, bool[]? own)
    {
        bool excluded = false;
        for (int i = 0; i < _patterns.Length; i++)
        {
            IgnorePattern pattern = _patterns[i];
            if (own is null)
            {
                // patternmatcher's shortcut: a pattern that cannot change the answer is not evaluated.
                if (pattern.Exception != excluded) continue;
                if (parents[i] || pattern.Matches(path)) excluded = !pattern.Exception;
            }
            else
            {
                bool match = parents[i] || pattern.Matches(path);
                own[i] = match;
                if (match) excluded = !pattern.Exception;
            }
        }
        return excluded;
    }

    /// <summary>
    /// Whether some exception pattern could match a path strictly inside <paramref name="directory"/>. When it cannot,
    /// an excluded folder can be skipped whole: everything in it is excluded too. Conservative (true when unsure:
    /// patterns with <c>**</c>, <c>[</c> or <c>\</c>).
    /// </summary>
    internal bool CanReincludeUnder(string directory)
    {
        if (_exceptions.Length == 0) return false;
        string[] folders = directory.Split('/');
        foreach (IgnorePattern exception in _exceptions)
        {
            if (exception.Segments is null) return true;
            if (exception.Segments.Length <= folders.Length) continue;
            bool prefixMatches = true;
            for (int i = 0; i < folders.Length && prefixMatches; i++)
                prefixMatches = GoPath.Match(exception.Segments[i], folders[i]);
            if (prefixMatches) return true;
        }
        return false;
    }

    /// <summary>One compiled pattern (patternmatcher's <c>Pattern.compile</c>, with <c>/</c> as the separator).</summary>
    private sealed class IgnorePattern
    {
        private enum Kind { Exact, Prefix, Suffix, Regex }

        private Kind _kind;
        private string _text = "";
        private Regex? _regex;

        public bool Exception { get; private init; }

        /// <summary>The folders of a pattern simple enough to reason about (only <c>*</c> and <c>?</c>); else null.</summary>
        public string[]? Segments { get; private init; }

        public static IgnorePattern Compile(string cleaned, bool exception)
        {
            var regex = new StringBuilder("^");
            Kind kind = Kind.Exact;
            int i = 0, step = 0;
            while (i < cleaned.Length)
            {
                char ch = cleaned[i++];
                if (ch == '*')
                {
                    if (i < cleaned.Length && cleaned[i] == '*')
                    {
                        i++;
                        // **/ is treated as **.
                        if (i < cleaned.Length && cleaned[i] == '/') i++;
                        if (i >= cleaned.Length)
                        {
                            // A trailing ** matches everything below, as in .gitignore.
                            if (kind == Kind.Exact) kind = Kind.Prefix;
                            else
                            {
                                regex.Append(".*");
                                kind = Kind.Regex;
                            }
                        }
                        else
                        {
                            // Any number of folders, even none.
                            regex.Append("(.*/)?");
                            kind = Kind.Regex;
                        }
                        if (step == 0) kind = Kind.Suffix;
                    }
                    else
                    {
                        regex.Append("[^/]*");
                        kind = Kind.Regex;
                    }
                }
                else if (ch == '?')
                {
                    // One character but /; a surrogate pair is one character, as a rune is in Go.
                    regex.Append(@"(?:[\uD800-\uDBFF][\uDC00-\uDFFF]|[^/])");
                    kind = Kind.Regex;
                }
                else if (ch is '.' or '+' or '(' or ')' or '|' or '{' or '}' or '$')
                {
                    regex.Append('\\').Append(ch);
                }
                else if (ch == '\\')
                {
                    if (i < cleaned.Length)
                    {
                        regex.Append('\\').Append(cleaned[i++]);
                        kind = Kind.Regex;
                    }
                    else
                    {
                        regex.Append(@"\\");
                    }
                }
                else if (ch is '[' or ']')
                {
                    regex.Append(ch);
                    kind = Kind.Regex;
                }
                else
                {
                    regex.Append(ch);
                }
                step++;
            }

            Regex? compiled = null;
            if (kind == Kind.Regex)
            {
                // Go's $ is the very end of the text; .NET's also matches before a final newline, hence \z.
                regex.Append(@"\z");
                try
                {
                    compiled = new Regex(regex.ToString(), RegexOptions.CultureInvariant);
                }
                catch (ArgumentException)
                {
                    throw new LivrableException(DiagnosticCodes.InvalidIgnorePattern, $"syntax error in pattern: \"{cleaned}\"");
                }
            }

            bool simple = !cleaned.Contains("**", StringComparison.Ordinal) && cleaned.IndexOfAny(['[', '\\']) < 0;
            return new IgnorePattern
            {
                _kind = kind,
                _text = cleaned,
                _regex = compiled,
                Exception = exception,
                Segments = simple ? cleaned.Split('/') : null,
            };
        }

        public bool Matches(string path) => _kind switch
        {
            Kind.Exact => path == _text,
            Kind.Prefix => path.StartsWith(_text[..^2], StringComparison.Ordinal),
            Kind.Suffix => MatchesSuffix(path),
            _ => _regex!.IsMatch(path),
        };

        private bool MatchesSuffix(string path)
        {
            string suffix = _text[2..];
            if (path.EndsWith(suffix, StringComparison.Ordinal)) return true;
            // **/foo also matches foo itself.
            return suffix.Length > 0 && suffix[0] == '/' && path == suffix[1..];
        }
    }
}
