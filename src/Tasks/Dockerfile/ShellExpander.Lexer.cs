using System.Text;
using Livrable.Diagnostics;

namespace Livrable.Dockerfile;

public sealed partial class ShellExpander
{
    /// <summary>
    /// One pass over one word, rune by rune, mirroring BuildKit's <c>shellWord</c> (lex.go): the same functions, the
    /// same order of checks, so that the edge cases (what an unterminated <c>${a:-'x</c> reports, where words split)
    /// come out the same.
    /// </summary>
    private sealed class Lexer
    {
        public const int Eof = -1;

        private readonly int[] _text;
        private readonly IReadOnlyDictionary<string, string> _environment;
        private readonly int _escape;
        private readonly bool _skipQuotes;
        private int _position;
        private bool _rawEscapes;

        public Lexer(string text, IReadOnlyDictionary<string, string> environment, char escape, bool skipQuotes)
        {
            var runes = new List<int>(text.Length);
            foreach (Rune rune in text.EnumerateRunes()) runes.Add(rune.Value);
            _text = [.. runes];
            _environment = environment;
            _escape = escape;
            _skipQuotes = skipQuotes;
        }

        private int Peek() => _position < _text.Length ? _text[_position] : Eof;

        private int Next() => _position < _text.Length ? _text[_position++] : Eof;

        /// <summary>
        /// Reads up to <paramref name="stopChar"/> (consumed) or the end. With <paramref name="rawEscapes"/> the escape
        /// character is kept in the result, so a pattern still sees <c>\*</c>.
        /// </summary>
        public (string Word, List<string> Words) ProcessStopOn(int stopChar, bool rawEscapes)
        {
            var result = new StringBuilder();
            var words = new WordSplitter();
            bool saved = _rawEscapes;
            _rawEscapes = rawEscapes;
            try
            {
                while (Peek() != Eof)
                {
                    int ch = Peek();
                    if (stopChar != Eof && ch == stopChar)
                    {
                        Next();
                        return (result.ToString(), words.Finish());
                    }
                    if (ch == '$')
                    {
                        string value = ProcessDollar();
                        result.Append(value);
                        words.AddString(value);
                    }
                    else if (!_skipQuotes && ch == '\'')
                    {
                        string value = ProcessSingleQuote();
                        result.Append(value);
                        words.AddRawString(value);
                    }
                    else if (!_skipQuotes && ch == '"')
                    {
                        string value = ProcessDoubleQuote();
                        result.Append(value);
                        words.AddRawString(value);
                    }
                    else
                    {
                        ch = Next();
                        if (ch == _escape)
                        {
                            if (_rawEscapes)
                            {
                                words.AddRawChar(ch);
                                AppendRune(result, ch);
                            }
                            // The escape character escapes anything; at the very end it is dropped.
                            ch = Next();
                            if (ch == Eof) break;
                            words.AddRawChar(ch);
                        }
                        else
                        {
                            words.AddChar(ch);
                        }
                        AppendRune(result, ch);
                    }
                }
                if (stopChar != Eof)
                    throw new ExpansionError(DiagnosticCodes.ExpansionSyntax,
                        $"unexpected end of statement while looking for matching {char.ConvertFromUtf32(stopChar)}");
                return (result.ToString(), words.Finish());
            }
            finally
            {
                _rawEscapes = saved;
            }
        }

        private string ProcessSingleQuote()
        {
            // Everything up to the next ' is literal; a ' cannot be escaped inside.
            var result = new StringBuilder();
            Next();
            while (true)
            {
                int ch = Next();
                if (ch == Eof)
                    throw new ExpansionError(DiagnosticCodes.ExpansionSyntax,
                        "unexpected end of statement while looking for matching single-quote");
                if (ch == '\'') return result.ToString();
                AppendRune(result, ch);
            }
        }

