using System.Text;
using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Go;

namespace Livrable.Dockerfile;

/// <summary>
/// The first phase's view of one instruction line: keyword, leading flags, then the arguments split the way the
/// keyword's line parser splits them. Mirrors BuildKit's <c>parser/split_command.go</c> and <c>parser/line_parsers.go</c>
/// (checklist 1.5 and 1.6), including their quirks: ADD/COPY/VOLUME/FROM/EXPOSE split on blanks without quote
/// handling, ENV/LABEL/ARG split quote-aware but keep the quotes, and a JSON array that does not decode silently falls
/// back to the shell form.
/// </summary>
internal static class LineParsers
{
    private enum Form { MaybeJson, MaybeJsonToList, Whitespace, String, NameValue, NameOrNameValue, Healthcheck, SubCommand, Ignore }

    private static readonly Dictionary<string, Form> Dispatch = new(StringComparer.Ordinal)
    {
        ["add"] = Form.MaybeJsonToList,
        ["arg"] = Form.NameOrNameValue,
        ["cmd"] = Form.MaybeJson,
        ["copy"] = Form.MaybeJsonToList,
        ["entrypoint"] = Form.MaybeJson,
        ["env"] = Form.NameValue,
        ["expose"] = Form.Whitespace,
        ["from"] = Form.Whitespace,
        ["healthcheck"] = Form.Healthcheck,
        ["label"] = Form.NameValue,
        ["maintainer"] = Form.String,
        ["onbuild"] = Form.SubCommand,
        ["run"] = Form.MaybeJson,
        ["shell"] = Form.MaybeJson,
        ["stopsignal"] = Form.String,
        ["user"] = Form.String,
        ["volume"] = Form.MaybeJsonToList,
        ["workdir"] = Form.String,
    };

    /// <summary>The keywords of the language, for "did you mean" suggestions.</summary>
    public static IEnumerable<string> Keywords => Dispatch.Keys;

    /// <summary>
    /// Parses <paramref name="line"/>'s text from <paramref name="start"/> (the whole line, or for an ONBUILD trigger
    /// the rest after ONBUILD) into a node. Unknown keywords parse (their arguments are ignored) and fail in the second phase.
    /// </summary>
    public static RawInstruction NewNode(LogicalLine line, int start, char escape)
    {
        var text = line.Text;
        var end = text.Length;
        while (end > start && char.IsWhiteSpace(text[end - 1]))
            end--;
        var keywordStart = start;
        while (keywordStart < end && char.IsWhiteSpace(text[keywordStart]))
            keywordStart++;
        var keywordEnd = keywordStart;
        while (keywordEnd < end && !IsTokenBlank(text[keywordEnd]))
            keywordEnd++;
        var keyword = text[keywordStart..keywordEnd];

        var flags = new List<Token>();
        var argsStart = end;
        if (keywordEnd < end)
        {
            var restStart = keywordEnd;
            while (restStart < end && IsTokenBlank(text[restStart]))
                restStart++;
            argsStart = ExtractBuilderFlags(text, restStart, end, flags, escape);
        }
        while (argsStart < end && char.IsWhiteSpace(text[argsStart]))
            argsStart++;
        var rest = text[argsStart..end];

        var node = new RawInstruction
        {
            Line = line,
            Keyword = keyword.ToLowerInvariant(),
            KeywordAsWritten = keyword,
            KeywordOffset = keywordStart,
            Original = text[start..],
            Flags = flags,
            ArgumentsOffset = argsStart,
        };

        var form = Dispatch.GetValueOrDefault(node.Keyword, Form.Ignore);
        switch (form)
        {
            case Form.MaybeJson:
                ParseMaybeJson(node, rest, argsStart);
                break;
            case Form.MaybeJsonToList:
                if (!TryParseJson(node, rest, argsStart))
                    node.Arguments = SplitWhitespace(rest, argsStart);
                break;
            case Form.Whitespace:
                node.Arguments = SplitWhitespace(rest, argsStart);
                break;
            case Form.String:
                if (rest.Length > 0)
                    node.Arguments = [new Token(rest, argsStart)];
                break;
            case Form.NameValue:
                ParseNameValue(node, rest, argsStart, escape);
                break;
            case Form.NameOrNameValue:
                node.Arguments = ParseWords(rest, argsStart, escape);
                break;
            case Form.Healthcheck:
                ParseHealthConfig(node, rest, argsStart);
                break;
            case Form.SubCommand:
                if (rest.Length > 0)
                {
                    var trigger = NewNode(line, argsStart, escape);
                    node.Trigger = trigger;
                    node.Arguments = [new Token(trigger.Keyword, trigger.KeywordOffset), .. trigger.Arguments];
                }
                break;
        }
        return node;
    }

