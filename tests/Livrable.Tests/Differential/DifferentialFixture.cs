using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;
using Livrable.Layers;

namespace Livrable.Tests.Differential;

/// <summary>What Livrable built: the image (validated), its config blob and its root filesystem as umoci unpacked it.</summary>
public sealed record LivrableImage(IImage Image, string ConfigJson, string RootFs, RecordingLogger Logger);

/// <summary>
/// Shared by the differential tests (one collection, so buildah's storage is set up once and the builds run one at a
/// time): the peer, and a tiny base image both builders start from, <see cref="BaseName"/>. The base is written by
/// Livrable's engine from a folder (not from a Dockerfile): a static busybox, an <c>/etc/passwd</c> and
/// <c>/etc/group</c> that name <c>app</c> (1000:1000) and <c>staff</c> (50) for <c>--chown</c> by name, and a config
/// with Cmd, Env and a label to inherit. buildah pulls it from the tarball into its storage; Livrable gets it as a
/// named context of the same name (a named context wins over the registry), so one Dockerfile serves both.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DifferentialFixture : IAsyncLifetime
{
    /// <summary>The base image's name in the Dockerfiles (<c>ARG BASE=…</c>, <c>COPY --from=…</c>).</summary>
    public const string BaseName = "localhost/livrable-diff-base:1";

    private readonly TempDirectory _temp = new();
    private int _cases;

    public BuildahPeer Peer { get; } = new();

    /// <summary>The base image tarball.</summary>
    public string BaseArchive => _temp["base.tar"];

    public static Platform Platform { get; } = Platform.FromRuntimeIdentifier("linux-x64");

    public async Task InitializeAsync()
    {
        Tools.Require("umoci");
        Tools.Require("skopeo");
        await WriteBaseAsync(BaseArchive, _temp["base-root"], _temp["base-state"]);
        await Peer.LoadAsync(BaseArchive, BaseName);
    }

    /// <summary>Writes the base image (<see cref="BaseName"/>) to <paramref name="archive"/>, from files put in <paramref name="root"/>.</summary>
    internal static async Task WriteBaseAsync(string archive, string root, string state)
    {
        Directory.CreateDirectory(Path.Combine(root, "bin"));
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        File.Copy(Tools.Require("busybox"), Path.Combine(root, "bin", "busybox"));
        File.WriteAllText(Path.Combine(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n");
        File.WriteAllText(Path.Combine(root, "etc", "group"), "root:x:0:\nstaff:x:50:app\napp:x:1000:\n");
        await ImageBuilder.BuildAsync(new ImageBuildRequest
        {
            BaseImage = "scratch",
            Platform = Platform,
            Repository = "localhost/livrable-diff-base",
            Tags = ["1"],
            ArchivePath = archive,
            StateDirectory = state,
            Format = ImageFormat.Docker,
            Layers = [new DirectoryLayerSpec(root, "/") { CreatedBy = "base" }],
            Config = new ConfigChanges
            {
                Cmd = ["/bin/sh"],
                Environment = [new("BASEVAR", "base")],
                Labels = [new("base", "1")],
            },
        }, NullLogger.Instance, CancellationToken.None);
    }

    /// <summary>
    /// A fresh build context: a copy of <c>Differential/Cases/<paramref name="name"/></c> (copied to the output folder
    /// by the test project) with folders 0755 and files 0644, whatever the checkout's umask; the test then adds what git
    /// does not carry well (symlinks, odd modes, archives).
    /// </summary>
    public string Context(string name) => CopyCase(name, _temp[$"{name}-{Interlocked.Increment(ref _cases)}", "context"]);

    /// <summary><see cref="Context"/> into <paramref name="context"/>, for the other differential fixtures.</summary>
    internal static string CopyCase(string name, string context)
    {
        string source = Path.Combine(AppContext.BaseDirectory, "Differential", "Cases", name);
        Assert.True(Directory.Exists(source), $"Missing test data {source}");
        foreach (string dir in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories).Prepend(source))
        {
            string target = Path.Combine(context, Path.GetRelativePath(source, dir));
            Directory.CreateDirectory(target);
            File.SetUnixFileMode(target, (UnixFileMode)Convert.ToInt32("755", 8));
        }
        foreach (string file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(context, Path.GetRelativePath(source, file));
            File.Copy(file, target);
            File.SetUnixFileMode(target, (UnixFileMode)Convert.ToInt32("644", 8));
        }
        return context;
    }

    /// <summary>
    /// Livrable's build of <c>context/Dockerfile</c> into an image tarball, the base given as a named context; the image
    /// goes through the shared validator (<see cref="ImageValidator.ValidateAsync"/>, then skopeo and umoci with
    /// <see cref="ImageValidator.ValidateArchiveAsync"/>), whose unpacked root filesystem is returned.
    /// </summary>
    public Task<LivrableImage> BuildAsync(string context, IReadOnlyDictionary<string, string> buildArgs, string? target = null)
        => BuildAsync(context, buildArgs, target, new Dictionary<string, string> { [BaseName] = BaseArchive });

    /// <summary>The same, with the base images <paramref name="bases"/> (name to tarball) given as named contexts.</summary>
    internal static async Task<LivrableImage> BuildAsync(string context, IReadOnlyDictionary<string, string> buildArgs, string? target,
        IReadOnlyDictionary<string, string> bases)
    {
        string work = Path.Combine(Path.GetDirectoryName(context)!, "livrable" + (target is null ? "" : "-" + target));
        var logger = new RecordingLogger();
        var request = new ImageBuildRequest
        {
            Platform = Platform,
            Repository = "livrable-diff/image",
            Tags = ["t"],
            ArchivePath = Path.Combine(work, "image.tar"),
            StateDirectory = Path.Combine(work, "state"),
            Dockerfile = new DockerfileBuild
            {
                DockerfilePath = Path.Combine(context, "Dockerfile"),
                ContextDirectory = context,
                BuildArgs = buildArgs,
                NamedContexts = bases.ToDictionary(b => b.Key, b => "archive:" + b.Value),
                Target = target,
            },
        };
        var result = await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);
        var image = await new ArchiveImage(request.ArchivePath, "t", new BlobStore(Path.Combine(work, "reader")))
            .ResolveAsync(Platform, CancellationToken.None);
        Assert.Equal(result.Digest, image.Digest);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath, image, "t", Path.Combine(work, "check"));
        return new LivrableImage(image, System.Text.Encoding.UTF8.GetString(image.ConfigBytes), rootfs, logger);
    }

    public Task DisposeAsync()
    {
        Peer.Dispose();
        _temp.Dispose();
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class DifferentialCollection : ICollectionFixture<DifferentialFixture>
{
    public const string Name = "Differential (buildah)";
}