        private string ProcessDoubleQuote()
        {
            // Literal except $, and the escape character before ", $ or itself. Any other escape stays as written.
            var result = new StringBuilder();
            Next();
            while (true)
            {
                int peek = Peek();
                if (peek == Eof)
                    throw new ExpansionError(DiagnosticCodes.ExpansionSyntax,
                        "unexpected end of statement while looking for matching double-quote");
                if (peek == '"')
                {
                    Next();
                    return result.ToString();
                }
                if (peek == '$')
                {
                    result.Append(ProcessDollar());
                    continue;
                }
                int ch = Next();
                if (ch == _escape)
                {
                    if (_rawEscapes) AppendRune(result, ch);
                    int after = Peek();
                    if (after == Eof) continue; // the loop then reports the missing quote
                    if (after == '"' || after == '$' || after == _escape) ch = Next();
                }
                AppendRune(result, ch);
            }
        }

        private string ProcessDollar()
        {
            Next(); // the $

            if (Peek() != '{')
            {
                string plain = ProcessName();
                return plain.Length == 0 ? "$" : Lookup(plain) ?? "";
            }

            Next(); // the {
            switch (Peek())
            {
                case Eof:
                    throw new ExpansionError(DiagnosticCodes.ExpansionSyntax, "syntax error: missing '}'");
                case '{':
                case '}':
                case ':':
                    throw new ExpansionError(DiagnosticCodes.ExpansionSyntax, "syntax error: bad substitution");
            }

            string name = ProcessName();
            int ch = Next();
            string modifier = RuneText(ch);
            bool nullIsUnset = false;

            if (ch == '}') return Lookup(name) ?? "";
            if (ch == Eof)
                throw new ExpansionError(DiagnosticCodes.ExpansionSyntax, "syntax error: missing '}'");

            if (ch == ':')
            {
                nullIsUnset = true;
                ch = Next();
                modifier += RuneText(ch);
            }
            else if (ch == '/')
            {
                return ProcessReplace(name);
            }
            else if (ch is not ('+' or '-' or '?' or '#' or '%'))
            {
                throw Unsupported(modifier);
            }

            // ${name:X...} for any X, and ${name+...} ${name-...} ${name?...} ${name#...} ${name%...}: the word is read
            // (and expanded) before the modifier is judged, as BuildKit does.
            string word = ReadTo('}', rawEscapes: ch is '#' or '%', "syntax error: missing '}'");
            string? value = Lookup(name);
            bool set = value is not null;
            value ??= "";

            switch (ch)
            {
                case '-':
                    return !set || (nullIsUnset && value.Length == 0) ? word : value;
                case '+':
                    return !set || (nullIsUnset && value.Length == 0) ? "" : word;
                case '?':
                    if (!set)
                        throw new ExpansionError(DiagnosticCodes.ExpansionRequiredVariable,
                            $"{name}: {(word.Length > 0 ? word : "is not allowed to be unset")}");
                    if (nullIsUnset && value.Length == 0)
                        throw new ExpansionError(DiagnosticCodes.ExpansionRequiredVariable,
                            $"{name}: {(word.Length > 0 ? word : "is not allowed to be empty")}");
                    return value;
                case '#' or '%' when !nullIsUnset:
                    // # and % take the shortest match, ## and %% the longest.
                    bool greedy = word.Length > 0 && word[0] == ch;
                    if (greedy) word = word[1..];
                    return ch == '%' ? TrimSuffix(word, value, greedy) : TrimPrefix(word, value, greedy);
                default:
                    // ${a:=w}, ${a:N}, ${a:#p}, ${a:%p}... (the checklist, dockerfile.md section 2.1, lists :# and :%
                    // as unsupported: there is no "null" variant of the pattern operators).
                    throw Unsupported(modifier);
            }
        }

        private string ProcessReplace(string name)
        {
            bool replaceAll = Peek() == '/';
            if (replaceAll) Next();
            string pattern = ReadTo('/', rawEscapes: true, "syntax error: missing '/' in ${}");
            string replacement = ReadTo('}', rawEscapes: true, "syntax error: missing '}'");
            string value = Lookup(name) ?? "";
            return Replace(value, pattern, replacement, replaceAll);
        }