    // BuildKit splits the keyword off with [\t\v\f\r ]+, not every Unicode blank.
    private static bool IsTokenBlank(char c) => c is ' ' or '\t' or '\v' or '\f' or '\r';

    /// <summary>
    /// BuildKit's <c>extractBuilderFlags</c>: the consecutive leading words that start with <c>--</c>, quotes removed and
    /// the Dockerfile's escape character applied (with <c># escape=`</c>, <c>--mount=source=C:\src</c> keeps its
    /// backslash); a bare <c>--</c> ends the flags and is dropped. Returns where the arguments start.
    /// </summary>
    private static int ExtractBuilderFlags(string line, int start, int end, List<Token> flags, char escape)
    {
        var word = new StringBuilder();
        var inWord = false;
        var inQuote = false;
        var quote = '\0';
        var blankOk = false;
        var wordStart = start;
        for (var pos = start; pos <= end; pos++)
        {
            var ch = pos < end ? line[pos] : '\0';
            if (!inWord && !inQuote)
            {
                if (pos == end)
                    break;
                if (char.IsWhiteSpace(ch))
                    continue;
                if (ch != '-' || pos + 1 == end || line[pos + 1] != '-')
                    return pos;
                inWord = true;
                wordStart = pos;
            }
            if (pos == end)
            {
                var w = word.ToString();
                if (w != "--" && (blankOk || w.Length > 0))
                    flags.Add(new Token(w, wordStart));
                break;
            }
            if (inQuote)
            {
                if (ch == quote)
                {
                    inQuote = false;
                    continue;
                }
                if (ch == escape)
                {
                    if (pos + 1 == end)
                    {
                        inQuote = false;
                        continue;
                    }
                    ch = line[++pos];
                }
                word.Append(ch);
                continue;
            }
            if (char.IsWhiteSpace(ch))
            {
                inWord = false;
                var w = word.ToString();
                if (w == "--")
                    return pos;
                if (blankOk || w.Length > 0)
                    flags.Add(new Token(w, wordStart));
                word.Clear();
                blankOk = false;
                continue;
            }
            if (ch is '\'' or '"')
            {
                quote = ch;
                blankOk = true;
                inQuote = true;
                continue;
            }
            if (ch == escape)
            {
                if (pos + 1 == end)
                    continue;
                ch = line[++pos];
            }
            word.Append(ch);
        }
        return end;
    }

    /// <summary>Go's <c>regexp.Split(rest, -1)</c> on <c>[\t\v\f\r ]+</c>: no quote handling at all.</summary>
    private static List<Token> SplitWhitespace(string rest, int offset)
    {
        var result = new List<Token>();
        if (rest.Length == 0)
            return result;
        var start = 0;
        for (var i = 0; i <= rest.Length; i++)
        {
            if (i < rest.Length && !IsTokenBlank(rest[i]))
                continue;
            result.Add(new Token(rest[start..i], offset + start));
            while (i < rest.Length && IsTokenBlank(rest[i]))
                i++;
            start = i;
            if (i == rest.Length)
                break;
            i--;
        }
        return result;
    }

