using Livrable.Cli.Protocol;
using Livrable.Diagnostics;

namespace Livrable.Cli;

/// <summary>
/// The engine's <see cref="ILogger"/> as protocol lines (<see cref="LogLine"/>) on a writer, one JSON object per line.
/// Lines are written whole under a lock, since layers are written concurrently.
/// </summary>
internal sealed class LineLogger(TextWriter output) : ILogger
{
    private readonly object _gate = new();

    /// <inheritdoc/>
    public void Info(string message) => Write(new LogLine { Kind = LogLine.Info, Message = message });

    /// <inheritdoc/>
    public void Detail(string message) => Write(new LogLine { Kind = LogLine.Detail, Message = message });

    /// <inheritdoc/>
    public void Warning(string code, string message, SourceSpan? span = null)
        => Write(WithSpan(new LogLine { Kind = LogLine.Warning, Code = code, Message = message }, span));

    /// <summary>An error from the task boundary, and its detail (a bug's stack) as a detail line.</summary>
    public void Error(Diagnostic diagnostic)
    {
        Write(WithSpan(new LogLine { Kind = LogLine.Error, Code = diagnostic.Code, Message = diagnostic.Message }, diagnostic.Span));
        if (diagnostic.Detail is not null) Detail(diagnostic.Detail);
    }

    /// <summary>Writes one line and flushes it, so the task relays it while the build goes on.</summary>
    public void Write(LogLine line)
    {
        string json = line.ToJson();
        lock (_gate)
        {
            output.WriteLine(json);
            output.Flush();
        }
    }

    private static LogLine WithSpan(LogLine line, SourceSpan? span)
    {
        if (span is { } s)
        {
            line.File = s.File;
            line.Line = s.Line;
            line.Column = s.Column;
            line.EndLine = s.EndLine;
            line.EndColumn = s.EndColumn;
        }
        return line;
    }
}
