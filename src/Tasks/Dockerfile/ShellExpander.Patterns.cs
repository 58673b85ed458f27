using System.Text;
using System.Text.RegularExpressions;
using Livrable.Diagnostics;

namespace Livrable.Dockerfile;

public sealed partial class ShellExpander
{
    // The patterns of ${a#p} ${a%p} ${a/p/r}: * is any string, ? any one character, \* \? \\ literal, \} and \/ the
    // delimiters; no [...] classes, and any other escape is an error (lex.go: convertShellPatternToRegex). They become
    // regular expressions whose leftmost-first semantics are the same in .NET as in Go's RE2.

    /// <summary>One character, a surrogate pair counting as one, as Go's <c>.</c> counts runes.</summary>
    private const string AnyRune = @"(?:[\uD800-\uDBFF][\uDC00-\uDFFF]|.)";

    private static Regex ConvertPattern(string pattern, bool greedy, bool anchored)
    {
        var regex = new StringBuilder(pattern.Length + 8);
        if (anchored) regex.Append('^');
        var runes = pattern.EnumerateRunes().Select(r => r.Value).ToArray();
        for (int i = 0; i < runes.Length; i++)
        {
            int ch = runes[i];
            switch (ch)
            {
                case '*':
                    regex.Append(greedy ? ".*" : ".*?");
                    continue;
                case '?':
                    regex.Append(AnyRune);
                    continue;
                case '\\':
                    int next = i + 1 < runes.Length ? runes[i + 1] : Lexer.Eof;
                    // \} and \/ only protect a delimiter of ${}: the escape is not part of the pattern.
                    if (next is '}' or '/') continue;
                    if (next is not ('*' or '?' or '\\'))
                        throw new ExpansionError(DiagnosticCodes.ExpansionInvalidPattern,
                            $"invalid pattern ({pattern}) in substitution: invalid escape '\\{(next == Lexer.Eof ? "" : RuneText(next))}'");
                    regex.Append('\\').Append((char)next);
                    i++;
                    continue;
                case '[' or ']' or '{' or '}' or '.' or '+' or '(' or ')' or '|' or '^' or '$':
                    regex.Append('\\').Append((char)ch);
                    continue;
                default:
                    // Anything else is itself; Regex.Escape also covers what only .NET treats specially (# and blanks
                    // under IgnorePatternWhitespace are not in use, but escaping is harmless).
                    regex.Append(Regex.Escape(char.ConvertFromUtf32(ch)));
                    continue;
            }
        }
        return new Regex(regex.ToString(), RegexOptions.CultureInvariant);
    }

    private static string TrimPrefix(string pattern, string value, bool greedy)
    {
        Match match = ConvertPattern(pattern, greedy, anchored: true).Match(value);
        return match.Success ? value[(match.Index + match.Length)..] : value;
    }

    private static string TrimSuffix(string pattern, string value, bool greedy)
    {
        // A regular expression cannot find the shortest match that ends at the end, so both the pattern and the value
        // are reversed and the prefix trimmed, as BuildKit does.
        return ReverseRunes(TrimPrefix(ReversePattern(pattern), ReverseRunes(value), greedy));
    }

    /// <summary>Reverses a pattern but keeps each escape before the character it escapes (<c>a\*c</c> → <c>c\*a</c>).</summary>
    private static string ReversePattern(string pattern)
    {
        var runes = pattern.EnumerateRunes().Select(r => r.Value).ToArray();
        var output = new int[runes.Length];
        int last = runes.Length - 1;
        for (int i = 0; i <= last;)
        {
            int outIndex = last - i;
            if (runes[i] == '\\' && i != last)
            {
                output[outIndex - 1] = runes[i];
                output[outIndex] = runes[i + 1];
                i += 2;
            }
            else
            {
                output[outIndex] = runes[i];
                i++;
            }
        }
        var builder = new StringBuilder(pattern.Length);
        foreach (int ch in output) builder.Append(char.ConvertFromUtf32(ch));
        return builder.ToString();
    }

    private static string ReverseRunes(string text)
    {
        var runes = text.EnumerateRunes().ToArray();
        Array.Reverse(runes);
        var builder = new StringBuilder(text.Length);
        foreach (Rune rune in runes) builder.Append(rune.ToString());
        return builder.ToString();
    }

    /// <summary>
    /// <c>${a/p/r}</c> replaces the first match literally; <c>${a//p/r}</c> replaces every match the way Go's
    /// <c>Regexp.ReplaceAllString</c> does: an empty match right after a match is skipped, and <c>$0</c>, <c>${0}</c>
    /// and <c>$$</c> in the replacement are Go template references (the whole match, a dollar sign).
    /// </summary>
    private static string Replace(string value, string pattern, string replacement, bool replaceAll)
    {
        Regex regex = ConvertPattern(pattern, greedy: true, anchored: false);
        if (!replaceAll)
        {
            Match first = regex.Match(value);
            return first.Success ? value[..first.Index] + replacement + value[(first.Index + first.Length)..] : value;
        }

        var output = new StringBuilder(value.Length);
        int lastMatchEnd = 0;
        int searchPosition = 0;
        while (searchPosition <= value.Length)
        {
            Match match = regex.Match(value, searchPosition);
            if (!match.Success) break;
            int start = match.Index, end = match.Index + match.Length;
            output.Append(value, lastMatchEnd, start - lastMatchEnd);
            if (end > lastMatchEnd || start == 0)
                ExpandTemplate(output, replacement, match.Value);
            lastMatchEnd = end;
            int width = searchPosition < value.Length && char.IsHighSurrogate(value[searchPosition])
                && searchPosition + 1 < value.Length && char.IsLowSurrogate(value[searchPosition + 1]) ? 2 : 1;
            if (searchPosition + width > end) searchPosition += width;
            else if (searchPosition + 1 > end) searchPosition++;
            else searchPosition = end;
        }
        output.Append(value, lastMatchEnd, value.Length - lastMatchEnd);
        return output.ToString();
    }

    /// <summary>Go's <c>Regexp.Expand</c> for a regular expression without groups: only group 0 exists.</summary>
    private static void ExpandTemplate(StringBuilder output, string template, string whole)
    {
        int i = 0;
        while (i < template.Length)
        {
            int dollar = template.IndexOf('$', i);
            if (dollar < 0) break;
            output.Append(template, i, dollar - i);
            i = dollar + 1;
            if (i < template.Length && template[i] == '$')
            {
                output.Append('$');
                i++;
                continue;
            }
            bool brace = i < template.Length && template[i] == '{';
            int nameStart = brace ? i + 1 : i;
            int j = nameStart;
            while (j < template.Length)
            {
                Rune.DecodeFromUtf16(template.AsSpan(j), out Rune rune, out int used);
                if (!Rune.IsLetter(rune) && !Rune.IsDigit(rune) && rune.Value != '_') break;
                j += used;
            }
            bool valid = j > nameStart && (!brace || (j < template.Length && template[j] == '}'));
            if (!valid)
            {
                // Malformed: the $ is literal text.
                output.Append('$');
                continue;
            }
            string name = template[nameStart..j];
            i = brace ? j + 1 : j;
            // Group numbers are decimal without leading zeros; the only group is 0.
            if (name == "0") output.Append(whole);
        }
        output.Append(template, i, template.Length - i);
    }
}
