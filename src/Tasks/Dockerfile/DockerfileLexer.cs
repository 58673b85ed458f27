using System.Text;
using System.Text.RegularExpressions;
using Livrable.Diagnostics;

namespace Livrable.Dockerfile;

/// <summary>
/// The first phase (BuildKit's <c>parser.Parse</c>, checklist section 1): text to instruction nodes. Handles the byte
/// order mark, CRLF, the line length limit, parser directives at the top, comments (dropped inside continuations),
/// line continuations with the escape character in force, and heredoc bodies of RUN, COPY and ADD.
/// </summary>
internal sealed partial class DockerfileLexer
{
    /// <summary>bufio.MaxScanTokenSize - 1: BuildKit cannot read a longer physical line.</summary>
    public const int MaxLineBytes = 65535;

    // Go's \s is [\t\n\f\r ], narrower than .NET's.
    [GeneratedRegex(@"^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$")]
    private static partial Regex Directive();

    private readonly SpanMapper _spans;
    private readonly DockerfileWarnings _warnings;
    private readonly HashSet<string> _seenDirectives = new(StringComparer.Ordinal);
    private bool _directivesDone;
    private char _escape = '\\';
    private string? _syntax;
    private string? _check;
    private SourceSpan? _syntaxSpan;

    public DockerfileLexer(SpanMapper spans, DockerfileWarnings warnings)
    {
        _spans = spans;
        _warnings = warnings;
    }

    /// <summary>The directives found at the top (valid once <see cref="Lex"/> has run).</summary>
    public ParserDirectives Directives => new(_syntax, _escape, _check);

    /// <summary>Where <c># syntax=</c> was, for its warning.</summary>
    public SourceSpan? SyntaxSpan => _syntaxSpan;

    /// <summary>The last physical line number (1-based), for errors about the file as a whole.</summary>
    public int LineCount { get; private set; }

    /// <summary>Reads the whole text into instruction nodes.</summary>
    public List<RawInstruction> Lex(string text)
    {
        if (text.StartsWith('\uFEFF'))
            text = text[1..];
        var lines = SplitLines(text);
        LineCount = lines.Count;
        var nodes = new List<RawInstruction>();
        var i = 0;
        while (i < lines.Count)
        {
            var physical = TrimNewline(lines[i]);
            var indent = LeadingWhitespace(physical);
            var token = physical[indent..];
            PossibleDirective(token, i + 1, indent);
            var processed = IsComment(token) ? "" : token;
            i++;
            var startLine = i;

            var (first, isEnd) = TrimContinuation(processed);
            if (isEnd && first.Length == 0)
                continue;

            var line = new LogicalLine(_spans, startLine);
            line.Append(first, startLine, indent + 1);
            line.EndColumn = physical.Length + 1;
            var hasEmptyContinuation = false;
            while (!isEnd && i < lines.Count)
            {
                var content = TrimNewline(lines[i]);
                i++;
                // BuildKit counts every line the continuation consumed, so one that runs to the end of the file
                // ends on the last line, blank and comment lines included.
                line.EndLine = i;
                line.EndColumn = content.Length + 1;
                if (IsComment(content))
                    continue;
                if (LeadingWhitespace(content) == content.Length)
                {
                    hasEmptyContinuation = true;
                    continue;
                }
                (var next, isEnd) = TrimContinuation(content);
                line.Append(next, i, 1);
            }

            var node = LineParsers.NewNode(line, 0, _escape);
            if (hasEmptyContinuation)
                _warnings.Add(DiagnosticCodes.EmptyContinuationLine, "NoEmptyContinuation",
                    "Empty continuation line found in: " + line.Text.Trim(), line.SpanAt(node.KeywordOffset));

            if (node.CanContainHeredoc && line.Text.Contains("<<", StringComparison.Ordinal))
                i = ReadHeredocBodies(node, lines, i);
            nodes.Add(node);
        }
        return nodes;
    }