    /// <summary>
    /// BuildKit's <c>parseWords</c>: words split on unquoted blanks; quotes and escapes are kept (the expander removes
    /// them). An escape before any character, a quote included, keeps both.
    /// </summary>
    private static List<Token> ParseWords(string rest, int offset, char escape)
    {
        var words = new List<Token>();
        var word = new StringBuilder();
        var inSpaces = true;
        var inQuote = false;
        var quote = '\0';
        var blankOk = false;
        var wordStart = 0;
        for (var pos = 0; pos <= rest.Length; pos++)
        {
            var ch = pos < rest.Length ? rest[pos] : '\0';
            if (inSpaces)
            {
                if (pos == rest.Length)
                    break;
                if (char.IsWhiteSpace(ch))
                    continue;
                inSpaces = false;
                wordStart = pos;
            }
            if (pos == rest.Length)
            {
                if (blankOk || word.Length > 0)
                    words.Add(new Token(word.ToString(), offset + wordStart));
                break;
            }
            if (!inQuote)
            {
                if (char.IsWhiteSpace(ch))
                {
                    inSpaces = true;
                    if (blankOk || word.Length > 0)
                        words.Add(new Token(word.ToString(), offset + wordStart));
                    word.Clear();
                    blankOk = false;
                    continue;
                }
                if (ch is '\'' or '"')
                {
                    quote = ch;
                    blankOk = true;
                    inQuote = true;
                }
                if (ch == escape)
                {
                    if (pos + 1 == rest.Length)
                        continue;
                    word.Append(ch);
                    ch = rest[++pos];
                }
                word.Append(ch);
                continue;
            }
            if (ch == quote)
                inQuote = false;
            if (ch == escape && quote != '\'')
            {
                if (pos + 1 == rest.Length)
                {
                    inQuote = false;
                    continue;
                }
                word.Append(ch);
                ch = rest[++pos];
            }
            word.Append(ch);
        }
        return words;
    }

    /// <summary>
    /// ENV and LABEL: <c>k=v ...</c> (every word must hold <c>=</c>), or the legacy <c>KEY value</c> when the first word
    /// has none, where the value is the whole rest of the line. Arguments come out as key, value, key, value...
    /// </summary>
    private static void ParseNameValue(RawInstruction node, string rest, int offset, char escape)
    {
        var words = ParseWords(rest, offset, escape);
        if (words.Count == 0)
            return;
        if (!words[0].Value.Contains('='))
        {
            var split = 0;
            while (split < rest.Length && !IsTokenBlank(rest[split]))
                split++;
            if (split == rest.Length)
                throw new LivrableException(DiagnosticCodes.InvalidKeyValuePair,
                    $"{node.Keyword.ToUpperInvariant()} must have two arguments", node.Line.SpanAt(offset, rest.Length));
            var valueStart = split;
            while (valueStart < rest.Length && IsTokenBlank(rest[valueStart]))
                valueStart++;
            node.IsLegacyKeyValue = true;
            node.Arguments = [new Token(rest[..split], offset), new Token(rest[valueStart..], offset + valueStart)];
            return;
        }
        var args = new List<Token>();
        foreach (var word in words)
        {
            var eq = word.Value.IndexOf('=');
            if (eq < 0)
                throw new LivrableException(DiagnosticCodes.InvalidKeyValuePair,
                    $"Syntax error - can't find = in {GoFormat.Quote(word.Value)}. Must be of the form: name=value",
                    node.Line.SpanAt(word.Offset, word.Value.Length));
            args.Add(new Token(word.Value[..eq], word.Offset));
            args.Add(new Token(word.Value[(eq + 1)..], word.Offset + eq + 1));
        }
        node.Arguments = args;
    }

