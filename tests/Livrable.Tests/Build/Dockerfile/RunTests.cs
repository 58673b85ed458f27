using System.Formats.Tar;
using System.IO.Compression;
using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// One state folder for the RUN tests, so the busybox layer every test starts from is extracted once
/// (<c>rootfs/&lt;diff-id&gt;</c> is shared, as it is between builds).
/// </summary>
public sealed class RunFixture : IDisposable
{
    private readonly TempDirectory _temp = new();

    public string StateDirectory => _temp["state"];

    public string NewFolder(string name) => _temp[name + "-" + Guid.NewGuid().ToString("N")[..8]];

    public void Dispose() => _temp.Dispose();
}

/// <summary>
/// Dockerfiles with RUN built through <see cref="ImageBuilder"/> into image tarballs with real runc and real overlay
/// mounts: every image read by the shared validator (skopeo, umoci), files checked in the layers and in what umoci
/// unpacks, some run with runc. The base is <c>FROM scratch</c> + a static busybox from the context, installed by an
/// exec-form RUN.
/// </summary>
public sealed class RunTests(RunFixture fixture) : IClassFixture<RunFixture>
{
    private const string Busybox = """
        FROM scratch
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]

        """;

    private sealed record Built(IImage Image, RecordingLogger Logger, string Rootfs, string Work);

    private async Task<Built> BuildAsync(string dockerfile, Action<string>? context = null, IReadOnlyDictionary<string, string>? buildArgs = null,
        string? target = null, IReadOnlyDictionary<string, BuildSecret>? secrets = null)
    {
        string work = fixture.NewFolder("build");
        string contextDirectory = Path.Combine(work, "context");
        Directory.CreateDirectory(contextDirectory);
        File.Copy(Tools.Require("busybox"), Path.Combine(contextDirectory, "busybox"));
        File.WriteAllText(Path.Combine(contextDirectory, "Dockerfile"), dockerfile);
        context?.Invoke(contextDirectory);
        var request = Request(work, contextDirectory, buildArgs, target);
        if (secrets is not null) request = request with { Dockerfile = request.Dockerfile! with { Secrets = secrets } };
        var logger = new RecordingLogger();
        await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(Path.Combine(work, "reader"))).ResolveAsync(request.Platform, CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", Path.Combine(work, "check"));
        return new Built(image, logger, rootfs, work);
    }

    private ImageBuildRequest Request(string work, string contextDirectory, IReadOnlyDictionary<string, string>? buildArgs = null, string? target = null)
        => TestRequests.Dockerfile(contextDirectory, "livrable-test/run", Path.Combine(work, "out", "image.tar"), fixture.StateDirectory, buildArgs, target);

