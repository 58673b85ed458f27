namespace Livrable.Diagnostics;

/// <summary>
/// One error as the task boundary reports it: the code, the message, where in a source file, and for a bug the stack
/// to log at low importance. Every boundary (the net8.0 task, <c>Livrable.Cli</c>) turns exceptions into errors through
/// <see cref="FromException"/>, so the same failure reads the same wherever the engine ran.
/// </summary>
public sealed record Diagnostic(string Code, string Message, SourceSpan? Span = null, string? Detail = null)
{
    /// <summary>
    /// <see cref="LivrableException"/> keeps its code and span; cancellation is LIV9002; anything else is a bug, LIV9001,
    /// with the exception's text as <see cref="Detail"/>.
    /// </summary>
    public static Diagnostic FromException(Exception exception) => exception switch
    {
        LivrableException e => new Diagnostic(e.Code, e.Message, e.Span),
        OperationCanceledException => new Diagnostic(DiagnosticCodes.Cancelled, "The image build was cancelled."),
        _ => new Diagnostic(DiagnosticCodes.Internal,
            $"Livrable failed unexpectedly ({exception.GetType().Name}): {exception.Message}", Detail: exception.ToString()),
    };
}
