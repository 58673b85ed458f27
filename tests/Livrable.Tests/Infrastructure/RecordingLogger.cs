using Livrable.Diagnostics;

namespace Livrable.Tests.Infrastructure;

/// <summary>A logger that keeps every line, prefixed by its level (<c>info: </c>, <c>detail: </c>, <c>warning LIVnnnn: </c>), for assertions.</summary>
public sealed class RecordingLogger : ILogger
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines
    {
        get { lock (_lines) return _lines.ToList(); }
    }

    public void Info(string message) => Add("info: " + message);
    public void Detail(string message) => Add("detail: " + message);
    public void Warning(string code, string message, SourceSpan? span = null) => Add($"warning {code}: {message}");

    public void Clear()
    {
        lock (_lines) _lines.Clear();
    }

    private void Add(string line)
    {
        lock (_lines) _lines.Add(line);
    }
}