        /// <summary>A nested word up to <paramref name="stop"/>; running out of text reports <paramref name="missing"/>.</summary>
        private string ReadTo(int stop, bool rawEscapes, string missing)
        {
            try
            {
                return ProcessStopOn(stop, rawEscapes).Word;
            }
            catch (ExpansionError) when (Peek() == Eof)
            {
                throw new ExpansionError(DiagnosticCodes.ExpansionSyntax, missing);
            }
        }

        private static ExpansionError Unsupported(string modifier)
            => new(DiagnosticCodes.ExpansionUnsupportedModifier, $"unsupported modifier ({modifier}) in substitution");

        /// <summary>
        /// A name: letters (any script), digits and <c>_</c>. A leading digit reads digits only (<c>$123abc</c> is
        /// <c>$123</c> then <c>abc</c>); a special parameter (<c>@ * # ? - $ ! 0</c>) is one character.
        /// </summary>
        private string ProcessName()
        {
            var name = new StringBuilder();
            while (Peek() != Eof)
            {
                int ch = Peek();
                if (name.Length == 0 && IsDigit(ch))
                {
                    while (Peek() != Eof && IsDigit(Peek())) AppendRune(name, Next());
                    return name.ToString();
                }
                if (name.Length == 0 && IsSpecialParameter(ch))
                {
                    Next();
                    return RuneText(ch);
                }
                if (!IsLetter(ch) && !IsDigit(ch) && ch != '_') break;
                AppendRune(name, Next());
            }
            return name.ToString();
        }

        private static bool IsSpecialParameter(int ch) => ch is '@' or '*' or '#' or '?' or '-' or '$' or '!' or '0';

        private string? Lookup(string name) => _environment.TryGetValue(name, out string? value) ? value ?? "" : null;
    }

    private static bool IsDigit(int ch) => Rune.IsValid(ch) && Rune.IsDigit(new Rune(ch));

    private static bool IsLetter(int ch) => Rune.IsValid(ch) && Rune.IsLetter(new Rune(ch));

    private static bool IsSpace(int ch) => Rune.IsValid(ch) && Rune.IsWhiteSpace(new Rune(ch));

    private static void AppendRune(StringBuilder builder, int ch)
    {
        if (ch == Lexer.Eof) return;
        builder.Append(char.ConvertFromUtf32(ch));
    }

    /// <summary>A rune as text; the end of input prints as Go prints <c>string(-1)</c>, U+FFFD.</summary>
    private static string RuneText(int ch) => ch == Lexer.Eof ? "\uFFFD" : char.ConvertFromUtf32(ch);

    /// <summary>
    /// Word splitting for <see cref="ProcessWords"/>: unquoted blanks and blanks inside expanded values end a word;
    /// quoted text and escaped characters never do. An empty quoted string alone makes no word (BuildKit's
    /// <c>wordsStruct</c>).
    /// </summary>
    private sealed class WordSplitter
    {
        private readonly List<string> _words = [];
        private readonly StringBuilder _word = new();
        private bool _inWord;

        public void AddChar(int ch)
        {
            if (IsSpace(ch))
            {
                if (_inWord && _word.Length != 0)
                {
                    _words.Add(_word.ToString());
                    _word.Clear();
                    _inWord = false;
                }
            }
            else
            {
                AddRawChar(ch);
            }
        }

        public void AddRawChar(int ch)
        {
            AppendRune(_word, ch);
            _inWord = true;
        }

        public void AddString(string text)
        {
            foreach (Rune rune in text.EnumerateRunes()) AddChar(rune.Value);
        }

        public void AddRawString(string text)
        {
            _word.Append(text);
            _inWord = true;
        }

        public List<string> Finish()
        {
            if (_word.Length > 0)
            {
                _words.Add(_word.ToString());
                _word.Clear();
                _inWord = false;
            }
            return _words;
        }
    }
}
