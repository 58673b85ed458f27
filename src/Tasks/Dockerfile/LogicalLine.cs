using System.Text;
using Livrable.Diagnostics;

namespace Livrable.Dockerfile;

/// <summary>
/// Turns 1-based line and column numbers into spans of one file. A trigger parsed downstream
/// (<see cref="DockerfileParser.ParseTrigger"/>) has no place of its own in the file being built, so every position
/// of it maps to the one span it was given.
/// </summary>
internal sealed class SpanMapper
{
    private readonly string _path;
    private readonly SourceSpan? _fixed;

    private SpanMapper(string path, SourceSpan? fixedSpan)
    {
        _path = path;
        _fixed = fixedSpan;
    }

    public static SpanMapper ForFile(string path) => new(path, null);

    public static SpanMapper Fixed(SourceSpan span) => new(span.File, span);

    public SourceSpan At(int line, int column, int endLine = 0, int endColumn = 0) =>
        _fixed ?? new SourceSpan(_path, line, column, endLine, endColumn);
}

/// <summary>
/// One instruction's text after continuation lines are joined (BuildKit's <c>Node.Original</c>), with the physical
/// line and column of each of its characters, so that an error about any argument points where it was written.
/// </summary>
internal sealed class LogicalLine
{
    private readonly StringBuilder _text = new();
    private readonly List<(int Line, int Column)> _positions = [];

    public LogicalLine(SpanMapper spans, int startLine)
    {
        Spans = spans;
        StartLine = startLine;
        EndLine = startLine;
    }

    public SpanMapper Spans { get; }

    public int StartLine { get; }

    /// <summary>The last physical line of the instruction, heredoc bodies included.</summary>
    public int EndLine { get; set; }

    /// <summary>The column just past the last character of <see cref="EndLine"/>.</summary>
    public int EndColumn { get; set; } = 1;

    private string? _joined;

    /// <summary>
    /// The joined text, made once after the last <see cref="Append"/>: making it at every append copied the line so
    /// far once per continuation line, quadratic in the instruction's length (issue 10: a LABEL of 100k continued pairs
    /// took minutes).
    /// </summary>
    public string Text => _joined ??= _text.ToString();

    /// <summary>Appends <paramref name="segment"/>, whose first character is at <paramref name="line"/>, <paramref name="column"/>.</summary>
    public void Append(string segment, int line, int column)
    {
        _text.Append(segment);
        for (var i = 0; i < segment.Length; i++)
            _positions.Add((line, column + i));
        _joined = null;
    }

    /// <summary>The span of the characters [offset, offset + length) of <see cref="Text"/>.</summary>
    public SourceSpan SpanAt(int offset, int length = 0)
    {
        if (_positions.Count == 0)
            return Spans.At(StartLine, 1);
        var start = _positions[Math.Clamp(offset, 0, _positions.Count - 1)];
        if (length <= 0)
            return Spans.At(start.Line, start.Column);
        var end = _positions[Math.Clamp(offset + length - 1, 0, _positions.Count - 1)];
        return Spans.At(start.Line, start.Column, end.Line, end.Column + 1);
    }

    /// <summary>The span of the whole instruction: from its keyword to the end of its last line (heredocs included).</summary>
    public SourceSpan SpanFrom(int keywordOffset)
    {
        if (_positions.Count == 0)
            return Spans.At(StartLine, 1, EndLine, EndColumn);
        var start = _positions[Math.Clamp(keywordOffset, 0, _positions.Count - 1)];
        return Spans.At(start.Line, start.Column, EndLine, EndColumn);
    }
}
