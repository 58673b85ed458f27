namespace Livrable.Diagnostics;

/// <summary>
/// Where the engine reports progress and warnings. The engine knows nothing of MSBuild; the task classes
/// adapt this to <c>TaskLoggingHelper</c>, tests to a list. Errors are not logged here: they are thrown as
/// <see cref="LivrableException"/> and reported once, at the task boundary.
/// </summary>
public interface ILogger
{
    /// <summary>A line the user should see at normal verbosity (a step starting, bytes pushed, the final reference).</summary>
    void Info(string message);

    /// <summary>A line for detailed verbosity only (each blob skipped, each HTTP retry).</summary>
    void Detail(string message);

    /// <summary>A warning with its <c>LIV</c> code; <paramref name="span"/> points into the Dockerfile where known.</summary>
    void Warning(string code, string message, SourceSpan? span = null);
}

/// <summary>A logger that drops everything; for callers that do not care.</summary>
public sealed class NullLogger : ILogger
{
    public static readonly NullLogger Instance = new();
    public void Info(string message) { }
    public void Detail(string message) { }
    public void Warning(string code, string message, SourceSpan? span = null) { }
}
