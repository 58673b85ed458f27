using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Runtime;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;
using Livrable.Layers;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// A Dockerfile built for two platforms (ContainerPlatforms): TARGETPLATFORM and TARGETARCH per platform, FROM picking
/// each platform's entry of a multi-platform base, an index over the results; and a RUN for a platform this machine
/// cannot execute, refused at the RUN with LIV5100.
/// </summary>
public sealed class MultiPlatformDockerfileTests : IDisposable
{
    private static readonly Platform Amd64 = Platform.FromRuntimeIdentifier("linux-x64");
    private static readonly Platform Arm64 = Platform.FromRuntimeIdentifier("linux-arm64");

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A two-platform base whose images differ (<c>/base-arch.txt</c> names the architecture), as an image tarball holding its index.</summary>
    private async Task<string> BaseIndexAsync()
    {
        var images = new List<PlatformImage>();
        foreach (var platform in new[] { Amd64, Arm64 })
        {
            string dir = _temp["base", platform.Architecture];
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "base-arch.txt"), platform.Architecture + "\n");
            string tar = _temp["base", platform.Architecture + ".tar"];
            await ImageBuilder.BuildAsync(new ImageBuildRequest
            {
                Platform = platform,
                Repository = "base",
                Tags = ["latest"],
                ArchivePath = tar,
                StateDirectory = _temp["state"],
                Layers = [new DirectoryLayerSpec(dir, "/") { CreatedBy = "base" }],
            }, NullLogger.Instance, CancellationToken.None);
            images.Add(new PlatformImage(platform, "archive:" + tar));
        }
        string index = _temp["base", "index.tar"];
        await ImageBuilder.BuildAsync(new ImageBuildRequest
        {
            Platform = Amd64,
            PlatformImages = images,
            Repository = "base",
            Tags = ["latest"],
            ArchivePath = index,
            StateDirectory = _temp["state"],
        }, NullLogger.Instance, CancellationToken.None);
        return index;
    }

    private ImageBuildRequest Request(string dockerfile, IReadOnlyList<Platform> platforms, IReadOnlyDictionary<string, string>? namedContexts = null)
    {
        string context = _temp["context"];
        Directory.CreateDirectory(context);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), dockerfile);
        File.WriteAllText(Path.Combine(context, "app.txt"), "app\n");
        return new ImageBuildRequest
        {
            Platform = platforms[0],
            Platforms = platforms.Count > 1 ? platforms : [],
            Dockerfile = new DockerfileBuild
            {
                DockerfilePath = Path.Combine(context, "Dockerfile"),
                ContextDirectory = context,
                NamedContexts = namedContexts ?? new Dictionary<string, string>(),
            },
            Repository = "livrable-test/dockerfile-multi",
            Tags = ["v1"],
            ArchivePath = _temp["out", "image.tar"],
            StateDirectory = _temp["state"],
        };
    }

    [Fact]
    public async Task A_Dockerfile_is_built_once_per_platform_with_its_base_entry_and_TARGET_arguments()
    {
        string baseIndex = await BaseIndexAsync();
        var request = Request("""
            FROM base
            ARG TARGETPLATFORM
            ARG TARGETARCH
            COPY app.txt /app/
            LABEL target.platform=$TARGETPLATFORM target.arch=$TARGETARCH
            """, [Amd64, Arm64], new Dictionary<string, string> { ["base"] = "archive:" + baseIndex });
        var logger = new RecordingLogger();

        var result = await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);

        Assert.Contains(logger.Lines, l => l.Contains("(2 platforms: linux/amd64, linux/arm64/v8)") && l.Contains(result.Digest.ToString()));
        // The first platform's base layer opens the tarball, written while the COPY ran (Outputs/ArchivePrefix).
        Assert.Contains(logger.Lines, l => l.Contains("1 layers written while the steps ran"));
        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--raw", $"oci-archive:{request.ArchivePath}:v1");
        var index = ImageIndex.Parse(System.Text.Encoding.UTF8.GetBytes(raw.Stdout));
        Assert.Equal([Amd64, Arm64], index.Manifests.Select(m => m.Platform));
        var store = new BlobStore(_temp["reader"]);
        foreach (var platform in new[] { Amd64, Arm64 })
        {
            var image = await new ArchiveImage(request.ArchivePath!, "v1", store).ResolveAsync(platform, CancellationToken.None);
            await ImageValidator.ValidateAsync(image);
            Assert.Equal(platform, image.Config.Platform);
            // BuildKit's TARGETPLATFORM drops arm64's only variant, v8.
            Assert.Equal($"linux/{platform.Architecture}", image.Config.Labels["target.platform"]);
            Assert.Equal(platform.Architecture, image.Config.Labels["target.arch"]);
            // The base layer is that platform's entry of the base index.
            string layer = _temp["layers", platform.Architecture + ".tar.gz"];
            Directory.CreateDirectory(Path.GetDirectoryName(layer)!);
            await using (var source = await image.Layers[0].OpenAsync(CancellationToken.None))
            await using (var file = File.Create(layer))
                await source.CopyToAsync(file);
            var text = await Tools.RunCheckedAsync("tar", "-xzOf", layer, "base-arch.txt");
            Assert.Equal(platform.Architecture + "\n", text.Stdout);
        }
    }

    [Fact]
    public async Task A_RUN_for_a_platform_this_machine_cannot_execute_is_LIV5100_at_the_RUN()
    {
        // The first foreign platform with no binfmt_misc handler here (none is registered on a plain Debian machine).
        var foreign = new[] { Arm64, new Platform("linux", "s390x"), new Platform("linux", "ppc64le"), new Platform("linux", "riscv64") }
            .First(p => !PlatformExecution.CanExecute(p));
        var request = Request($"""
            FROM scratch
            COPY app.txt /
            RUN ["/bin/true"]
            """, [foreign, Amd64]);

        var e = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None));

        Assert.Equal(DiagnosticCodes.ForeignPlatformRun, e.Code);
        Assert.Equal(3, e.Span?.Line);
        Assert.Equal(request.Dockerfile!.DockerfilePath, e.Span?.File);
        Assert.Contains(foreign.ToString(), e.Message);
        Assert.Contains("binfmt_misc", e.Message);
        Assert.False(File.Exists(request.ArchivePath));
    }

    [Fact]
    public async Task A_RUN_free_Dockerfile_needs_no_emulation()
    {
        var request = Request("""
            FROM scratch
            COPY app.txt /
            """, [new Platform("linux", "s390x"), new Platform("linux", "riscv64")]);
        var result = await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);
        Assert.Equal(["s390x", "riscv64"], result.PlatformDigests.Select(p => p.Platform.Architecture));
    }

    [Theory]
    [InlineData("7f454c460201010000000000000000000200b700", "arm64", true)]
    [InlineData("7f454c460201010000000000000000000200b700", "s390x", false)]
    [InlineData("7f454c4602020100000000000000000000020016", "s390x", true)]
    public void A_binfmt_misc_handler_makes_its_ELF_machine_executable(string magic, string architecture, bool expected)
    {
        string dir = _temp["binfmt"];
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "status"), "enabled\n");
        File.WriteAllText(Path.Combine(dir, "register"), "");
        File.WriteAllText(Path.Combine(dir, "qemu-test"), $"enabled\ninterpreter /usr/bin/qemu-test\nflags: F\noffset 0\nmagic {magic}\nmask fffffffffffefe00fffffffffffffffffeffff00\n");

        Assert.Equal(expected, PlatformExecution.CanExecute(new Platform("linux", architecture), dir, hostArchitecture: "amd64"));
        Assert.True(PlatformExecution.CanExecute(new Platform("linux", "amd64"), dir, hostArchitecture: "amd64"));
        Assert.False(PlatformExecution.CanExecute(new Platform("linux", "arm64"), _temp["missing"], hostArchitecture: "amd64"));
    }
}
