using System.Text;
using System.Text.RegularExpressions;
using Livrable.Diagnostics;

namespace Livrable.Dockerfile;

/// <summary>
/// Finds the here-documents an instruction line opens, as BuildKit does (<c>parser.go: heredocsFromLine</c>,
/// <c>heredocFromMatch</c>; reference "Here-Documents"): the line is split into shell words keeping quotes and escapes
/// raw (a <c>&lt;&lt;</c> swallows the blanks after it, so <c>&lt;&lt; EOF</c> is one word), and each word that matches
/// <c>^(\d*)&lt;&lt;(-?)\s*([^&lt;]*)$</c> whose remainder is one shell word is a heredoc. The delimiter is that word with quotes
/// removed; if any part of it was quoted the body is not expanded.
/// </summary>
internal static partial class HeredocLexer
{
    [GeneratedRegex(@"^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$")]
    private static partial Regex HeredocWord();

    [GeneratedRegex(@"^[0-9]*<<-?")]
    private static partial Regex HeredocStart();

    [GeneratedRegex(@"^\t+", RegexOptions.Multiline)]
    private static partial Regex LeadingTabs();

    /// <summary>Strips leading tabs from every line (<c>&lt;&lt;-</c>; BuildKit's <c>ChompHeredocContent</c>).</summary>
    public static string ChompContent(string content) => LeadingTabs().Replace(content, "");

    /// <summary>The heredocs <paramref name="text"/> opens, in order, with the offset of each one's word.</summary>
    public static List<(string Name, bool Expand, bool Chomp, int FileDescriptor, int Offset)> FromLine(string text, LogicalLine line)
    {
        var result = new List<(string, bool, bool, int, int)>();
        var words = SplitRaw(text, out var failedWord);
        if (words is null)
        {
            // BuildKit's lexer fails on the whole line and then finds no heredoc at all, so the body lines are read as
            // instructions. An unbalanced quote in a delimiter (<<'EOF) is certain to be a mistake: say so here.
            if (failedWord is { } failed && HeredocStart().IsMatch(failed.Value))
                throw new LivrableException(DiagnosticCodes.InvalidHeredoc,
                    $"unbalanced quote in heredoc delimiter \"{failed.Value}\"", line.SpanAt(failed.Offset, failed.Value.Length));
            return result;
        }
        foreach (var word in words)
        {
            var heredoc = Parse(word.Value, out var error);
            if (error is not null)
                throw new LivrableException(DiagnosticCodes.InvalidHeredoc, error, line.SpanAt(word.Offset, word.Value.Length));
            if (heredoc is { } h)
                result.Add((h.Name, h.Expand, h.Chomp, h.FileDescriptor, word.Offset));
        }
        return result;
    }

    /// <summary>
    /// Whether <paramref name="word"/> (one argument of COPY or ADD) is a heredoc, and its name (BuildKit's
    /// <c>MustParseHeredoc</c>: a malformed one is simply not a heredoc).
    /// </summary>
    public static (string Name, bool Expand, bool Chomp, int FileDescriptor)? TryParse(string word) => Parse(word, out _);

    private static (string Name, bool Expand, bool Chomp, int FileDescriptor)? Parse(string word, out string? error)
    {
        error = null;
        var match = HeredocWord().Match(word);
        if (!match.Success)
            return null;
        var rest = match.Groups[3].Value;
        if (rest.Length == 0)
            return null;
        var words = LexWords(rest, rawQuotes: false);
        var rawWords = LexWords(rest, rawQuotes: true);
        if (words is null || rawWords is null)
        {
            error = $"unbalanced quote in heredoc delimiter \"{word}\"";
            return null;
        }
        if (words.Count != 1)
            return null;
        // Quotes that did quoting disappear from the processed word but stay in the raw one; escaped quotes are in both.
        var expand = CountQuotes(words[0]) == CountQuotes(rawWords[0]);
        var fd = match.Groups[1].Value.Length == 0 ? 0 : int.TryParse(match.Groups[1].Value, out var n) ? n : 0;
        return (words[0], expand, match.Groups[2].Value == "-", fd);
    }

