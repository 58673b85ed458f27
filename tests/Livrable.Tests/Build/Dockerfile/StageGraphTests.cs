using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Tests.Infrastructure;
using Xunit;
using static Livrable.Tests.Build.Dockerfile.DockerfileHarness;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>Multi-stage builds: which stages are built, which one is the target, and the errors BuildKit gives.</summary>
public sealed class StageGraphTests : IDisposable
{
    private readonly DockerfileHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public async Task Only_the_stages_the_target_needs_are_built_so_a_RUN_elsewhere_does_not_matter()
    {
        var (config, result) = await _h.BuildAsync(Document(
            Stage(0, "scratch", "base", Label(("base", "1"))),
            Stage(1, "scratch", "unused", Run("make")),
            Stage(2, "base", "final", Label(("final", "1")))));
        Assert.Equal("1", Label(config, "base"));
        Assert.Equal("final", result.Stage);
        Assert.DoesNotContain(_h.Logger.Lines, l => l.Contains("unused", StringComparison.Ordinal));
        Assert.Contains(_h.Logger.Lines, l => l.StartsWith("info: [1/", StringComparison.Ordinal) && l.Contains("FROM scratch", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_RUN_in_a_built_stage_runs_and_its_failure_is_LIV5002_at_its_line()
    {
        // FROM scratch has no /bin/sh: runc cannot start the command, and says so in the last lines.
        var run = Run("apt-get update");
        var e = await Assert.ThrowsAsync<LivrableException>(() => _h.BuildAsync(Document(Stage(0, "scratch", "a", Label(("x", "1")), run))));
        Assert.Equal("LIV5002", e.Code);
        Assert.Equal(run.Span, e.Span);
        Assert.Contains("/bin/sh", e.Message);
    }

    [Fact]
    public async Task The_target_can_be_any_stage_by_name_in_any_case()
    {
        var (config, result) = await _h.BuildAsync(Document(
            Stage(0, "scratch", "build", Label(("which", "build"))),
            Stage(1, "scratch", "final", Run("never"))), target: "BUILD");
        Assert.Equal("build", Label(config, "which"));
        Assert.Equal("build", result.Stage);
    }

    [Fact]
    public async Task An_unknown_target_is_LIV1100_naming_the_stages()
    {
        var e = await Assert.ThrowsAsync<LivrableException>(() => _h.BuildAsync(Document(Stage(0, "scratch", "build")), target: "nope"));
        Assert.Equal("LIV1100", e.Code);
        Assert.Contains("build", e.Message);
    }

    [Fact]
    public async Task Stages_that_copy_from_each_other_are_a_circle_LIV1101()
    {
        var e = await Assert.ThrowsAsync<LivrableException>(() => _h.BuildAsync(Document(
            Stage(0, "scratch", "a", Copy("b", "/x", "/x")),
            Stage(1, "scratch", "b", Copy("a", "/y", "/y")))));
        Assert.Equal("LIV1101", e.Code);
        Assert.StartsWith("circular dependency detected on stage", e.Message);
    }

    [Fact]
    public async Task COPY_from_a_later_stage_is_LIV1104()
    {
        var copy = Copy("later", "/x", "/x");
        var e = await Assert.ThrowsAsync<LivrableException>(() => _h.BuildAsync(Document(
            Stage(0, "scratch", "first", copy),
            Stage(1, "scratch", "later"),
            Stage(2, "first", "final"))));
        Assert.Equal("LIV1104", e.Code);
        Assert.Equal(copy.Span, e.Span);
    }

    [Fact]
    public async Task COPY_from_an_index_out_of_range_is_LIV1100_and_a_variable_LIV1103()
    {
        var e = await Assert.ThrowsAsync<LivrableException>(() => _h.BuildAsync(Document(Stage(0, "scratch", null, Copy("7", "/x", "/x")))));
        Assert.Equal("LIV1100", e.Code);
        Assert.Equal("invalid stage index 7", e.Message);
        e = await Assert.ThrowsAsync<LivrableException>(() => _h.BuildAsync(Document(Stage(0, "scratch", null, Copy("$STAGE", "/x", "/x")))));
        Assert.Equal("LIV1103", e.Code);
    }

    [Fact]
    public async Task A_FROM_that_names_an_earlier_stage_inherits_its_config_and_history()
    {
        var (config, _) = await _h.BuildAsync(Document(
            Stage(0, "scratch", "base", Env(("A", "1")), User("app")),
            Stage(1, "base", null, Label(("l", "2")))));
        Assert.Contains("A=1", Strings(ContainerConfig(config), "Env")!);
        Assert.Equal("app", ContainerConfig(config).GetProperty("User").GetString());
        Assert.Equal(["ENV A=1", "USER app", "LABEL l=2"], History(config).Select(h => h.CreatedBy));
        Assert.Empty(_h.Opened); // scratch is no image to open
    }

    [Fact]
    public async Task ONBUILD_triggers_of_a_base_stage_run_first_in_the_child_and_are_not_inherited()
    {
        var (config, _) = await _h.BuildAsync(Document(
            Stage(0, "scratch", "base", Onbuild("ENV TRIGGERED=yes", Env(("TRIGGERED", "yes")))),
            Stage(1, "base", null, Label(("t", "$TRIGGERED")))));
        Assert.Equal("yes", Label(config, "t"));
        Assert.False(ContainerConfig(config).TryGetProperty("OnBuild", out _));
        Assert.Equal(["ENV TRIGGERED=yes", "LABEL t=yes"], History(config).Select(h => h.CreatedBy));
    }

    [Fact]
    public async Task A_named_context_wins_over_the_registry_for_FROM_under_any_spelling_of_the_reference()
    {
        _h.Images["archive:/images/debian.tar"] = await TestImages.SimpleAsync(_h.Store);
        var (config, result) = await _h.BuildAsync(Document(Stage(0, "docker.io/library/debian:bookworm", null)),
            namedContexts: new Dictionary<string, string> { ["debian:bookworm"] = "archive:/images/debian.tar" });
        Assert.Equal(["archive:/images/debian.tar"], _h.Opened);
        Assert.Single(result.Layers);
        Assert.Contains(_h.Logger.Lines, l => l.Contains("FROM archive:/images/debian.tar (named context docker.io/library/debian:bookworm)", StringComparison.Ordinal));
        Assert.Equal(["test layer 0"], History(config).Select(h => h.CreatedBy));
    }

    [Fact]
    public async Task A_named_context_with_a_stage_name_replaces_that_stage()
    {
        _h.Images["archive:/images/tools.tar"] = await TestImages.SimpleAsync(_h.Store);
        var (config, _) = await _h.BuildAsync(Document(
                Stage(0, "scratch", "tools", Run("never runs")),
                Stage(1, "tools", null, Label(("x", "1")))),
            namedContexts: new Dictionary<string, string> { ["tools"] = "archive:/images/tools.tar" });
        Assert.Equal(["test layer 0", "LABEL x=1"], History(config).Select(h => h.CreatedBy));
    }

    [Fact]
    public async Task An_image_that_cannot_be_resolved_is_reported_at_the_FROM_line()
    {
        var e = await Assert.ThrowsAsync<LivrableException>(() => _h.BuildAsync(Document(Stage(3, "missing:1", null))));
        Assert.Equal("LIV3004", e.Code);
        Assert.Equal(At(301), e.Span);
    }

    [Fact]
    public async Task Independent_stages_are_built_once_each_even_when_several_stages_need_them()
    {
        var (config, _) = await _h.BuildAsync(Document(
            Stage(0, "scratch", "a", Label(("a", "1"))),
            Stage(1, "a", "b", Label(("b", "1"))),
            Stage(2, "a", "c", Label(("c", "1"))),
            Stage(3, "b", "final", Label(("final", "1")))));
        Assert.Equal(["LABEL a=1", "LABEL b=1", "LABEL final=1"], History(config).Select(h => h.CreatedBy));
        Assert.Single(_h.Logger.Lines, l => l.Contains("a: LABEL a=1", StringComparison.Ordinal));
    }
}
