using Livrable.Build;
using Livrable.Diagnostics;
using Xunit;

namespace Livrable.Tests.MSBuild;

/// <summary>The .NET SDK's ContainerEntrypoint / ContainerAppCommand* semantics, which Livrable keeps.</summary>
public class EntrypointTests
{
    private static readonly string[] None = [];

    [Fact]
    public void SelfContainedAppStartsItsApphost()
        => Assert.Equal(["/app/hello"], EntrypointInference.InferAppCommand(["hello", "hello.dll", "libcoreclr.so"], "hello", "/app", selfContained: true));

    [Fact]
    public void FrameworkDependentAppStartsWithDotnetEvenWithAnApphost()
        => Assert.Equal(["dotnet", "/app/hello.dll"], EntrypointInference.InferAppCommand(["hello", "hello.dll"], "hello", "/app/", selfContained: false));

    [Fact]
    public void NoAppInThePublishOutputInfersNothing()
        => Assert.Null(EntrypointInference.InferAppCommand(["readme.txt"], "hello", "/app", selfContained: true));

    [Fact]
    public void ByDefaultTheAppCommandIsTheEntrypointAndDefaultArgsTheCmd()
    {
        var (entrypoint, cmd) = EntrypointInference.Resolve(None, ["/app/hello"], ["--urls", "http://+:80"], ["--verbose"], AppCommandInstruction.Unset);
        Assert.Equal(["/app/hello", "--urls", "http://+:80"], entrypoint);
        Assert.Equal(["--verbose"], cmd);
    }

    [Fact]
    public void WithAnEntrypointTheAppCommandGoesFirstInCmd()
    {
        var (entrypoint, cmd) = EntrypointInference.Resolve(["/tini", "--"], ["/app/hello"], None, ["x"], AppCommandInstruction.Unset);
        Assert.Equal(["/tini", "--"], entrypoint);
        Assert.Equal(["/app/hello", "x"], cmd);
    }

    [Fact]
    public void DefaultArgsKeepsTheBaseEntrypoint()
    {
        var (entrypoint, cmd) = EntrypointInference.Resolve(None, ["/app/hello"], None, None, AppCommandInstruction.DefaultArgs);
        Assert.Null(entrypoint);
        Assert.Equal(["/app/hello"], cmd);
    }

    [Fact]
    public void NoneKeepsTheBaseEntrypointAndRefusesAnAppCommand()
    {
        var (entrypoint, cmd) = EntrypointInference.Resolve(None, None, None, ["serve"], AppCommandInstruction.None);
        Assert.Null(entrypoint);
        Assert.Equal(["serve"], cmd);
        var e = Assert.Throws<LivrableException>(() => EntrypointInference.Resolve(None, ["/app/hello"], None, None, AppCommandInstruction.None));
        Assert.Equal(DiagnosticCodes.ConflictingEntrypoint, e.Code);
    }

    [Fact]
    public void EntrypointInstructionConflictsWithAnEntrypoint()
    {
        var e = Assert.Throws<LivrableException>(() => EntrypointInference.Resolve(["/bin/sh"], ["/app/hello"], None, None, AppCommandInstruction.Entrypoint));
        Assert.Equal(DiagnosticCodes.ConflictingEntrypoint, e.Code);
    }

    [Fact]
    public void AppCommandArgsNeedAnAppCommand()
    {
        var e = Assert.Throws<LivrableException>(() => EntrypointInference.Resolve(None, None, ["--x"], None, AppCommandInstruction.Unset));
        Assert.Equal(DiagnosticCodes.ConflictingEntrypoint, e.Code);
    }

    [Theory]
    [InlineData(null, AppCommandInstruction.Unset)]
    [InlineData("", AppCommandInstruction.Unset)]
    [InlineData("entrypoint", AppCommandInstruction.Entrypoint)]
    [InlineData("DefaultArgs", AppCommandInstruction.DefaultArgs)]
    [InlineData(" None ", AppCommandInstruction.None)]
    public void InstructionsParse(string? value, AppCommandInstruction expected)
        => Assert.Equal(expected, EntrypointInference.ParseInstruction(value));

    [Theory]
    [InlineData("Cmd")]
    [InlineData("Unset")]
    public void UnknownInstructionsAreLiv2003(string value)
        => Assert.Equal(DiagnosticCodes.InvalidPropertyValue, Assert.Throws<LivrableException>(() => EntrypointInference.ParseInstruction(value)).Code);
}
