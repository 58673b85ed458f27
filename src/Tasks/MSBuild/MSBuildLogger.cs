using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Livrable.MSBuild;

/// <summary>
/// The engine's <see cref="Diagnostics.ILogger"/> on top of a task's log: progress at high importance (shown at
/// normal verbosity), details at low importance (detailed verbosity), warnings with their code and Dockerfile span.
/// Errors and warnings carry their code's help link (<see cref="Diagnostics.DiagnosticHelp"/>).
/// </summary>
public sealed class MSBuildLogger(TaskLoggingHelper log) : Diagnostics.ILogger
{
    /// <inheritdoc/>
    public void Info(string message) => log.LogMessage(MessageImportance.High, "{0}", message);

    /// <inheritdoc/>
    public void Detail(string message) => log.LogMessage(MessageImportance.Low, "{0}", message);

    /// <inheritdoc/>
    public void Warning(string code, string message, Diagnostics.SourceSpan? span = null)
        => log.LogWarning(subcategory: null, warningCode: code, helpKeyword: null, helpLink: Diagnostics.DiagnosticHelp.Link(code),
            file: span?.File, lineNumber: span?.Line ?? 0, columnNumber: span?.Column ?? 0,
            endLineNumber: span?.EndLine ?? 0, endColumnNumber: span?.EndColumn ?? 0,
            message: "{0}", messageArgs: message);

    /// <summary>
    /// Reports what the engine threw, once, at the task boundary: the <c>LIV</c> code, the message and the Dockerfile
    /// span where there is one as an MSBuild error; a bug's detail (its stack) at low importance.
    /// </summary>
    public static void Error(TaskLoggingHelper log, Exception exception)
    {
        var d = Diagnostics.Diagnostic.FromException(exception);
        log.LogError(subcategory: null, errorCode: d.Code, helpKeyword: null, helpLink: Diagnostics.DiagnosticHelp.Link(d.Code), file: d.Span?.File,
            lineNumber: d.Span?.Line ?? 0, columnNumber: d.Span?.Column ?? 0,
            endLineNumber: d.Span?.EndLine ?? 0, endColumnNumber: d.Span?.EndColumn ?? 0,
            message: "{0}", messageArgs: d.Message);
        if (d.Detail is not null) log.LogMessage(MessageImportance.Low, "{0}", d.Detail);
    }
}