    private static int CountQuotes(string s) => s.Count(c => c is '\'' or '"');

    /// <summary>
    /// Shell words with quotes removed (or kept, <paramref name="rawQuotes"/>) and <c>\</c> escapes applied; null on an
    /// unterminated quote. <c>$</c> is kept as written (BuildKit lexes with SkipUnsetEnv and no variables).
    /// </summary>
    private static List<string>? LexWords(string s, bool rawQuotes)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        var i = 0;
        while (i < s.Length)
        {
            var c = s[i];
            if (c == '\'')
            {
                var close = s.IndexOf('\'', i + 1);
                if (close < 0)
                    return null;
                if (rawQuotes) word.Append('\'');
                word.Append(s, i + 1, close - i - 1);
                if (rawQuotes) word.Append('\'');
                inWord = true;
                i = close + 1;
            }
            else if (c == '"')
            {
                if (rawQuotes) word.Append('"');
                i++;
                var closed = false;
                while (i < s.Length)
                {
                    var d = s[i];
                    if (d == '"')
                    {
                        closed = true;
                        i++;
                        break;
                    }
                    if (d == '\\' && i + 1 < s.Length && s[i + 1] is '"' or '$' or '\\')
                    {
                        word.Append(s[i + 1]);
                        i += 2;
                        continue;
                    }
                    word.Append(d);
                    i++;
                }
                if (!closed)
                    return null;
                if (rawQuotes) word.Append('"');
                inWord = true;
            }
            else if (c == '\\')
            {
                if (i + 1 < s.Length)
                    word.Append(s[i + 1]);
                inWord = true;
                i += 2;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                    words.Add(word.ToString());
                word.Clear();
                inWord = false;
                i++;
            }
            else
            {
                word.Append(c);
                inWord = true;
                i++;
            }
        }
        if (inWord)
            words.Add(word.ToString());
        return words;
    }

    /// <summary>
    /// The first pass over the whole line: words with quotes and escapes kept raw, and <c>&lt;&lt;</c> joined to the
    /// blanks after it. Null on an unterminated quote, with the word it broke.
    /// </summary>
    private static List<Token>? SplitRaw(string s, out Token? failedWord)
    {
        failedWord = null;
        var words = new List<Token>();
        var word = new StringBuilder();
        var inWord = false;
        var start = 0;
        var i = 0;
        void Begin(int at)
        {
            if (!inWord)
                start = at;
            inWord = true;
        }
        while (i < s.Length)
        {
            var c = s[i];
            if (c == '\'' || c == '"')
            {
                Begin(i);
                var j = i + 1;
                while (j < s.Length && s[j] != c)
                    j += c == '"' && s[j] == '\\' && j + 1 < s.Length && s[j + 1] is '"' or '$' or '\\' ? 2 : 1;
                if (j >= s.Length)
                {
                    failedWord = new Token(word + s[i..], start);
                    return null;
                }
                word.Append(s, i, j - i + 1);
                i = j + 1;
            }
            else if (c == '<' && i + 1 < s.Length && s[i + 1] == '<')
            {
                Begin(i);
                var j = i + 2;
                while (j < s.Length && s[j] is ' ' or '\t')
                    j++;
                word.Append(s, i, j - i);
                i = j;
            }
            else if (c == '\\')
            {
                Begin(i);
                word.Append(s, i, Math.Min(2, s.Length - i));
                i += 2;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                    words.Add(new Token(word.ToString(), start));
                word.Clear();
                inWord = false;
                i++;
            }
            else
            {
                Begin(i);
                word.Append(c);
                i++;
            }
        }
        if (inWord)
            words.Add(new Token(word.ToString(), start));
        return words;
    }
}