    private int ReadHeredocBodies(RawInstruction node, List<string> lines, int i)
    {
        foreach (var (name, expand, chomp, fd, offset) in HeredocLexer.FromLine(node.Line.Text, node.Line))
        {
            var content = new StringBuilder();
            var terminated = false;
            while (i < lines.Count)
            {
                var raw = lines[i];
                i++;
                var candidate = TrimNewline(raw);
                if (chomp)
                    candidate = candidate.TrimStart('\t');
                node.Line.EndLine = i;
                node.Line.EndColumn = TrimNewline(raw).Length + 1;
                if (candidate == name)
                {
                    terminated = true;
                    break;
                }
                // The body is kept exactly as written, line endings included (BuildKit writes the scanned bytes).
                content.Append(raw);
            }
            if (!terminated)
            {
                var at = node.Line.SpanAt(offset);
                throw new LivrableException(DiagnosticCodes.UnterminatedHeredoc,
                    $"unterminated heredoc {name}: no line \"{name}\" before the end of the file",
                    _spans.At(at.Line, at.Column, LineCount, 1));
            }
            node.Heredocs.Add(new RawHeredoc(name, content.ToString(), expand, chomp, fd, offset));
        }
        return i;
    }

    /// <summary>
    /// Lines split on <c>\n</c>, each keeping its line ending (heredoc bodies need it). A last line without one counts;
    /// nothing after a final newline does. A physical line over 65535 bytes fails as it does in BuildKit.
    /// </summary>
    private List<string> SplitLines(string text)
    {
        var lines = new List<string>();
        var start = 0;
        while (start < text.Length)
        {
            var nl = text.IndexOf('\n', start);
            var end = nl < 0 ? text.Length : nl + 1;
            var line = text[start..end];
            var contentLength = nl < 0 ? line.Length : line.Length - 1;
            if (contentLength > MaxLineBytes / 3 && Encoding.UTF8.GetByteCount(line.AsSpan(0, contentLength)) > MaxLineBytes)
                throw new LivrableException(DiagnosticCodes.DockerfileLineTooLong,
                    $"dockerfile line greater than max allowed size of {MaxLineBytes}", _spans.At(lines.Count + 1, 1));
            lines.Add(line);
            start = end;
        }
        return lines;
    }

    /// <summary>
    /// Parser directives (checklist 1.2): only before the first line that is not one. An unknown key ends the section
    /// (the line is then an ordinary comment); a known key twice and an invalid escape are errors.
    /// </summary>
    private void PossibleDirective(string token, int lineNumber, int indent)
    {
        if (_directivesDone)
            return;
        var match = Directive().Match(token);
        if (!match.Success)
        {
            _directivesDone = true;
            return;
        }
        var key = match.Groups[1].Value.ToLowerInvariant();
        if (key is not ("syntax" or "escape" or "check"))
        {
            _directivesDone = true;
            return;
        }
        var span = _spans.At(lineNumber, indent + 1);
        if (!_seenDirectives.Add(key))
            throw new LivrableException(DiagnosticCodes.DuplicateParserDirective, $"only one {key} parser directive can be used", span);
        var value = match.Groups[2].Value;
        switch (key)
        {
            case "escape":
                if (value is not ("`" or "\\"))
                    throw new LivrableException(DiagnosticCodes.InvalidEscapeDirective,
                        $"invalid escape token '{value}' does not match ` or \\", _spans.At(lineNumber, indent + match.Groups[2].Index + 1));
                _escape = value[0];
                break;
            case "syntax":
                _syntax = value;
                _syntaxSpan = span;
                break;
            case "check":
                _check = value;
                _warnings.Configure(value, span);
                break;
        }
    }

    /// <summary>
    /// The escape character followed only by blanks at the end of a line continues it, unless it is itself escaped
    /// (BuildKit's <c>([^E])E[ \t]*$|^E[ \t]*$</c>, which keeps the character before).
    /// </summary>
    private (string Line, bool IsEnd) TrimContinuation(string line)
    {
        var end = line.Length;
        while (end > 0 && line[end - 1] is ' ' or '\t')
            end--;
        if (end == 0 || line[end - 1] != _escape)
            return (line, true);
        if (end >= 2 && line[end - 2] == _escape)
            return (line, true);
        return (line[..(end - 1)], false);
    }

    private static string TrimNewline(string line) => line.TrimEnd('\r', '\n');

    private static int LeadingWhitespace(string line)
    {
        var i = 0;
        while (i < line.Length && char.IsWhiteSpace(line[i]))
            i++;
        return i;
    }

    private static bool IsComment(string line)
    {
        var i = LeadingWhitespace(line);
        return i < line.Length && line[i] == '#';
    }
}
