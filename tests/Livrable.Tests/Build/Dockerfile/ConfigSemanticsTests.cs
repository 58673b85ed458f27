using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Images;
using Livrable.Tests.Infrastructure;
using Xunit;
using static Livrable.Tests.Build.Dockerfile.DockerfileHarness;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// Each metadata instruction's config field and history entry, against what BuildKit writes
/// (dockerfile2llb/convert.go; the checklist's section 7).
/// </summary>
public sealed class ConfigSemanticsTests : IDisposable
{
    private readonly DockerfileHarness _h = new();

    public void Dispose() => _h.Dispose();

    public static TheoryData<string, Instruction[], string, string> Cases => new()
    {
        { "env", [Env(("A", "1"), ("B", "two words"))], "Env", """["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","A=1","B=two words"]""" },
        { "label", [Label(("org.example", "x y"))], "Labels", """{"org.example":"x y"}""" },
        { "expose", [Expose("8000-8002/UDP", "80")], "ExposedPorts", """{"80/tcp":{},"8000/udp":{},"8001/udp":{},"8002/udp":{}}""" },
        { "volume", [Volume("/data", "/logs")], "Volumes", """{"/data":{},"/logs":{}}""" },
        { "user", [User("1000:1000")], "User", "\"1000:1000\"" },
        { "stopsignal", [StopSignal("sigquit")], "StopSignal", "\"sigquit\"" },
        { "shell", [Shell("/bin/bash", "-c")], "Shell", """["/bin/bash","-c"]""" },
        { "cmd exec", [Cmd("a", "b")], "Cmd", """["a","b"]""" },
        { "cmd shell", [CmdShell("echo $HOME")], "Cmd", """["/bin/sh","-c","echo $HOME"]""" },
        { "cmd shell after SHELL", [Shell("/bin/bash", "-c"), CmdShell("echo hi")], "Cmd", """["/bin/bash","-c","echo hi"]""" },
        { "entrypoint shell", [EntrypointShell("exec app")], "Entrypoint", """["/bin/sh","-c","exec app"]""" },
        { "healthcheck", [Healthcheck(["CMD-SHELL", "curl -f http://localhost/"], TimeSpan.FromSeconds(30), 3)], "Healthcheck",
            """{"Test":["CMD-SHELL","curl -f http://localhost/"],"Interval":30000000000,"Retries":3}""" },
        { "healthcheck none", [Healthcheck(["NONE"])], "Healthcheck", """{"Test":["NONE"]}""" },
        { "onbuild", [Onbuild("ENV X=1", Env(("X", "1")))], "OnBuild", """["ENV X=1"]""" },
        { "scratch workdir", [], "WorkingDir", "\"/\"" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Each_instruction_sets_its_config_field_as_BuildKit(string name, Instruction[] instructions, string field, string expected)
    {
        var (config, _) = await _h.BuildAsync(Document(Stage(0, "scratch", null, instructions)));
        Assert.True(ContainerConfig(config).TryGetProperty(field, out var value), $"{name}: no {field} in {config}");
        Assert.Equal(Normalize(expected), Normalize(value.GetRawText()));
    }

    public static TheoryData<Instruction, string> HistoryCases => new()
    {
        { Env(("A", "1"), ("B", "x")), "ENV A=1 B=x" },
        { Arg(("V", "2"), ("W", null)), "ARG V=2 W" },
        { Label(("a", "b")), "LABEL a=b" },
        { Maintainer("Jane <j@example.com>"), "MAINTAINER Jane <j@example.com>" },
        { Expose("8080", "53/udp"), "EXPOSE [53/udp 8080/tcp]" },
        { Volume("/a", "/b"), "VOLUME [/a /b]" },
        { User("app"), "USER app" },
        { StopSignal("SIGTERM"), "STOPSIGNAL SIGTERM" },
        { Shell("/bin/bash", "-c"), "SHELL [/bin/bash -c]" },
        { Cmd("/bin/app", "--say", "a \"quoted\" word"), """CMD ["/bin/app" "--say" "a \"quoted\" word"]""" },
        { CmdShell("echo hi"), """CMD ["/bin/sh" "-c" "echo hi"]""" },
        { Entrypoint("/app"), """ENTRYPOINT ["/app"]""" },
        { Healthcheck(["CMD", "/check"], TimeSpan.FromSeconds(90), 3),
            "HEALTHCHECK {Test:[CMD /check] Interval:1m30s Timeout:0s StartPeriod:0s StartInterval:0s Retries:3}" },
    };

    [Theory]
    [MemberData(nameof(HistoryCases))]
    public async Task Each_instruction_writes_BuildKits_history_entry(Instruction instruction, string createdBy)
    {
        var (config, _) = await _h.BuildAsync(Document(Stage(0, "scratch", null, instruction)));
        var history = History(config);
        Assert.Equal([(createdBy, true)], history);
        var entry = config.GetProperty("history")[0];
        Assert.Equal("buildkit.dockerfile.v0", entry.GetProperty("comment").GetString());
        Assert.Equal("2024-05-06T07:08:09Z", entry.GetProperty("created").GetString());
    }

    [Fact]
    public async Task ONBUILD_and_scratch_write_no_history_and_the_final_config_has_the_epoch_and_target_platform()
    {
        var (config, _) = await _h.BuildAsync(Document(Stage(0, "scratch", null, Onbuild("ENV X=1", Env(("X", "1"))))),
            platform: new Platform("linux", "arm64", "v8"));
        Assert.Empty(History(config));
        Assert.Equal("2024-05-06T07:08:09Z", config.GetProperty("created").GetString());
        Assert.Equal("arm64", config.GetProperty("architecture").GetString());
        Assert.Equal("linux", config.GetProperty("os").GetString());
        Assert.Empty(config.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray());
    }

    [Fact]
    public async Task MAINTAINER_sets_author_and_CMD_sets_ArgsEscaped()
    {
        var (config, _) = await _h.BuildAsync(Document(Stage(0, "scratch", null, Maintainer("me"), Cmd("x"))));
        Assert.Equal("me", config.GetProperty("author").GetString());
        Assert.True(ContainerConfig(config).GetProperty("ArgsEscaped").GetBoolean());
    }

    [Fact]
    public async Task ENTRYPOINT_drops_an_inherited_CMD_but_keeps_one_set_in_the_same_stage()
    {
        _h.Images["base"] = await TestImages.SimpleAsync(_h.Store); // Cmd ["/hello"]
        var (dropped, _) = await _h.BuildAsync(Document(Stage(0, "base", null, Entrypoint("/app"))));
        Assert.Null(Strings(ContainerConfig(dropped), "Cmd"));
        var (kept, _) = await _h.BuildAsync(Document(Stage(0, "base", null, Cmd("--flag"), Entrypoint("/app"))));
        Assert.Equal(["--flag"], Strings(ContainerConfig(kept), "Cmd"));
        // A CMD set in the base stage is inherited, not set in the child: the child's ENTRYPOINT drops it.
        var (child, _) = await _h.BuildAsync(Document(Stage(0, "scratch", "base", Cmd("--flag")), Stage(1, "base", null, Entrypoint("/app"))));
        Assert.Null(Strings(ContainerConfig(child), "Cmd"));
    }

    [Fact]
    public async Task CMD_and_ENTRYPOINT_are_never_expanded()
    {
        var (config, _) = await _h.BuildAsync(Document(Stage(0, "scratch", null, Env(("X", "1")), Cmd("echo", "$X"), EntrypointShell("run $X"))));
        Assert.Equal(["/bin/sh", "-c", "run $X"], Strings(ContainerConfig(config), "Entrypoint"));
        // ENTRYPOINT after CMD in the same stage keeps the CMD.
        Assert.Equal(["echo", "$X"], Strings(ContainerConfig(config), "Cmd"));
    }

    [Fact]
    public async Task A_base_image_config_is_inherited_with_created_reset_PATH_added_and_history_kept()
    {
        _h.Images["base"] = await TestImages.BuildAsync(_h.Store, [new Dictionary<string, string> { ["a.txt"] = "a" }], configure: c =>
        {
            c.SetEnv("LANG", "C.UTF-8");
            c.SetLabel("from", "base");
            c.WorkingDir = "/srv";
        });
        var (config, result) = await _h.BuildAsync(Document(Stage(0, "base", null, Label(("mine", "1")))));
        Assert.Equal(["LANG=C.UTF-8", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Strings(ContainerConfig(config), "Env"));
        Assert.Equal("base", Label(config, "from"));
        Assert.Equal("1", Label(config, "mine"));
        Assert.Equal("/srv", ContainerConfig(config).GetProperty("WorkingDir").GetString());
        Assert.Equal(["test layer 0", "LABEL mine=1"], History(config).Select(h => h.CreatedBy));
        Assert.Single(result.Layers);
        Assert.Equal("2024-05-06T07:08:09Z", config.GetProperty("created").GetString());
    }

    [Theory]
    [InlineData("SIGKILL")]
    [InlineData("kill")]
    [InlineData("9")]
    [InlineData("RTMIN+3")]
    public void Stop_signals_BuildKit_accepts(string signal) => Assert.True(Livrable.Build.Dockerfile.MetadataSteps.IsSignal(signal));

    [Theory]
    [InlineData("0")]
    [InlineData("SIGNOPE")]
    [InlineData("")]
    public async Task A_stop_signal_BuildKit_refuses_is_LIV1106_at_its_line(string signal)
    {
        var stop = StopSignal(signal);
        var e = await Assert.ThrowsAsync<LivrableException>(() => _h.BuildAsync(Document(Stage(0, "scratch", null, stop))));
        Assert.Equal("LIV1106", e.Code);
        Assert.Equal(stop.Span, e.Span);
    }

    [Theory]
    [InlineData("80/xyz", "invalid proto: xyz")]
    [InlineData("70000", "invalid containerPort: 70000")]
    [InlineData("9-3", "invalid containerPort: 9-3")]
    public async Task A_bad_EXPOSE_is_LIV1105(string port, string message)
    {
        var e = await Assert.ThrowsAsync<LivrableException>(() => _h.BuildAsync(Document(Stage(0, "scratch", null, Expose(port)))));
        Assert.Equal("LIV1105", e.Code);
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void EXPOSE_host_forms_keep_only_the_container_port()
    {
        Assert.Equal(["80/tcp"], Livrable.Build.Dockerfile.MetadataSteps.ParsePortSpec("127.0.0.1:8080:80", default));
        Assert.Equal(["80/tcp"], Livrable.Build.Dockerfile.MetadataSteps.ParsePortSpec("[::1]:8080:80", default));
        Assert.Equal(["53/sctp"], Livrable.Build.Dockerfile.MetadataSteps.ParsePortSpec("53/SCTP", default));
    }

    [Fact]
    public async Task An_empty_VOLUME_is_LIV1107()
    {
        var e = await Assert.ThrowsAsync<LivrableException>(() => _h.BuildAsync(Document(Stage(0, "scratch", null, Volume("$NOTHING")))));
        Assert.Equal("LIV1107", e.Code);
    }

    private static string Normalize(string json) => JsonSerializer.Serialize(JsonDocument.Parse(json).RootElement);
}
