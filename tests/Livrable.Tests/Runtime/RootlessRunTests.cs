using System.Text.Json;
using Livrable.Build;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Runtime;

/// <summary>
/// RUN without root: the engine (Livrable.Cli, as the .NET Framework task runs it) started as an unprivileged user with
/// <c>setpriv</c>, so it builds through a user namespace (util-linux <c>unshare</c>, <c>newuidmap</c>) instead of
/// mounting overlays itself. The tests run as root to create that user (with a subordinate id range, as useradd gives
/// one) and to compare with a root build of the same Dockerfile: the two must give the same image digest.
/// </summary>
public sealed class RootlessRunTests : IDisposable
{
    /// <summary>A user with a subordinate id range (useradd gives a new login user one, /etc/login.defs SUB_UID_COUNT).</summary>
    internal const string UserName = "livrable-rootless";

    /// <summary><c>setpriv</c>'s arguments that run the CLI as <see cref="UserName"/>, with its groups.</summary>
    internal static readonly string[] AsUser = ["--reuid", UserName, "--regid", UserName, "--init-groups"];

    /// <summary>A uid with no account: no name, so no subordinate range; only root exists in its namespace.</summary>
    private const int NamelessUid = 47913;

    private static readonly string CliPath = Path.Combine(AppContext.BaseDirectory, "Livrable.Cli.dll");
    private readonly TempDirectory _temp = new();

    public void Dispose()
    {
        // Files the rootless builds gave to subordinate ids: root deletes them all.
        Tools.RunAsync("rm", ["-rf", _temp.Path]).GetAwaiter().GetResult();
        _temp.Dispose();
    }

    private const string Dockerfile = """
        FROM scratch
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        RUN mkdir -p /data/dir && echo one > /data/gone && echo keep > /data/keep && echo x > /data/dir/x && chown 100:101 /data/keep && chmod 4755 /data/keep
        RUN rm /data/gone && rm -rf /data/dir && mkdir /data/dir && echo new > /data/dir/y && id -u > /whoami
        RUN mkdir -m 700 /data/private && echo secret > /data/private/s && chmod 600 /data/private/s && ln /data/private/s /data/private/t && chown -R 100:101 /data/private
        WORKDIR /w/x
        RUN pwd > /w/x/pwd

        """;

