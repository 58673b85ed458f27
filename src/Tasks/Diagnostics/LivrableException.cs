namespace Livrable.Diagnostics;

/// <summary>
/// The one exception type the engine throws for anything a user can act on. It carries a <c>LIV</c> code from
/// <see cref="DiagnosticCodes"/> and, for Dockerfile problems, the span to point at. The task boundary turns it into an
/// MSBuild error; anything else that escapes is an internal error (LIV9001).
/// </summary>
public sealed class LivrableException : Exception
{
    public LivrableException(string code, string message, SourceSpan? span = null, Exception? inner = null)
        : base(message, inner)
    {
        if (!DiagnosticCodes.IsKnown(code))
            throw new ArgumentException($"'{code}' is not a code in DiagnosticCodes.", nameof(code));
        Code = code;
        Span = span;
    }

    /// <summary>The diagnostic code, <c>LIV</c> and four digits.</summary>
    public string Code { get; }

    /// <summary>Where in the Dockerfile, when the problem is in one.</summary>
    public SourceSpan? Span { get; }
}
