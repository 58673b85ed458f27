using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Tests.Infrastructure;
using Xunit;
using Livrable.Layers;

namespace Livrable.Tests.Differential;

/// <summary>
/// Shared by the BuildKit differential tests (one collection: one private dockerd, builds one at a time): the peer and
/// a merged-/usr base both builders start from, <see cref="BaseName"/>, written by Livrable's engine from a folder as
/// Debian's are laid out: <c>/bin -> usr/bin</c>, <c>/lib -> usr/lib</c>, a static busybox in <c>/usr/bin</c> with the
/// applets the RUNs use, <c>/etc/os-release -> ../usr/lib/os-release</c>, <c>/etc/localtime</c> an absolute link into
/// <c>/usr/share/zoneinfo</c>, <c>/etc/mtab -> /proc/self/mounts</c>, <c>/etc/issue -> ../usr/lib/issue</c>, the image's own <c>/etc/hostname</c>, and <c>/etc/passwd</c>/<c>/etc/group</c> naming
/// <c>app</c> (1000:1000) and <c>staff</c> (50). dockerd gets it with <c>docker load</c>; Livrable as a named context.
/// The buildah suite's base is loaded too, so its cases (<see cref="CaseContexts"/>) are built by BuildKit as well.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class BuildKitFixture : IAsyncLifetime
{
    /// <summary>The base image's name in the Dockerfiles.</summary>
    public const string BaseName = "localhost/livrable-diff-usrmerge:1";

    private static readonly string[] Applets = ["sh", "cat", "chmod", "chown", "cp", "echo", "ln", "ls", "mkdir", "mv", "rm", "touch"];

    private readonly TempDirectory _temp = new();
    private int _cases;

    public BuildKitPeer Peer { get; } = new();

    /// <summary>The base image tarball.</summary>
    public string BaseArchive => _temp["usrmerge.tar"];

    public async Task InitializeAsync()
    {
        await Peer.InitializeAsync();
        string root = _temp["base-root"];
        foreach (string dir in new[] { "etc", "usr/bin", "usr/lib", "usr/share/zoneinfo" })
            Directory.CreateDirectory(Path.Combine(root, dir));
        File.Copy(Tools.Require("busybox"), Path.Combine(root, "usr", "bin", "busybox"));
        foreach (string applet in Applets) File.CreateSymbolicLink(Path.Combine(root, "usr", "bin", applet), "busybox");
        Directory.CreateSymbolicLink(Path.Combine(root, "bin"), "usr/bin");
        Directory.CreateSymbolicLink(Path.Combine(root, "lib"), "usr/lib");
        File.WriteAllText(Path.Combine(root, "usr", "lib", "os-release"), "ID=base\n");
        File.CreateSymbolicLink(Path.Combine(root, "etc", "os-release"), "../usr/lib/os-release");
        File.WriteAllText(Path.Combine(root, "usr", "share", "zoneinfo", "UTC"), "TZif-base\n");
        File.CreateSymbolicLink(Path.Combine(root, "etc", "localtime"), "/usr/share/zoneinfo/UTC");
        File.CreateSymbolicLink(Path.Combine(root, "etc", "mtab"), "/proc/self/mounts");
        File.WriteAllText(Path.Combine(root, "usr", "lib", "issue"), "base issue\n");
        File.CreateSymbolicLink(Path.Combine(root, "etc", "issue"), "../usr/lib/issue");
        File.WriteAllText(Path.Combine(root, "etc", "hostname"), "base\n");
        File.WriteAllText(Path.Combine(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n");
        File.WriteAllText(Path.Combine(root, "etc", "group"), "root:x:0:\nstaff:x:50:app\napp:x:1000:\n");
        await ImageBuilder.BuildAsync(new ImageBuildRequest
        {
            BaseImage = "scratch",
            Platform = DifferentialFixture.Platform,
            Repository = "localhost/livrable-diff-usrmerge",
            Tags = ["1"],
            ArchivePath = BaseArchive,
            StateDirectory = _temp["base-state"],
            Format = ImageFormat.Docker,
            Layers = [new DirectoryLayerSpec(root, "/") { CreatedBy = "base" }],
            Config = new ConfigChanges
            {
                Cmd = ["/bin/sh"],
                Environment = [new("BASEVAR", "base")],
                Labels = [new("base", "1")],
            },
        }, NullLogger.Instance, CancellationToken.None);
        await Peer.LoadAsync(BaseArchive);
        await DifferentialFixture.WriteBaseAsync(SharedBaseArchive, _temp["shared-root"], _temp["shared-state"]);
        await Peer.LoadAsync(SharedBaseArchive);
    }

    /// <summary>The buildah suite's base (<see cref="DifferentialFixture.BaseName"/>), for its cases built here too.</summary>
    public string SharedBaseArchive => _temp["shared.tar"];

    /// <summary>A fresh build context: a copy of <c>Differential/Cases/<paramref name="name"/></c> (folders 0755, files 0644).</summary>
    public string Context(string name) => DifferentialFixture.CopyCase(name, _temp[$"{name}-{Interlocked.Increment(ref _cases)}", "context"]);

    /// <summary>Livrable's build of <c>context/Dockerfile</c>, validated (<see cref="DifferentialFixture.BuildAsync(string, IReadOnlyDictionary{string, string}, string?)"/>).</summary>
    public Task<LivrableImage> BuildAsync(string context, IReadOnlyDictionary<string, string> buildArgs, string? target = null)
        => DifferentialFixture.BuildAsync(context, buildArgs, target,
            new Dictionary<string, string> { [BaseName] = BaseArchive, [DifferentialFixture.BaseName] = SharedBaseArchive });

    public async Task DisposeAsync()
    {
        await Peer.DisposeAsync();
        _temp.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class BuildKitCollection : ICollectionFixture<BuildKitFixture>
{
    public const string Name = "Differential (BuildKit)";
}
