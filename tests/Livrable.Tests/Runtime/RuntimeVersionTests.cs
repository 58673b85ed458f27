using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Runtime;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Runtime;

/// <summary>
/// The runc version gate (CVE-2025-31133, CVE-2025-52565, CVE-2025-52881; fixed in 1.2.8, 1.3.3, 1.4.0-rc.3): versions
/// judged from <c>runc --version</c> and the package changelog, an upstream build below the fixes refused before it runs
/// anything, this machine's runc accepted (with the warning when its package does not name the fixes), once per build.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class RuntimeVersionTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string AllFixed = "runc (1.1.5+ds1-1+deb12u2) bookworm-security; urgency=high\n  * CVE-2025-31133, CVE-2025-52565, CVE-2025-52881\n";

    [Theory]
    [InlineData("runc version 1.2.8\ncommit: v1.2.8-0-g1234567\nspec: 1.2.1\n", null, "Fixed")]
    [InlineData("runc version 1.3.3\ncommit: v1.3.3-0-gabcdef0\n", null, "Fixed")]
    [InlineData("runc version 1.4.0-rc.3\ncommit: v1.4.0-rc.3-0-gabcdef0\n", null, "Fixed")]
    [InlineData("runc version 1.4.0\ncommit: v1.4.0-0-gabcdef0\n", null, "Fixed")]
    [InlineData("runc version 1.5.1\n", null, "Fixed")]
    [InlineData("runc version 2.0.0\n", null, "Fixed")]
    [InlineData("runc version 1.2.7\ncommit: v1.2.7-0-g1234567\n", null, "Vulnerable")]
    [InlineData("runc version 1.3.2\ncommit: v1.3.2-0-g1234567\n", null, "Vulnerable")]
    [InlineData("runc version 1.4.0-rc.2\ncommit: v1.4.0-rc.2-0-g1234567\n", null, "Vulnerable")]
    [InlineData("runc version 1.1.12\ncommit: v1.1.12-0-g51d5e94\n", null, "Vulnerable")]
    [InlineData("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\n", "  * CVE-2024-21626: leaked fds\n", "Unknown")]
    [InlineData("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\n", null, "Unknown")]
    [InlineData("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u2\n", AllFixed, "Backported")]
    [InlineData("runc version 1.1.12-0ubuntu2~22.04.1\n", AllFixed, "Backported")]
    [InlineData("crun version 1.8.1\ncommit: abc\n", null, "NotRunc")]
    [InlineData("", null, "NotRunc")]
    public void Versions_are_judged(string output, string? changelog, string expected)
        => Assert.Equal(expected, RuntimeVersion.Judge(output, () => changelog).ToString());

    [Fact]
    public void A_verdict_is_kept_in_the_state_folder_while_the_runtime_binary_is_the_same()
    {
        // A stand-in runc that counts how often it is asked its version.
        string count = _temp["count"];
        string fake = _temp["bin", "runc"];
        Directory.CreateDirectory(Path.GetDirectoryName(fake)!);
        File.WriteAllText(fake, $"#!/bin/sh\necho x >> '{count}'\nprintf 'runc version 1.3.3\\ncommit: v1.3.3-0-gabcdef0\\n'\n");
        File.SetUnixFileMode(fake, (UnixFileMode)0b111_101_101);
        string link = _temp["bin", "runc-link"];
        File.CreateSymbolicLink(link, fake);
        int Asked() => File.Exists(count) ? File.ReadAllLines(count).Length : 0;

        Assert.Equal((RuntimeVerdict.Fixed, "runc version 1.3.3"), RuntimeVersion.Judged(link, _temp["state"]));
        Assert.Equal(1, Asked());
        Assert.Equal((RuntimeVerdict.Fixed, "runc version 1.3.3"), RuntimeVersion.Judged(link, _temp["state"]));
        Assert.Equal(1, Asked());
        // Without a state folder, or in another one: asked.
        RuntimeVersion.Judged(link, null);
        RuntimeVersion.Judged(link, _temp["state2"]);
        Assert.Equal(3, Asked());

        // Another binary behind the same path (an upgrade: the link's target rewritten) is judged again.
        File.WriteAllText(fake, $"#!/bin/sh\necho x >> '{count}'\nprintf 'runc version 1.2.7\\ncommit: v1.2.7-0-g1234567\\n'\n");
        Assert.Equal((RuntimeVerdict.Vulnerable, "runc version 1.2.7"), RuntimeVersion.Judged(link, _temp["state"]));
        Assert.Equal(4, Asked());
        Assert.Equal((RuntimeVerdict.Vulnerable, "runc version 1.2.7"), RuntimeVersion.Judged(link, _temp["state"]));
        Assert.Equal(4, Asked());

        // A damaged record is judged again, not trusted.
        string record = Directory.GetFiles(_temp["state", "cache", "runtimes"]).Single();
        File.WriteAllText(record, File.ReadAllText(record).Replace("verdict=Vulnerable", "verdict=Fixd"));
        Assert.Equal((RuntimeVerdict.Vulnerable, "runc version 1.2.7"), RuntimeVersion.Judged(link, _temp["state"]));
        Assert.Equal(5, Asked());
    }

    [Fact]
    public void This_machines_runc_is_not_refused()
    {
        string runc = ContainerRun.FindRuntime(null);
        var logger = new RecordingLogger();
        RuntimeVersion.Check(runc, logger); // throws LIV5030 if it were refused
        RuntimeVersion.Check(runc, logger);
        Assert.True(logger.Lines.Count(l => l.StartsWith("warning LIV5031", StringComparison.Ordinal)) <= 1, string.Join('\n', logger.Lines));
    }

    [Fact]
    public async Task An_upstream_runc_without_the_fixes_is_refused_before_RUN_and_warned_once_when_allowed()
    {
        // A stand-in for runc 1.2.7 from its release tag: it prints that version and would "run" anything successfully.
        string fake = _temp["bin", "runc-1.2.7"];
        Directory.CreateDirectory(Path.GetDirectoryName(fake)!);
        File.WriteAllText(fake, "#!/bin/sh\nif [ \"$1\" = --version ]; then printf 'runc version 1.2.7\\ncommit: v1.2.7-0-g1234567\\nspec: 1.2.0\\n'; fi\nexit 0\n");
        File.SetUnixFileMode(fake, (UnixFileMode)0x1ED);

        var e = await Assert.ThrowsAsync<LivrableException>(() => BuildAsync(fake, new RecordingLogger()));
        Assert.Equal(DiagnosticCodes.RuntimeUnpatched, e.Code);
        Assert.Equal(2, e.Span?.Line);
        Assert.Contains("1.2.8", e.Message);

        Environment.SetEnvironmentVariable(RuntimeVersion.AllowVariable, "1");
        try
        {
            var logger = new RecordingLogger();
            await BuildAsync(fake, logger);
            Assert.Single(logger.Lines, l => l.StartsWith("warning LIV5031", StringComparison.Ordinal));
        }
        finally
        {
            Environment.SetEnvironmentVariable(RuntimeVersion.AllowVariable, null);
        }
    }

    /// <summary>Two RUNs with <paramref name="runtime"/> as ContainerRuntimePath.</summary>
    private async Task BuildAsync(string runtime, ILogger logger)
    {
        string context = _temp["context-" + Guid.NewGuid().ToString("N")[..8]];
        Directory.CreateDirectory(context);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), "FROM scratch\nRUN [\"/bin/true\"]\nRUN [\"/bin/false\"]\n");
        var request = new ImageBuildRequest
        {
            Platform = Platform.FromRuntimeIdentifier("linux-x64"),
            Repository = "livrable-test/runtime",
            Tags = ["v1"],
            ArchivePath = _temp["out", Path.GetFileName(context) + ".tar"],
            StateDirectory = _temp["state"],
            Dockerfile = new DockerfileBuild { DockerfilePath = Path.Combine(context, "Dockerfile"), ContextDirectory = context, RuntimePath = runtime },
        };
        await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);
    }
}