    /// <summary>HEALTHCHECK: the type word, then the rest as RUN/CMD would take it.</summary>
    private static void ParseHealthConfig(RawInstruction node, string rest, int offset)
    {
        var sep = 0;
        while (sep < rest.Length && !char.IsWhiteSpace(rest[sep]))
            sep++;
        if (sep == 0)
            return;
        var next = sep;
        while (next < rest.Length && char.IsWhiteSpace(rest[next]))
            next++;
        var type = new Token(rest[..sep], offset);
        ParseMaybeJson(node, rest[next..], offset + next);
        node.Arguments.Insert(0, type);
    }

    /// <summary>RUN, CMD, ENTRYPOINT, SHELL: a JSON array, or the whole rest as one shell-form string.</summary>
    private static void ParseMaybeJson(RawInstruction node, string rest, int offset)
    {
        if (rest.Length == 0)
            return;
        if (!TryParseJson(node, rest, offset))
            node.Arguments = [new Token(rest, offset)];
    }

    /// <summary>
    /// BuildKit's <c>parseJSON</c>: the text must start with <c>[</c> and the whole of it must decode strictly as a JSON
    /// array; any failure means "not JSON" (the caller falls back), but an array holding a non-string is an error.
    /// </summary>
    private static bool TryParseJson(RawInstruction node, string rest, int offset)
    {
        var trimmed = rest.TrimStart();
        if (!trimmed.StartsWith('['))
            return false;
        var jsonOffset = offset + (rest.Length - trimmed.Length);
        List<string> values;
        try
        {
            using var document = JsonDocument.Parse(trimmed, new JsonDocumentOptions { MaxDepth = 1000 });
            if (document.RootElement.ValueKind != JsonValueKind.Array)
                return false;
            values = [];
            foreach (var element in document.RootElement.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.String)
                    throw new LivrableException(DiagnosticCodes.JsonArrayNotStrings,
                        "when using JSON array syntax, arrays must be comprised of strings only",
                        node.Line.SpanAt(jsonOffset, trimmed.Length));
                values.Add(StringValue(element));
            }
        }
        catch (JsonException)
        {
            return false;
        }
        node.IsJson = true;
        node.Arguments = values.Select(v => new Token(v, jsonOffset)).ToList();
        return true;
    }

    /// <summary>
    /// A JSON string's value. .NET refuses a lone surrogate escape (<c>"\ud800"</c>) that Go's <c>encoding/json</c>
    /// decodes as U+FFFD; such a string is decoded here the way Go does, so the instruction stays in exec form.
    /// </summary>
    private static string StringValue(JsonElement element)
    {
        try
        {
            return element.GetString()!;
        }
        catch (InvalidOperationException)
        {
            string raw = element.GetRawText();
            var value = new StringBuilder(raw.Length);
            for (int i = 1; i < raw.Length - 1; i++)
            {
                if (raw[i] != '\\')
                {
                    value.Append(raw[i]);
                    continue;
                }
                char kind = raw[++i];
                if (kind != 'u')
                {
                    value.Append(kind switch { 'b' => '\b', 'f' => '\f', 'n' => '\n', 'r' => '\r', 't' => '\t', _ => kind });
                    continue;
                }
                char unit = (char)Convert.ToUInt16(raw.Substring(i + 1, 4), 16);
                i += 4;
                if (!char.IsSurrogate(unit))
                {
                    value.Append(unit);
                    continue;
                }
                // Go: a surrogate pair only when a high one is followed by a \u low one; else U+FFFD and go on.
                if (char.IsHighSurrogate(unit) && i + 6 < raw.Length - 1 && raw[i + 1] == '\\' && raw[i + 2] == 'u'
                    && (char)Convert.ToUInt16(raw.Substring(i + 3, 4), 16) is char low && char.IsLowSurrogate(low))
                {
                    value.Append(unit).Append(low);
                    i += 6;
                    continue;
                }
                value.Append('\uFFFD');
            }
            return value.ToString();
        }
    }
}
