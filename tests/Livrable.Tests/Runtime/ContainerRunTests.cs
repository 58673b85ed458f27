using System.Formats.Tar;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Runtime;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Runtime;

/// <summary>
/// <see cref="ContainerRun"/> without the Dockerfile frontend: cancellation stops the container and undoes the mounts,
/// the CVE-2024-21626 working-directory check, and the errors for a missing runtime.
/// </summary>
public sealed class ContainerRunTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public ContainerRunTests() => _store = new BlobStore(_temp["state"]);

    public void Dispose() => _temp.Dispose();

    private async Task<ILayer> BusyboxLayerAsync()
    {
        byte[] busybox = await System.IO.File.ReadAllBytesAsync(Tools.Require("busybox"));
        return await LayerRootfsTests.LayerAsync(_store, w =>
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "bin/") { Mode = (UnixFileMode)0b111_101_101 });
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "bin/busybox") { DataStream = new MemoryStream(busybox), Mode = (UnixFileMode)0b111_101_101 });
        });
    }

    [Fact]
    public async Task A_command_runs_and_its_changes_are_the_entries()
    {
        var layer = await BusyboxLayerAsync();
        var lines = new List<string>();
        using var result = await new ContainerRun(_store.Root, NullLogger.Instance).RunAsync(new RunRequest
        {
            Layers = [layer],
            Arguments = ["/bin/busybox", "sh", "-c", "echo out; echo err >&2; /bin/busybox mkdir /made && echo x > /made/file"],
            Output = line => { lock (lines) lines.Add(line); },
        }, CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["/made", "/made/file"], result.Entries.Select(e => e.Path));
        Assert.Equal(["err", "out"], lines.Order());
    }

    [Fact]
    public async Task The_root_overlay_is_volatile_so_its_unmount_does_not_wait_for_the_file_systems_writeback()
    {
        // Without `volatile`, unmounting a RUN's overlay synced the whole upper file system (0.13 s of a one-line edit
        // with the previous build's tarball still dirty). This kernel knows the option (5.10 and later).
        var layer = await BusyboxLayerAsync();
        var lines = new List<string>();
        using var result = await new ContainerRun(_store.Root, NullLogger.Instance).RunAsync(new RunRequest
        {
            Layers = [layer],
            Arguments = ["/bin/busybox", "cat", "/proc/self/mountinfo"],
            Output = line => { lock (lines) lines.Add(line); },
        }, CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
        // mountinfo: id parent major:minor root mount-point options [optional fields] - type source super-options
        string root = Assert.Single(lines, l => l.Split(' ') is [_, _, _, _, "/", ..] && l.Contains(" - overlay "));
        // Shown as `volatile` before Linux 6.6 and as `fsync=volatile` since (the option became a value of `fsync`).
        var options = root.Split(" - ")[1].Split(' ')[2].Split(',');
        Assert.True(options.Contains("volatile") || options.Contains("fsync=volatile"), $"not volatile: {string.Join(',', options)}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Overlay_and_the_copy_fallback_give_the_same_layer(bool copy)
    {
        var busybox = await BusyboxLayerAsync();
        var data = await LayerRootfsTests.LayerAsync(_store, w =>
        {
            LayerRootfsTests.File(w, "data/keep", "keep");
            LayerRootfsTests.File(w, "data/change", "before");
            LayerRootfsTests.File(w, "data/gone", "gone");
            LayerRootfsTests.File(w, "data/removed", "removed below");
            LayerRootfsTests.File(w, "data/dir/old", "old");
        });
        var whiteout = await LayerRootfsTests.LayerAsync(_store, w => LayerRootfsTests.File(w, "data/.wh.removed", ""));
        var logger = new RecordingLogger();
        using var result = await new ContainerRun(_store.Root, logger) { ForceCopy = copy }.RunAsync(new RunRequest
        {
            Layers = [busybox, data, whiteout],
            Arguments = ["/bin/busybox", "sh", "-c",
                "set -e; test ! -e /data/removed; echo changed > /data/change; /bin/busybox rm /data/gone; /bin/busybox rm -r /data/dir; " +
                "/bin/busybox mkdir /data/dir; echo fresh > /data/dir/fresh; echo new > /data/new"],
            WorkingDirectory = "/work/here",
        }, CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
        var paths = result.Entries.Select(e => e.Path).ToList();
        Assert.Equal(["/data", "/data/.wh.gone", "/data/change", "/data/dir"], paths.Take(4));
        Assert.Contains(paths[4], new[] { "/data/dir/.wh..wh..opq", "/data/dir/.wh.old" });
        Assert.Equal(["/data/dir/fresh", "/data/new", "/work", "/work/here"], paths.Skip(5));
        var change = result.Entries.Single(e => e.Path == "/data/change");
        await using var stream = await change.Open!(CancellationToken.None);
        Assert.Equal("changed\n", await new StreamReader(stream).ReadToEndAsync());
    }

    /// <summary>
    /// A base layer's file with capabilities (the PAX record <c>SCHILY.xattr.security.capability</c>, as Debian's
    /// <c>/bin/ping</c> has <c>cap_net_raw</c>) run by a non-root RUN has them, over overlay and over the copy fallback
    /// alike (the copy once dropped them: a RUN of <c>ping</c> as a user failed where BuildKit's succeeds); the kernel
    /// is the judge (CapEff), and the RUN's diff does not carry the unchanged file.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_base_layer_s_file_capabilities_are_there_for_a_non_root_RUN_over_overlay_and_the_copy_fallback(bool copy)
    {
        byte[] busybox = await System.IO.File.ReadAllBytesAsync(Tools.Require("busybox"));
        string capability = System.Text.Encoding.Latin1.GetString(Convert.FromHexString(FileCapabilityTests.NetBindServiceHex));
        var layer = await LayerRootfsTests.LayerAsync(_store, w =>
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "bin/") { Mode = (UnixFileMode)0b111_101_101 });
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "bin/busybox") { DataStream = new MemoryStream(busybox), Mode = (UnixFileMode)0b111_101_101 });
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "bin/capped/busybox",
                new Dictionary<string, string> { ["SCHILY.xattr.security.capability"] = capability })
            { DataStream = new MemoryStream(busybox), Mode = (UnixFileMode)0b111_101_101 });
        });
        var lines = new List<string>();
        using var result = await new ContainerRun(_store.Root, new RecordingLogger()) { ForceCopy = copy }.RunAsync(new RunRequest
        {
            Layers = [layer],
            Uid = 1000,
            Gid = 1000,
            Arguments = ["/bin/busybox", "sh", "-c", "/bin/busybox grep CapEff /proc/self/status; /bin/capped/busybox grep CapEff /proc/self/status"],
            Output = line => { lock (lines) lines.Add(line); },
        }, CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["CapEff:\t0000000000000000", "CapEff:\t0000000000000400"], lines);
        Assert.Empty(result.Entries);
    }

    [Fact]
    public async Task Cancelling_kills_the_container_and_undoes_the_mounts()
    {
        var layer = await BusyboxLayerAsync();
        using var cancel = new CancellationTokenSource();
        var started = new TaskCompletionSource();
        var run = new ContainerRun(_store.Root, NullLogger.Instance).RunAsync(new RunRequest
        {
            Layers = [layer],
            Arguments = ["/bin/busybox", "sh", "-c", "echo started; exec /bin/busybox sleep 60"],
            Output = _ => started.TrySetResult(),
        }, cancel.Token);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"cancellation took {watch.Elapsed}");
        Assert.DoesNotContain(System.IO.File.ReadAllLines("/proc/mounts"), m => m.Contains(_store.Root, StringComparison.Ordinal));
        Assert.Empty(Directory.GetDirectories(Path.Combine(_store.Root, "run")));
        // Other tests run containers at the same time: only this run's bundle must be gone from runc's list.
        var (_, list, _) = await Tools.RunAsync("runc", ["list", "--format", "json"]);
        Assert.DoesNotContain(_store.Root, list);
    }

    /// <summary>
    /// runc removes its container as `runc run` exits, so no `runc delete` follows a RUN that ended by itself (one
    /// process less per RUN, issue 14): whether it ended well or not, nothing of it stays in runc's list.
    /// </summary>
    [Fact]
    public async Task A_run_that_ends_by_itself_leaves_no_container_without_a_delete()
    {
        var layer = await BusyboxLayerAsync();
        foreach (string command in new[] { "true", "exit 3" })
        {
            using var result = await new ContainerRun(_store.Root, NullLogger.Instance).RunAsync(new RunRequest
            {
                Layers = [layer],
                Arguments = ["/bin/busybox", "sh", "-c", command],
            }, CancellationToken.None);
            Assert.Equal(command == "true" ? 0 : 3, result.ExitCode);
        }
        // Other tests run containers at the same time: only this test's bundles must be absent.
        var (_, list, _) = await Tools.RunAsync("runc", ["list", "--format", "json"]);
        Assert.DoesNotContain(_store.Root, list);
        Assert.True(ContainerRun.RemovedOnExit("/usr/sbin/runc", "livrable-" + Guid.NewGuid().ToString("N")[..16]) == Directory.Exists("/run/runc"));
        Assert.False(ContainerRun.RemovedOnExit("/usr/bin/crun", "livrable-" + Guid.NewGuid().ToString("N")[..16]), "another runtime's state folder is not known");
    }

    [Theory]
    [InlineData("/proc/self/fd/7")]
    [InlineData("/proc/self/fd")]
    [InlineData("/proc/1/fd/3")]
    [InlineData("/proc/thread-self/fd/9")]
    [InlineData("//proc/./self/fd/4/sub")]
    [InlineData("/proc/self/cwd")]
    public void A_working_directory_in_procs_descriptors_is_refused(string directory)
    {
        var e = Assert.Throws<LivrableException>(() => ContainerRun.CheckWorkingDirectory(directory));
        Assert.Equal("LIV5010", e.Code);
    }

    [Theory]
    [InlineData("/app")]
    [InlineData("/proc-data/self/fd")]
    [InlineData("/srv/proc/self/fd")]
    public void Other_working_directories_pass(string directory) => ContainerRun.CheckWorkingDirectory(directory);

    [Fact]
    public void A_missing_runtime_says_how_to_get_one()
    {
        var e = Assert.Throws<LivrableException>(() => ContainerRun.FindRuntime("no-such-runtime-livrable"));
        Assert.Equal("LIV5004", e.Code);
        Assert.Contains("apt-get install runc", e.Message);
        Assert.Equal("LIV5004", Assert.Throws<LivrableException>(() => ContainerRun.FindRuntime("/nowhere/runc")).Code);
    }
}
