using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Xunit;

namespace Livrable.Tests.Dockerfile;

/// <summary>A logger that keeps the parser's warnings with their codes and spans.</summary>
internal sealed class WarningLog : ILogger
{
    public List<(string Code, string Message, SourceSpan? Span)> Warnings { get; } = [];

    public IEnumerable<string> Codes => Warnings.Select(w => w.Code);

    public void Info(string message) { }

    public void Detail(string message) { }

    public void Warning(string code, string message, SourceSpan? span = null) => Warnings.Add((code, message, span));
}

internal static class Df
{
    public const string Path = "Dockerfile";

    public static DockerfileDocument Parse(string text) => DockerfileParser.Parse(Path, text, NullLogger.Instance);

    public static DockerfileDocument Parse(string text, out WarningLog log)
    {
        log = new WarningLog();
        return DockerfileParser.Parse(Path, text, log);
    }

    /// <summary>The instructions of the first stage of <c>FROM base</c> + <paramref name="body"/>.</summary>
    public static IReadOnlyList<Instruction> Body(string body) => Parse("FROM base\n" + body).Stages[0].Instructions;

    /// <summary>The single instruction of <c>FROM base</c> + <paramref name="body"/>, as <typeparamref name="T"/>.</summary>
    public static T One<T>(string body) where T : Instruction
    {
        var instructions = Body(body);
        Assert.Single(instructions);
        return Assert.IsType<T>(instructions[0]);
    }

    public static LivrableException Fails(string text)
    {
        var error = Assert.Throws<LivrableException>(() => Parse(text));
        Assert.NotNull(error.Span);
        Assert.Equal(Path, error.Span!.Value.File);
        return error;
    }
}
