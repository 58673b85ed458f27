using Livrable.Dockerfile;
using Livrable.Images;
using Xunit;
using static Livrable.Tests.Build.Dockerfile.DockerfileHarness;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// ARG and ENV as BuildKit scopes them (the checklist's sections 4 and 5): the later declaration wins in the build
/// environment, only ENV reaches <c>Config.Env</c>, a build argument overrides a default and is not expanded, meta
/// ARGs are seen by FROM only until a stage redeclares them. A LABEL shows what expansion saw.
/// </summary>
public sealed class ArgEnvPrecedenceTests : IDisposable
{
    private readonly DockerfileHarness _h = new();

    public void Dispose() => _h.Dispose();

    private async Task<(string? Seen, IReadOnlyList<string>? Env)> SeenAsync(Instruction[] instructions,
        IReadOnlyList<ArgInstruction>? globals = null, Dictionary<string, string>? buildArgs = null, Platform? platform = null)
    {
        var (config, _) = await _h.BuildAsync(Document(globals ?? [], Stage(0, "scratch", null, [.. instructions, Label(("seen", "$X"))])),
            buildArgs, platform: platform);
        return (Label(config, "seen"), Strings(ContainerConfig(config), "Env"));
    }

    [Fact]
    public async Task ARG_after_ENV_wins_in_the_build_environment_but_Config_Env_keeps_the_ENV()
    {
        var (seen, env) = await SeenAsync([Env(("X", "1")), Arg(("X", "2"))]);
        Assert.Equal("2", seen);
        Assert.Contains("X=1", env!);
    }

    [Fact]
    public async Task ENV_after_ARG_wins()
        => Assert.Equal("1", (await SeenAsync([Arg(("X", "2")), Env(("X", "1"))])).Seen);

    [Fact]
    public async Task An_ARG_without_value_does_not_clobber_an_ENV()
        => Assert.Equal("1", (await SeenAsync([Env(("X", "1")), Arg(("X", null))])).Seen);

    [Fact]
    public async Task A_build_argument_overrides_the_default_and_is_not_expanded()
    {
        var (seen, env) = await SeenAsync([Arg(("X", "default"))], buildArgs: new() { ["X"] = "$HOME" });
        Assert.Equal("$HOME", seen);
        Assert.DoesNotContain(env!, e => e.StartsWith("X=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_undeclared_build_argument_is_invisible_and_warned_about()
    {
        var (seen, _) = await SeenAsync([], buildArgs: new() { ["X"] = "1", ["HTTP_PROXY"] = "http://proxy" });
        Assert.Equal("", seen);
        Assert.Contains(_h.Logger.Lines, l => l.StartsWith("warning LIV1120: The build argument X was not consumed", StringComparison.Ordinal));
        Assert.DoesNotContain(_h.Logger.Lines, l => l.Contains("HTTP_PROXY", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ENV_pairs_see_the_environment_before_the_instruction_and_ARG_pairs_are_sequential()
    {
        var (config, _) = await _h.BuildAsync(Document(Stage(0, "scratch", null,
            Env(("X", "old")), Env(("X", "new"), ("Y", "$X")), Arg(("A", "1"), ("B", "$A")), Label(("y", "$Y"), ("b", "$B")))));
        Assert.Equal("old", Label(config, "y"));
        Assert.Equal("1", Label(config, "b"));
    }

    [Fact]
    public async Task A_meta_ARG_is_seen_by_FROM_and_inside_a_stage_only_once_redeclared()
    {
        ArgInstruction[] globals = [Arg(("BASE", "scratch"), ("X", "meta"))];
        var from = new FromInstruction(At(1), "FROM $BASE", "$BASE", null, null);
        var (config, _) = await _h.BuildAsync(Document(globals, Stage(0, from, Label(("before", "$X")), Arg(("X", null)), Label(("after", "$X")))));
        Assert.Equal("", Label(config, "before"));
        Assert.Equal("meta", Label(config, "after"));
        Assert.Empty(_h.Opened); // $BASE was scratch
        Assert.DoesNotContain(_h.Logger.Lines, l => l.StartsWith("warning", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_build_argument_overrides_a_meta_ARG_for_FROM()
    {
        _h.Images["other"] = await Infrastructure.TestImages.SimpleAsync(_h.Store);
        ArgInstruction[] globals = [Arg(("BASE", "scratch"))];
        var from = new FromInstruction(At(1), "FROM $BASE", "$BASE", null, null);
        await _h.BuildAsync(Document(globals, Stage(0, from)), new Dictionary<string, string> { ["BASE"] = "other" });
        Assert.Equal(["other"], _h.Opened);
    }

    [Theory]
    [InlineData("linux-x64", "linux/amd64", "amd64", "")]
    [InlineData("linux-arm64", "linux/arm64", "arm64", "")]
    [InlineData("linux-arm", "linux/arm/v7", "arm", "v7")]
    public async Task Automatic_platform_arguments_are_meta_ARGs(string rid, string platform, string arch, string variant)
    {
        var (config, _) = await _h.BuildAsync(Document(Stage(0, "scratch", "final",
                Arg(("TARGETPLATFORM", null), ("TARGETARCH", null), ("TARGETVARIANT", null), ("TARGETOS", null), ("TARGETSTAGE", null), ("BUILDOS", null)),
                Label(("p", "$TARGETPLATFORM"), ("a", "$TARGETARCH"), ("v", "$TARGETVARIANT"), ("o", "$TARGETOS"), ("s", "$TARGETSTAGE"), ("b", "$BUILDOS")))),
            platform: Platform.FromRuntimeIdentifier(rid));
        Assert.Equal(platform, Label(config, "p"));
        Assert.Equal(arch, Label(config, "a"));
        Assert.Equal(variant, Label(config, "v"));
        Assert.Equal("linux", Label(config, "o"));
        Assert.Equal("final", Label(config, "s"));
        Assert.Equal("linux", Label(config, "b"));
    }

    [Fact]
    public async Task A_child_stage_inherits_the_parents_ARG_values_and_ENV()
    {
        var (config, _) = await _h.BuildAsync(Document(
            Stage(0, "scratch", "base", Arg(("X", "from-arg")), Env(("E", "e"))),
            Stage(1, "base", null, Label(("x", "$X"), ("e", "$E")))));
        Assert.Equal("from-arg", Label(config, "x"));
        Assert.Equal("e", Label(config, "e"));
    }
}
