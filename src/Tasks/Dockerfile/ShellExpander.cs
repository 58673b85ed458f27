using System.Text;
using Livrable.Diagnostics;
using Livrable.Go;

namespace Livrable.Dockerfile;

/// <summary>
/// Variable substitution in Dockerfile words, as BuildKit's shell lexer does it
/// (<c>frontend/dockerfile/shell/lex.go</c>; https://docs.docker.com/reference/dockerfile/#environment-replacement).
/// Quotes are removed, escapes processed, and <c>$name</c>, <c>${name}</c> and the <c>${name…}</c> modifiers replaced
/// from the environment given. The environment is looked up with the dictionary's own comparer: pass an ordinal one
/// for Linux targets (BuildKit compares names case-insensitively only for Windows targets).
/// </summary>
/// <remarks>
/// The rules, all BuildKit's: unset and empty are different (<c>${a-w}</c> vs <c>${a:-w}</c>); positional and special
/// parameters (<c>$1</c>, <c>$@</c>, <c>$$</c>…) are always unset; <c>$</c> before anything that is not a name stays
/// a literal <c>$</c>; outside quotes the escape character makes the next character literal; inside single quotes
/// everything is literal; inside double quotes only <c>"</c>, <c>$</c> and the escape character can be escaped.
/// Unsupported forms (<c>${a:=w}</c>, <c>${a:1}</c>, <c>${#a}</c>) are errors, never passed through.
/// An instance holds no state between calls and may be shared.
/// </remarks>
public sealed partial class ShellExpander
{
    private readonly char _escape;

    /// <summary>Makes an expander whose escape character is <paramref name="escape"/> (the <c># escape=</c> directive).</summary>
    public ShellExpander(char escape = '\\')
    {
        _escape = escape;
    }

    /// <summary>The escape character of this expander.</summary>
    public char Escape => _escape;

    /// <summary>
    /// Expands one word: quotes removed, escapes processed, <c>$a ${a} ${a:-w} ${a-w} ${a:+w} ${a+w} ${a:?m} ${a?m}
    /// ${a#p} ${a##p} ${a%p} ${a%%p} ${a/p/r} ${a//p/r}</c> replaced. Blanks are kept.
    /// </summary>
    /// <exception cref="LivrableException">
    /// LIV1050 (syntax), LIV1051 (unsupported modifier), LIV1052 (bad pattern) or LIV1053 (<c>${a?m}</c>), at
    /// <paramref name="span"/>.
    /// </exception>
    public string ProcessWord(string word, IReadOnlyDictionary<string, string> environment, SourceSpan span)
        => Run(word, environment, span, _escape, skipQuotes: false).Word;

    /// <summary>
    /// Expands like <see cref="ProcessWord"/>, then splits on blanks that were not quoted or escaped, as EXPOSE does
    /// (<c>EXPOSE $PORTS</c>). Blanks inside a variable's value split too; empty words are dropped.
    /// </summary>
    /// <exception cref="LivrableException">As <see cref="ProcessWord"/>.</exception>
    public IReadOnlyList<string> ProcessWords(string word, IReadOnlyDictionary<string, string> environment, SourceSpan span)
        => Run(word, environment, span, _escape, skipQuotes: false).Words;

    /// <summary>
    /// Expands the body of a COPY/ADD here-document whose delimiter was not quoted: quotes are ordinary characters and
    /// kept; only <c>$</c> and <c>\</c> are processed, and the escape character is always <c>\</c> whatever the
    /// <c># escape=</c> directive says (BuildKit's <c>SkipProcessQuotes</c> lexer in <c>dockerfile2llb/convert.go</c>).
    /// </summary>
    /// <exception cref="LivrableException">As <see cref="ProcessWord"/>.</exception>
    public string ProcessRaw(string text, IReadOnlyDictionary<string, string> environment, SourceSpan span)
        => Run(text, environment, span, '\\', skipQuotes: true).Word;

    private static (string Word, IReadOnlyList<string> Words) Run(
        string text, IReadOnlyDictionary<string, string> environment, SourceSpan span, char escape, bool skipQuotes)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(environment);
        var lexer = new Lexer(text, environment, escape, skipQuotes);
        try
        {
            var (word, words) = lexer.ProcessStopOn(Lexer.Eof, rawEscapes: false);
            return (word, words);
        }
        catch (ExpansionError e)
        {
            // BuildKit: errors.Wrapf(err, "failed to process %q", source).
            throw new LivrableException(e.Code, $"failed to process {GoFormat.Quote(text)}: {e.Message}", span);
        }
    }

    /// <summary>An expansion failure before it gets its source text and span.</summary>
    private sealed class ExpansionError(string code, string message) : Exception(message)
    {
        public string Code { get; } = code;
    }
}