    private async Task<LivrableException> FailAsync(string dockerfile, Action<string>? context = null)
    {
        string work = fixture.NewFolder("fail");
        string contextDirectory = Path.Combine(work, "context");
        Directory.CreateDirectory(contextDirectory);
        File.Copy(Tools.Require("busybox"), Path.Combine(contextDirectory, "busybox"));
        File.WriteAllText(Path.Combine(contextDirectory, "Dockerfile"), dockerfile);
        context?.Invoke(contextDirectory);
        return await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(Request(work, contextDirectory), NullLogger.Instance, CancellationToken.None));
    }

    /// <summary>The names in a layer's tar (gzip or plain), as written.</summary>
    private static async Task<List<(string Name, TarEntryType Type, int Uid)>> LayerEntriesAsync(ILayer layer)
    {
        await using var raw = await layer.OpenAsync(CancellationToken.None);
        var buffer = new MemoryStream();
        await raw.CopyToAsync(buffer);
        buffer.Position = 0;
        Stream tar = buffer.Length > 2 && buffer.GetBuffer()[0] == 0x1f ? new GZipStream(buffer, CompressionMode.Decompress) : buffer;
        var reader = new TarReader(tar);
        var names = new List<(string, TarEntryType, int)>();
        while (reader.GetNextEntry() is { } entry) names.Add((entry.Name, entry.EntryType, entry.Uid));
        return names;
    }

    private sealed record History(string CreatedBy, string? Comment, bool EmptyLayer);

    private static List<History> HistoryOf(IImage image)
    {
        using var config = System.Text.Json.JsonDocument.Parse(image.ConfigBytes);
        return config.RootElement.GetProperty("history").EnumerateArray().Select(h => new History(
            h.GetProperty("created_by").GetString()!,
            h.TryGetProperty("comment", out var c) ? c.GetString() : null,
            h.TryGetProperty("empty_layer", out var e) && e.GetBoolean())).ToList();
    }

    private static string Read(string rootfs, string path) => File.ReadAllText(Path.Combine(rootfs, path.TrimStart('/')));

    [Fact]
    public async Task At_detailed_verbosity_a_RUN_and_a_COPY_name_their_phases_each_with_its_time()
    {
        // A fresh value, so the shared state folder's step cache has no record of these steps.
        string unique = Guid.NewGuid().ToString("N");
        var built = await BuildAsync(Busybox + $"""
            COPY phases.txt /phases/
            RUN echo {unique} > /phases/run.txt
            """, context => File.WriteAllText(Path.Combine(context, "phases.txt"), unique));

        var details = built.Logger.Lines.Where(l => l.StartsWith("detail: ", StringComparison.Ordinal)).ToList();
        int run = built.Logger.Lines.ToList().FindIndex(l => l.StartsWith("info: [", StringComparison.Ordinal) && l.Contains($"RUN echo {unique}"));
        Assert.True(run >= 0, string.Join('\n', built.Logger.Lines));
        string number = System.Text.RegularExpressions.Regex.Match(built.Logger.Lines[run], @"^info: \[(\d+)/").Groups[1].Value;
        const string Time = @" \d+\.\d\d?s$";
        foreach (string phase in new[] { "layers", "overlay", "runtime", "diff" })
            Assert.Contains(details, l => System.Text.RegularExpressions.Regex.IsMatch(l, $@"^detail:   #{number} {phase}: .*{Time}"));
        foreach (string phase in new[] { "context hashing", "plan", "layer write" })
            Assert.Contains(details, l => System.Text.RegularExpressions.Regex.IsMatch(l, $@"^detail:   {phase}: .*{Time}"));
        Assert.Equal(unique + "\n", File.ReadAllText(Path.Combine(built.Rootfs, "phases", "run.txt")));
    }

    [Fact]
    public async Task Files_created_changed_and_deleted_become_the_layer_with_whiteouts_and_an_opaque_folder()
    {
        var built = await BuildAsync(Busybox + """
            COPY base/ /data/
            RUN echo new > /data/new.txt && echo changed > /data/change.txt && rm /data/gone.txt && rm -rf /data/dir && mkdir /data/dir && echo fresh > /data/dir/fresh.txt
            CMD ["/bin/cat", "/data/new.txt", "/data/change.txt", "/data/keep.txt", "/data/dir/fresh.txt"]
            """, context =>
        {
            Directory.CreateDirectory(Path.Combine(context, "base", "dir"));
            File.WriteAllText(Path.Combine(context, "base", "keep.txt"), "keep\n");
            File.WriteAllText(Path.Combine(context, "base", "change.txt"), "before\n");
            File.WriteAllText(Path.Combine(context, "base", "gone.txt"), "gone\n");
            File.WriteAllText(Path.Combine(context, "base", "dir", "old.txt"), "old\n");
        });

        var names = (await LayerEntriesAsync(built.Image.Layers[^1])).Select(e => e.Name).ToList();
        Assert.Equal(["data/", "data/.wh.gone.txt", "data/change.txt", "data/dir/", "data/dir/.wh..wh..opq", "data/dir/fresh.txt", "data/new.txt"], names);
        // The busybox install layer: links only, and none of the mount points runc made.
        var install = (await LayerEntriesAsync(built.Image.Layers[1])).Select(e => e.Name).ToList();
        Assert.Contains("bin/sh", install);
        Assert.DoesNotContain(install, n => n.StartsWith("proc", StringComparison.Ordinal) || n.StartsWith("sys", StringComparison.Ordinal)
            || n.StartsWith("dev", StringComparison.Ordinal) || n.StartsWith("etc", StringComparison.Ordinal));

        Assert.False(File.Exists(Path.Combine(built.Rootfs, "data", "gone.txt")));
        Assert.False(File.Exists(Path.Combine(built.Rootfs, "data", "dir", "old.txt")));
        Assert.Equal("fresh\n", Read(built.Rootfs, "/data/dir/fresh.txt"));
        Assert.Equal("changed\n", Read(built.Rootfs, "/data/change.txt"));
        string output = await Runc.RunAsync(Path.GetDirectoryName(built.Rootfs)!);
        Assert.Equal("new\nchanged\nkeep\nfresh\n", output);

        var history = HistoryOf(built.Image).Where(h => h.CreatedBy.StartsWith("RUN ", StringComparison.Ordinal)).ToList();
        Assert.Equal("RUN /bin/busybox --install -s /bin # buildkit", history[0].CreatedBy);
        Assert.StartsWith("RUN /bin/sh -c echo new > /data/new.txt && ", history[1].CreatedBy);
        Assert.EndsWith(" # buildkit", history[1].CreatedBy);
        Assert.All(history, h => Assert.False(h.EmptyLayer));
        Assert.All(history, h => Assert.Equal("buildkit.dockerfile.v0", h.Comment));
    }

    [Fact]
    public async Task USER_numeric_and_by_name_and_WORKDIR_are_honoured_and_ARGs_show_in_history()
    {
        var built = await BuildAsync(Busybox + """
            COPY passwd group /etc/
            ARG FLAVOUR=plain
            USER 1000
            WORKDIR /numeric
            RUN id -u > uid && id -g > gid && pwd > pwd
            USER app
            WORKDIR /named/deeper
            RUN id -u > uid && id -g > gid && id -G > groups && pwd > pwd && echo $FLAVOUR > flavour
            """, context =>
        {
            File.WriteAllText(Path.Combine(context, "passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345::/named:/bin/sh\n");
            File.WriteAllText(Path.Combine(context, "group"), "root:x:0:\napp:x:2345:\nextra:x:3456:app\n");
        }, buildArgs: new Dictionary<string, string> { ["FLAVOUR"] = "spicy" });

        Assert.Equal("1000\n", Read(built.Rootfs, "/numeric/uid"));
        Assert.Equal("0\n", Read(built.Rootfs, "/numeric/gid"));
        Assert.Equal("/numeric\n", Read(built.Rootfs, "/numeric/pwd"));
        Assert.Equal("1234\n", Read(built.Rootfs, "/named/deeper/uid"));
        Assert.Equal("2345\n", Read(built.Rootfs, "/named/deeper/gid"));
        Assert.Equal("2345 3456\n", Read(built.Rootfs, "/named/deeper/groups"));
        Assert.Equal("/named/deeper\n", Read(built.Rootfs, "/named/deeper/pwd"));
        Assert.Equal("spicy\n", Read(built.Rootfs, "/named/deeper/flavour"));
        var entries = await LayerEntriesAsync(built.Image.Layers[^1]);
        Assert.Equal(1234, entries.Single(e => e.Name == "named/deeper/uid").Uid);
        Assert.Contains(HistoryOf(built.Image), h => h.CreatedBy == "RUN |1 FLAVOUR=spicy /bin/sh -c id -u > uid && id -g > gid && pwd > pwd # buildkit");
    }

    [Fact]
    public async Task An_unknown_USER_name_is_LIV5009()
    {
        var e = await FailAsync(Busybox + "USER nobody-here\nRUN true\n");
        Assert.Equal("LIV5009", e.Code);
        Assert.Equal(5, e.Span?.Line);
        Assert.Contains("unable to find user nobody-here", e.Message);
    }

    [Fact]
    public async Task A_failing_RUN_is_LIV5002_at_its_line_with_the_exit_code_and_its_last_lines()
    {
        var e = await FailAsync(Busybox + "RUN echo first-line; echo to-stderr >&2; exit 3\n");
        Assert.Equal("LIV5002", e.Code);
        Assert.Equal(4, e.Span?.Line);
        Assert.Contains("exit code: 3", e.Message);
        Assert.Contains("first-line", e.Message);
        Assert.Contains("to-stderr", e.Message);
    }

    [Fact]
    public async Task Output_streams_with_the_step_prefix_and_network_none_has_only_loopback()
    {
        var built = await BuildAsync(Busybox + """
            RUN echo hello-stream && ls /sys/class/net > /net-default.txt
            RUN --network=none ls /sys/class/net > /net-none.txt
            """);
        var lines = built.Logger.Lines.ToList();
        int header = lines.FindIndex(l => l.Contains("] RUN echo hello-stream", StringComparison.Ordinal));
        Assert.True(header >= 0, string.Join('\n', lines));
        string k = lines[header][(lines[header].IndexOf('[') + 1)..lines[header].IndexOf('/')];
        Assert.Contains($"info:   #{k} hello-stream", lines);
        Assert.Equal("lo\n", Read(built.Rootfs, "/net-none.txt"));
        Assert.NotEqual("lo\n", Read(built.Rootfs, "/net-default.txt"));
    }

    [Fact]
    public async Task Heredoc_RUN_runs_in_BuildKit_s_three_forms()
    {
        var built = await BuildAsync(Busybox + """
            RUN <<EOF
            echo heredoc-body > /h1.txt
            EOF
            RUN <<EOF
            #!/bin/sh
            echo "shebang $0" > /h2.txt
            EOF
            RUN cat > /h3.txt <<EOF
            full form
            EOF
            """);
        Assert.Equal("heredoc-body\n", Read(built.Rootfs, "/h1.txt"));
        Assert.Equal("shebang /dev/pipes/EOF\n", Read(built.Rootfs, "/h2.txt"));
        Assert.Equal("full form\n", Read(built.Rootfs, "/h3.txt"));
        Assert.False(Directory.Exists(Path.Combine(built.Rootfs, "dev")));
        Assert.Contains(HistoryOf(built.Image), h => h.CreatedBy == "RUN /bin/sh -c /dev/pipes/EOF # buildkit");
        Assert.Contains(HistoryOf(built.Image), h => h.CreatedBy == "RUN /bin/sh -c cat > /h3.txt <<EOF\nfull form\nEOF # buildkit");
    }

    [Fact]
    public async Task Multi_stage_with_RUN_in_two_stages_and_COPY_from()
    {
        var built = await BuildAsync(Busybox.Replace("FROM scratch", "FROM scratch AS tools") + """
            RUN echo from-tools > /made.txt

            FROM tools AS second
            RUN echo from-second > /second.txt && cat /made.txt >> /second.txt

            FROM tools
            COPY --from=second /second.txt /copied.txt
            RUN --mount=type=bind,from=second,source=/second.txt,target=/mnt/s.txt cat /mnt/s.txt > /mounted.txt
            ARG PAD=/scratchpad
            RUN --mount=type=tmpfs,target=$PAD echo t > /scratchpad/t && ls /scratchpad > /tmpfs.txt
            RUN --mount=type=bind,source=ctx.txt,target=/ctx.txt,rw cat /ctx.txt > /from-context.txt && echo no > /ctx.txt
            """, context => File.WriteAllText(Path.Combine(context, "ctx.txt"), "context file\n"));
        Assert.Equal("from-second\nfrom-tools\n", Read(built.Rootfs, "/copied.txt"));
        Assert.Equal("from-second\nfrom-tools\n", Read(built.Rootfs, "/mounted.txt"));
        Assert.Equal("t\n", Read(built.Rootfs, "/tmpfs.txt"));
        Assert.Equal("context file\n", Read(built.Rootfs, "/from-context.txt"));
        Assert.False(File.Exists(Path.Combine(built.Rootfs, "ctx.txt")));
        Assert.False(Directory.Exists(Path.Combine(built.Rootfs, "mnt")));
        Assert.False(Directory.Exists(Path.Combine(built.Rootfs, "scratchpad")));
        Assert.False(File.Exists(Path.Combine(built.Rootfs, "second.txt")));
    }

    [Fact]
    public async Task A_cache_mount_persists_across_builds_and_stays_out_of_the_layer()
    {
        string id = Guid.NewGuid().ToString("N");
        // The build argument makes the second build run the RUN again instead of reusing the step cache's layer.
        string dockerfile = Busybox + $"""
            ARG PASS
            RUN --mount=type=cache,id={id},target=/var/cache/app,sharing=locked,uid=1000,mode=0700 echo hit >> /var/cache/app/count && cat /var/cache/app/count > /seen.txt && stat -c %u:%a /var/cache/app > /owner.txt
            """;
        await BuildAsync(dockerfile, buildArgs: new Dictionary<string, string> { ["PASS"] = "1" });
        var second = await BuildAsync(dockerfile, buildArgs: new Dictionary<string, string> { ["PASS"] = "2" });
        Assert.Equal("hit\nhit\n", Read(second.Rootfs, "/seen.txt"));
        Assert.Equal("1000:700\n", Read(second.Rootfs, "/owner.txt"));
        Assert.False(Directory.Exists(Path.Combine(second.Rootfs, "var")));
    }

    /// <summary>The folder of the cache mount <paramref name="id"/> in the fixture's state folder, and its size record.</summary>
    private (string Mount, string Record) CacheMount(string id)
    {
        string hex = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(id))).ToLowerInvariant();
        string mount = Path.Combine(StateLayout.CacheMounts(fixture.StateDirectory), hex);
        return (mount, StateLayout.CacheMountSize(mount));
    }

    private static long Recorded(string record) => long.Parse(File.ReadAllLines(record)[1], System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_RUN_that_writes_a_cache_mount_forgets_its_recorded_size_first_and_a_read_only_one_keeps_it()
    {
        string id = "size-" + Guid.NewGuid().ToString("N");
        var (mount, record) = CacheMount(id);
        var folder = StateFolder.Open(fixture.StateDirectory);

        // The build's own size check walks the mount the RUN wrote and records it.
        await BuildAsync(Busybox + $"RUN --mount=type=cache,id={id},target=/c mkdir -p /c/sub && head -c 1000 /dev/zero > /c/sub/one\n");
        Assert.Equal(1000, Recorded(record));

        // Written behind the record's back, below the mount's top: the next size checks do not walk, so do not see it.
        File.WriteAllBytes(Path.Combine(mount, "sub", "hidden"), new byte[7]);
        Assert.False(StatePruner.TryEnforceCap(folder, long.MaxValue, null).Skipped);
        Assert.Equal(1000, Recorded(record));

        // A read-only mount cannot write: its RUN keeps the record.
        var reader = await BuildAsync(Busybox + $"RUN --mount=type=cache,id={id},target=/c,ro wc -c < /c/sub/one > /n.txt\n");
        Assert.Equal("1000\n", Read(reader.Rootfs, "/n.txt"));
        Assert.Equal(1000, Recorded(record));

        // A shared mount's RUN writes, then its build stops before any size check (the RUN fails): the record went
        // before the RUN ran, so the next check walks the mount and counts everything, the hidden bytes too.
        var failed = await FailAsync(Busybox + $"RUN --mount=type=cache,id={id},target=/c,sharing=shared head -c 3000 /dev/zero > /c/sub/two && exit 3\n");
        Assert.Equal(DiagnosticCodes.RunFailed, failed.Code);
        Assert.Equal(3000, new FileInfo(Path.Combine(mount, "sub", "two")).Length);
        Assert.False(File.Exists(record));
        Assert.False(StatePruner.TryEnforceCap(folder, long.MaxValue, null).Skipped);
        Assert.Equal(4007, Recorded(record));
    }

    [Fact]
    public async Task A_private_cache_mount_in_use_gives_the_next_instance_which_forgets_only_its_own_record()
    {
        string id = "private-" + Guid.NewGuid().ToString("N");
        var (mount, record) = CacheMount(id);
        var folder = StateFolder.Open(fixture.StateDirectory);
        Directory.CreateDirectory(Path.Combine(mount, "sub"));
        File.WriteAllBytes(Path.Combine(mount, "sub", "kept"), new byte[10]);
        Directory.SetLastWriteTimeUtc(mount, DateTime.UtcNow.AddHours(-1)); // last changed by an earlier build
        Assert.False(StatePruner.TryEnforceCap(folder, long.MaxValue, null).Skipped);
        Assert.Equal(10, Recorded(record));
        // Below instance 0's top, behind its record's back: counted only if something forgets that record.
        File.WriteAllBytes(Path.Combine(mount, "sub", "hidden"), new byte[5]);

        // Another RUN holds instance 0, as a concurrent build's would: this RUN takes instance 1.
        using (new FileStream(mount + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
            await BuildAsync(Busybox + $"RUN --mount=type=cache,id={id},target=/c,sharing=private head -c 500 /dev/zero > /c/p\n");
        Assert.False(StatePruner.TryEnforceCap(folder, long.MaxValue, null).Skipped);

        Assert.Equal(10, Recorded(record));
        Assert.Equal(500, new FileInfo(Path.Combine(mount + "-1", "p")).Length);
        Assert.Equal(500, Recorded(StateLayout.CacheMountSize(mount + "-1")));
    }

    [Fact]
    public async Task A_secret_reaches_the_RUN_but_never_a_layer_the_history_or_the_log()
    {
        string canary = "canary-" + Guid.NewGuid().ToString("N");
        string variable = "LIVRABLE_TEST_SECRET_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        string file = Path.Combine(fixture.NewFolder("secret"), "token.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, canary);
        Environment.SetEnvironmentVariable(variable, canary);
        try
        {
            var built = await BuildAsync(Busybox + """
                RUN --mount=type=secret,id=from-env,env=TOKEN --mount=type=secret,id=from-file,uid=1000 --mount=type=secret,id=absent test "${#TOKEN}" = 39 && wc -c < /run/secrets/from-file > /len.txt && stat -c %a:%u /run/secrets/from-file > /mode.txt && test ! -e /run/secrets/absent
                """, secrets: new Dictionary<string, BuildSecret> { ["from-env"] = new(variable, null), ["from-file"] = new(null, file) });
            Assert.Equal("39\n", Read(built.Rootfs, "/len.txt"));
            Assert.Equal("400:1000\n", Read(built.Rootfs, "/mode.txt"));
            Assert.False(Directory.Exists(Path.Combine(built.Rootfs, "run")));
            Assert.DoesNotContain(built.Logger.Lines, l => l.Contains(canary, StringComparison.Ordinal));
            Assert.DoesNotContain(canary, System.Text.Encoding.UTF8.GetString(built.Image.ConfigBytes));
            foreach (var layer in built.Image.Layers)
            {
                await using var raw = await layer.OpenAsync(CancellationToken.None);
                await using var gz = new GZipStream(raw, CompressionMode.Decompress);
                var plain = new MemoryStream();
                await gz.CopyToAsync(plain);
                Assert.DoesNotContain(canary, System.Text.Encoding.Latin1.GetString(plain.ToArray()));
            }
            var grep = await Tools.RunAsync("grep", ["-rl", canary, built.Work, fixture.StateDirectory]);
            Assert.Equal("", grep.Stdout.Replace(file + "\n", ""));
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }

        var e = await FailAsync(Busybox + "RUN --mount=type=secret,id=missing,required true\n");
        Assert.Equal("LIV5018", e.Code);
    }

    [Fact]
    public async Task Hosts_and_resolv_conf_are_provided_but_not_in_the_layer_and_no_descriptor_leaks()
    {
        var built = await BuildAsync(Busybox + """
            RUN cat /etc/hosts > /hosts.txt && cat /etc/resolv.conf > /resolv.txt && hostname > /hostname.txt && ls /proc/self/fd > /fds.txt
            """);
        Assert.Contains("localhost", Read(built.Rootfs, "/hosts.txt"));
        Assert.Equal("buildkitsandbox\n", Read(built.Rootfs, "/hostname.txt"));
        Assert.Equal(File.ReadAllText("/etc/resolv.conf"), Read(built.Rootfs, "/resolv.txt"));
        Assert.False(Directory.Exists(Path.Combine(built.Rootfs, "etc")));
        var names = (await LayerEntriesAsync(built.Image.Layers[^1])).Select(e => e.Name).ToList();
        Assert.DoesNotContain(names, n => n.StartsWith("etc", StringComparison.Ordinal));
        // 0, 1, 2 and the folder ls itself opened: nothing of the build reached the container (CVE-2024-21626).
        var fds = Read(built.Rootfs, "/fds.txt").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(fds.Length <= 4, "descriptors in the container: " + string.Join(' ', fds));
    }

    [Fact]
    public async Task The_images_own_etc_hostname_is_writable_in_RUN_and_its_change_is_in_the_layer()
    {
        // BuildKit's executor provides /etc/hosts and /etc/resolv.conf only (issue 15): /etc/hostname is the image's.
        var built = await BuildAsync(Busybox + """
            COPY hostname /etc/hostname
            RUN chown 1:1 /etc/hostname && echo built > /etc/hostname
            """, context => File.WriteAllText(Path.Combine(context, "hostname"), "base\n"));
        Assert.Equal("built\n", Read(built.Rootfs, "/etc/hostname"));
        Assert.Contains(("etc/hostname", TarEntryType.RegularFile, 1), await LayerEntriesAsync(built.Image.Layers[^1]));
    }

    [Fact]
    public async Task A_WORKDIR_under_proc_self_fd_is_refused_before_running()
    {
        var e = await FailAsync(Busybox + "WORKDIR /proc/self/fd/7\nRUN pwd\n");
        Assert.Equal("LIV5010", e.Code);
        Assert.Equal(5, e.Span?.Line);
    }

    [Fact]
    public async Task RUN_runs_under_the_default_seccomp_filter()
    {
        // Seccomp: 2 is a filter (0 none). unshare and mount are refused by it (EPERM), as in Docker; the shell, files,
        // sockets and threads work.
        var built = await BuildAsync(Busybox + """
            RUN grep '^Seccomp:' /proc/self/status | tr -d ' \t' > /seccomp.txt
            RUN if unshare -U true 2>/dev/null; then echo allowed; else echo refused; fi > /unshare.txt; echo done > /done.txt
            """);
        Assert.Equal("Seccomp:2\n", Read(built.Rootfs, "/seccomp.txt"));
        Assert.Equal("refused\n", Read(built.Rootfs, "/unshare.txt"));
        Assert.Equal("done\n", Read(built.Rootfs, "/done.txt"));
    }

    [Fact]
    public async Task A_WORKDIR_reaching_proc_self_fd_through_a_link_is_refused_before_running()
    {
        // The lexical check sees /fdl/7; resolved in the root it is /proc/self/fd/7 (issue 10, item 17). WORKDIR makes
        // /fdl/7 a folder, so the link replaces it afterwards.
        var e = await FailAsync(Busybox + "WORKDIR /fdl/7\nRUN cd / && rm -rf /fdl && ln -s /proc/self/fd /fdl\nRUN pwd\n");
        Assert.Equal("LIV5010", e.Code);
        Assert.Equal(6, e.Span?.Line);
        Assert.Contains("/proc/self/fd/7", e.Message);
    }

    [Fact]
    public async Task A_symlink_to_a_host_path_written_by_one_RUN_stays_inside_the_root_for_the_next()
    {
        string outside = fixture.NewFolder("outside");
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "sentinel.txt"), "untouched\n");
        var built = await BuildAsync(Busybox + $"""
            RUN ln -s {outside} /evil && ln -s ../../../../../../{outside.TrimStart('/')} /evil2
            RUN mkdir -p {outside} && echo pwned > /evil/pwned.txt && echo pwned > /evil2/sentinel.txt
            """);
        Assert.Equal(["sentinel.txt"], Directory.GetFileSystemEntries(outside).Select(Path.GetFileName));
        Assert.Equal("untouched\n", File.ReadAllText(Path.Combine(outside, "sentinel.txt")));
        // Both links resolved inside the container's root: the files are in the image, where the links point there.
        Assert.Equal("pwned\n", Read(built.Rootfs, outside + "/pwned.txt"));
        Assert.Equal("pwned\n", Read(built.Rootfs, outside + "/sentinel.txt"));
    }
}