    [Fact]
    public async Task A_user_with_a_subordinate_range_builds_RUN_rootless_to_the_same_digest_as_root()
    {
        await EnsureUserAsync();
        string work = Workspace(Dockerfile);
        await ChownAsync(work, UserName);

        var rootless = await RunCliAsync(work, "rootless", AsUser);
        Assert.True(rootless.Run.ExitCode == 0, rootless.Run.Stdout + rootless.Run.Stderr);
        var root = await RunCliAsync(work, "root", null);
        Assert.True(root.Run.ExitCode == 0, root.Run.Stdout + root.Run.Stderr);
        Assert.Equal(root.Digest, rootless.Digest);

        string archive = Path.Combine(work, "out-rootless", "image.tar");
        var image = await new ArchiveImage(archive, "v1", new BlobStore(Path.Combine(work, "reader"))).ResolveAsync(Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(archive, image, "v1", Path.Combine(work, "check"));
        // The deleted file is gone, the replaced folder holds only its new file, the other user's setuid file kept both.
        Assert.False(File.Exists(Path.Combine(rootfs, "data", "gone")));
        Assert.Equal(["y"], Directory.GetFiles(Path.Combine(rootfs, "data", "dir")).Select(Path.GetFileName));
        var keep = await Tools.RunCheckedAsync("stat", "-c", "%u:%g %a", Path.Combine(rootfs, "data", "keep"));
        Assert.Equal("100:101 4755", keep.Stdout.Trim());
        Assert.Equal("0\n", File.ReadAllText(Path.Combine(rootfs, "whoami")));
        // A folder only its owner (another user of the namespace) may read, as apt's partial/ is: read in the namespace.
        var privateFolder = await Tools.RunCheckedAsync("stat", "-c", "%u:%g %a %h", Path.Combine(rootfs, "data", "private"), Path.Combine(rootfs, "data", "private", "s"));
        Assert.Equal("100:101 700 2\n100:101 600 2", privateFolder.Stdout.Trim());
        Assert.Equal("secret\n", File.ReadAllText(Path.Combine(rootfs, "data", "private", "t")));
        Assert.Equal("/w/x\n", File.ReadAllText(Path.Combine(rootfs, "w", "x", "pwd")));

        // Nothing left mounted, nothing half-written: the state folder holds blobs, extracted layers, and an empty tmp.
        string state = Path.Combine(work, "state-rootless");
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(state, "tmp")));
        Assert.Contains(Directory.GetDirectories(state), d => Path.GetFileName(d).StartsWith("rootfs-userns-", StringComparison.Ordinal));
        var mounts = await File.ReadAllTextAsync("/proc/self/mountinfo");
        Assert.DoesNotContain(work, mounts);
    }

    /// <summary>
    /// Every kind of entry a RUN leaves, for the rootless read of the upper folder (in place, the owners recorded in the
    /// namespace) against root's: owners and modes of other users of the namespace (set-id, sticky, a file and a folder
    /// mode 000), overlay's whiteouts and an opaque folder, hard links (the first name in tar order holding the bytes),
    /// symbolic links, a fifo, a sparse and a large file, a deep tree, names with odd bytes; then a later RUN (the
    /// upper folder adopted) and a stage copying the unreadable files from it. Busybox has no <c>setfattr</c> or
    /// <c>setcap</c> and a user namespace cannot <c>mknod</c>: attributes and devices are the root tests' (no layer holds
    /// an attribute either way).
    /// </summary>
    private const string EveryKindDockerfile = """
        FROM scratch AS base
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        RUN mkdir -p /d/opq/old /d/gone-dir && echo a > /d/opq/a && echo g > /d/gone && echo x > /d/gone-dir/x && echo keep > /d/keep
        RUN rm /d/gone && rm -rf /d/gone-dir /d/opq && mkdir /d/opq && echo b > /d/opq/b \
            && echo h > /d/z-hard && ln /d/z-hard /d/m-hard && ln /d/z-hard /d/a-hard \
            && ln -s ../keep /d/sym && ln -s /nowhere /d/dangling && mkfifo -m 640 /d/fifo \
            && echo s > /d/setuid && chmod 4755 /d/setuid && echo g > /d/setgid && chown 0:101 /d/setgid && chmod 2750 /d/setgid \
            && mkdir -m 1777 /d/sticky && echo n > /d/sticky/nobody && chown 65534:65534 /d/sticky/nobody \
            && echo u > /d/unreadable && chown 1000:1000 /d/unreadable && chmod 000 /d/unreadable \
            && mkdir /d/closed && echo c > /d/closed/c && chown -R 100:101 /d/closed && chmod 000 /d/closed/c /d/closed \
            && truncate -s 64M /d/sparse && echo end >> /d/sparse && yes 0123456789abcdef | head -c 12582912 > /d/large \
            && p=/d/deep && i=0 && while [ $i -lt 60 ]; do p=$p/level$i; i=$((i+1)); done && mkdir -p $p && echo deep > $p/f \
            && mkdir /d/odd && cd /d/odd && touch -- 'sp ace' "$(printf 'new\nline')" "$(printf 'tab\tq"uote')" 'back\slash' "$(printf '\303\251t\303\251')" '-dash' '*star'
        RUN cat /d/keep > /seen

        FROM base
        COPY --from=base /d/unreadable /d/closed/ /copied/

        """;

    [Fact]
    public async Task A_rootless_RUN_layer_of_every_kind_of_entry_is_the_root_RUNs()
    {
        await EnsureUserAsync();
        string work = Workspace(EveryKindDockerfile);
        await ChownAsync(work, UserName);
        var rootless = await RunCliAsync(work, "rootless", AsUser);
        Assert.True(rootless.Run.ExitCode == 0, rootless.Run.Stdout + rootless.Run.Stderr);
        // Read in place (no spool), and the upper folder adopted by the RUN after it.
        Assert.Contains("diff: owners of ", rootless.Run.Stdout);
        Assert.Contains("adopted from the RUN", rootless.Run.Stdout);
        var root = await RunCliAsync(work, "root", null);
        Assert.True(root.Run.ExitCode == 0, root.Run.Stdout + root.Run.Stderr);

        string Archive(string name) => Path.Combine(work, $"out-{name}", "image.tar");
        var rootImage = await new ArchiveImage(Archive("root"), "v1", new BlobStore(Path.Combine(work, "reader-root"))).ResolveAsync(Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        var image = await new ArchiveImage(Archive("rootless"), "v1", new BlobStore(Path.Combine(work, "reader"))).ResolveAsync(Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        // Layer by layer first, so that a difference names its RUN.
        Assert.Equal(rootImage.Layers.Select(l => l.DiffId.ToString()), image.Layers.Select(l => l.DiffId.ToString()));
        Assert.Equal(root.Digest, rootless.Digest);

        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(Archive("rootless"), image, "v1", Path.Combine(work, "check"));
        string d = Path.Combine(rootfs, "d");
        Assert.False(File.Exists(Path.Combine(d, "gone")));
        Assert.False(Directory.Exists(Path.Combine(d, "gone-dir")));
        Assert.Equal(["b"], Directory.GetFileSystemEntries(Path.Combine(d, "opq")).Select(Path.GetFileName));
        var stat = await Tools.RunCheckedAsync("stat", "-c", "%n %u:%g %a %h %F",
            Path.Combine(d, "setuid"), Path.Combine(d, "setgid"), Path.Combine(d, "sticky"), Path.Combine(d, "sticky", "nobody"),
            Path.Combine(d, "unreadable"), Path.Combine(d, "closed"), Path.Combine(d, "closed", "c"), Path.Combine(d, "a-hard"), Path.Combine(d, "fifo"));
        Assert.Equal(string.Join('\n',
            $"{d}/setuid 0:0 4755 1 regular file",
            $"{d}/setgid 0:101 2750 1 regular file",
            $"{d}/sticky 0:0 1777 2 directory",
            $"{d}/sticky/nobody 65534:65534 644 1 regular file",
            $"{d}/unreadable 1000:1000 0 1 regular file",
            $"{d}/closed 100:101 0 2 directory",
            $"{d}/closed/c 100:101 0 1 regular file",
            $"{d}/a-hard 0:0 644 3 regular file",
            $"{d}/fifo 0:0 640 1 fifo"), stat.Stdout.Trim());
        Assert.Equal("../keep", new FileInfo(Path.Combine(d, "sym")).LinkTarget);
        Assert.Equal("/nowhere", new FileInfo(Path.Combine(d, "dangling")).LinkTarget);
        Assert.Equal((64L << 20) + 4, new FileInfo(Path.Combine(d, "sparse")).Length);
        Assert.Equal(12582912, new FileInfo(Path.Combine(d, "large")).Length);
        Assert.Equal("deep\n", File.ReadAllText(Path.Combine([d, "deep", .. Enumerable.Range(0, 60).Select(i => $"level{i}"), "f"])));
        Assert.Equal(["*star", "-dash", "back\\slash", "new\nline", "sp ace", "tab\tq\"uote", "\u00e9t\u00e9"],
            Directory.GetFileSystemEntries(Path.Combine(d, "odd")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        // The later stage read the files only their namespace owners may read from the adopted folder.
        Assert.Equal("u\n", File.ReadAllText(Path.Combine(rootfs, "copied", "unreadable")));
        Assert.Equal("c\n", File.ReadAllText(Path.Combine(rootfs, "copied", "c")));
    }

    /// <summary>
    /// A name that is not UTF-8 cannot be a layer's: LIV5014 rootless as root (the spooled read wrote it with U+FFFD in
    /// place of its bytes, a file the RUN did not write).
    /// </summary>
    [Fact]
    public async Task A_RUN_file_whose_name_is_not_UTF8_is_LIV5014_rootless_as_root()
    {
        await EnsureUserAsync();
        string work = Workspace("""
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "--install", "-s", "/bin"]
            RUN mkdir /odd && echo x > "/odd/$(printf 'bad\377name')"

            """);
        await ChownAsync(work, UserName);
        foreach (var (name, setpriv) in new[] { ("rootless", (string[]?)AsUser), ("root", null) })
        {
            var run = await RunCliAsync(work, name, setpriv);
            Assert.True(run.Run.ExitCode == 1, name + ": " + run.Run.Stdout + run.Run.Stderr);
            Assert.Contains("\"code\":\"LIV5014\"", run.Run.Stdout);
            Assert.Contains("/odd/bad\\ufffdname', whose name is not UTF-8", run.Run.Stdout);
        }
    }

    [Fact]
    public async Task A_rootless_RUN_mounts_its_root_overlay_volatile()
    {
        // As root's (ContainerRunTests): the unmount must not wait for the file system's writeback. The namespace's
        // shell mounts it, so its script is what this checks.
        await EnsureUserAsync();
        string work = Workspace("""
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "--install", "-s", "/bin"]
            RUN cat /proc/self/mountinfo > /mountinfo

            """);
        await ChownAsync(work, UserName);
        var rootless = await RunCliAsync(work, "rootless", AsUser);
        Assert.True(rootless.Run.ExitCode == 0, rootless.Run.Stdout + rootless.Run.Stderr);

        string archive = Path.Combine(work, "out-rootless", "image.tar");
        var image = await new ArchiveImage(archive, "v1", new BlobStore(Path.Combine(work, "reader"))).ResolveAsync(Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        string rootfs = await ImageValidator.ValidateArchiveAsync(archive, image, "v1", Path.Combine(work, "check"));
        // mountinfo: id parent major:minor root mount-point options [optional fields] - type source super-options
        string root = Assert.Single(File.ReadAllLines(Path.Combine(rootfs, "mountinfo")), l => l.Split(' ') is [_, _, _, _, "/", ..] && l.Contains(" - overlay "));
        var options = root.Split(" - ")[1].Split(' ')[2].Split(',');
        Assert.True(options.Contains("volatile") || options.Contains("fsync=volatile"), $"not volatile: {string.Join(',', options)}");
    }

    [Fact]
    public async Task A_user_without_a_range_runs_as_root_only_and_another_USER_is_LIV5020()
    {
        string work = Workspace("""
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "--install", "-s", "/bin"]
            RUN echo hello > /hello && id -u > /whoami

            """);
        await ChownAsync(work, NamelessUid.ToString());
        string[] nameless = ["--reuid", NamelessUid.ToString(), "--regid", NamelessUid.ToString(), "--clear-groups"];
        var ok = await RunCliAsync(work, "nameless", nameless);
        Assert.True(ok.Run.ExitCode == 0, ok.Run.Stdout + ok.Run.Stderr);
        var root = await RunCliAsync(work, "root", null);
        Assert.Equal(root.Digest, ok.Digest);

        File.AppendAllText(Path.Combine(work, "context", "Dockerfile"), "USER 1000\nRUN echo never\n");
        var failed = await RunCliAsync(work, "nameless", nameless);
        Assert.Equal(1, failed.Run.ExitCode);
        Assert.Contains("\"code\":\"LIV5020\"", failed.Run.Stdout);
        Assert.Contains("no subordinate id range", failed.Run.Stdout);
    }

    private string Workspace(string dockerfile) => Workspace(_temp, dockerfile);

    /// <summary>A build's folder in <paramref name="temp"/>: <c>context/</c> with busybox and <paramref name="dockerfile"/> (FileCapabilityTests' too).</summary>
    internal static string Workspace(TempDirectory temp, string dockerfile)
    {
        string work = temp["w-" + Guid.NewGuid().ToString("N")[..8]];
        string context = Path.Combine(work, "context");
        Directory.CreateDirectory(context);
        File.Copy(Tools.Require("busybox"), Path.Combine(context, "busybox"));
        File.WriteAllText(Path.Combine(context, "Dockerfile"), dockerfile);
        return work;
    }

    /// <summary>
    /// Runs Livrable.Cli on a Dockerfile request in <paramref name="work"/>, as root when <paramref name="setpriv"/> is
    /// null, else through <c>setpriv</c> with those arguments; returns the run and the image digest of its result line.
    /// </summary>
    internal static async Task<(ToolResult Run, string? Digest)> RunCliAsync(string work, string name, string[]? setpriv)
    {
        string request = Path.Combine(work, $"request-{name}.json");
        File.WriteAllText(request, JsonSerializer.Serialize(new ImageBuildParameters
        {
            BaseImage = "scratch",
            RuntimeIdentifier = "linux-x64",
            Repository = "rootless",
            Tags = ["v1"],
            ArchiveOutputPath = Path.Combine(work, $"out-{name}", "image.tar"),
            StateDirectory = Path.Combine(work, $"state-{name}"),
            Dockerfile = Path.Combine(work, "context", "Dockerfile"),
            BuildContext = Path.Combine(work, "context"),
        }));
        if (setpriv is not null) await Tools.RunCheckedAsync("chmod", "a+r", request);
        var environment = new Dictionary<string, string>(Tools.DotnetEnvironment) { ["HOME"] = work, ["TMPDIR"] = work };
        var run = setpriv is null
            ? await Tools.RunAsync("dotnet", [CliPath, request], TimeSpan.FromMinutes(3), work, environment)
            : await Tools.RunAsync("setpriv", [.. setpriv, "--", "dotnet", CliPath, request], TimeSpan.FromMinutes(3), work, environment);
        string? digest = null;
        foreach (string line in run.Stdout.Split('\n'))
        {
            if (!line.Contains("\"kind\":\"result\"", StringComparison.Ordinal)) continue;
            using var doc = JsonDocument.Parse(line);
            digest = doc.RootElement.GetProperty("digest").GetString();
        }
        return (run, digest);
    }

    internal static async Task EnsureUserAsync()
    {
        Assert.True(Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root",
            "these tests create a user and run as it: they need root");
        Tools.Require("setpriv");
        Tools.Require("newuidmap");
        Tools.Require("unshare");
        var exists = await Tools.RunAsync("id", ["-u", UserName]);
        if (exists.ExitCode != 0)
            await Tools.RunCheckedAsync("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", UserName);
        string subuid = await File.ReadAllTextAsync("/etc/subuid");
        Assert.Contains(UserName + ":", subuid);
    }

    internal static Task ChownAsync(string path, string owner) => Tools.RunCheckedAsync("chown", "-R", $"{owner}:{owner}", path);
}
