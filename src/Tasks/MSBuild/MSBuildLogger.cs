using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Livrable.MSBuild;

/// <summary>
/// The engine's <see cref="Diagnostics.ILogger"/> on top of a task's log: progress at high importance (shown at
/// normal verbosity), details at low importance (detailed verbosity), warnings with their code and Dockerfile span.
/// </summary>
public sealed class MSBuildLogger(TaskLoggingHelper log) : Diagnostics.ILogger
{
    /// <inheritdoc/>
    public void Info(string message) => log.LogMessage(MessageImportance.High, "{0}", message);

    /// <inheritdoc/>
    public void Detail(string message) => log.LogMessage(MessageImportance.Low, "{0}", message);

    /// <inheritdoc/>
    public void Warning(string code, string message, Diagnostics.SourceSpan? span = null)
        => log.LogWarning(subcategory: null, warningCode: code, helpKeyword: null,
            file: span?.File, lineNumber: span?.Line ?? 0, columnNumber: span?.Column ?? 0,
            endLineNumber: span?.EndLine ?? 0, endColumnNumber: span?.EndColumn ?? 0,
            message: "{0}", messageArgs: message);
}
