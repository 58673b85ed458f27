using System.Text.Json;
using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;
using Livrable.Runtime;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;
using Livrable.Layers;

namespace Livrable.Tests.Build;

/// <summary>
/// Multi-platform images through the engine (no MSBuild): one image per platform and an index over them, written to a
/// tarball (read back by Livrable, skopeo and docker load) and pushed to the real registry (read back by skopeo, with
/// and without <c>--override-arch</c>). Every image is checked by the shared validator.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class MultiPlatformTests(RegistryFixture registry, Dockerd docker) : IClassFixture<Dockerd>, IDisposable
{
    private static readonly Platform Amd64 = Platform.FromRuntimeIdentifier("linux-x64");
    private static readonly Platform Arm64 = Platform.FromRuntimeIdentifier("linux-arm64");

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A busybox-style image from scratch, built for both platforms (the same files on each).</summary>
    private ImageBuildRequest TwoPlatforms(string state, string? archive = null, string? registryName = null, ImageFormat format = ImageFormat.Oci)
    {
        string app = _temp["app"];
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "greeting.txt"), "hello from every platform\n");
        return new ImageBuildRequest
        {
            BaseImage = "scratch",
            Platform = Amd64,
            Platforms = [Amd64, Arm64],
            Repository = "livrable-test/multi",
            Tags = ["v1", "stable"],
            ArchivePath = archive,
            Registry = registryName,
            Format = format,
            StateDirectory = state,
            Layers = [new DirectoryLayerSpec(app, "/app") { CreatedBy = "app" }],
            Config = new ConfigChanges { WorkingDirectory = "/app", Cmd = ["/app/greeting.txt"] },
        };
    }

    [Fact]
    public async Task A_tarball_holds_an_index_of_both_platforms_read_by_skopeo_and_docker_load()
    {
        string tarball = _temp["out", "multi.tar"];
        var logger = new RecordingLogger();
        var result = await ImageBuilder.BuildAsync(TwoPlatforms(_temp["state"], tarball), logger, CancellationToken.None);

        // One progress line per platform image, and the final line names the index and both platforms.
        Assert.Contains(logger.Lines, l => l.Contains($"Image linux/amd64 {result.PlatformDigests[0].Digest}"));
        Assert.Contains(logger.Lines, l => l.Contains($"Image linux/arm64/v8 {result.PlatformDigests[1].Digest}"));
        Assert.Contains(logger.Lines, l => l.StartsWith($"info: Built livrable-test/multi:v1 {result.Digest} (2 platforms: linux/amd64, linux/arm64/v8) -> {tarball}"));

        var store = new BlobStore(_temp["reader"]);
        foreach (var (platform, digest) in result.PlatformDigests)
        {
            var image = await new ArchiveImage(tarball, "v1", store).ResolveAsync(platform, CancellationToken.None);
            Assert.Equal(digest, image.Digest);
            Assert.Equal(platform, image.Config.Platform);
            await ImageValidator.ValidateAsync(image);
        }

        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--raw", $"oci-archive:{tarball}:stable");
        var index = AssertIndex(raw.Stdout, MediaTypes.OciIndex, result);
        Assert.Equal(result.Digest, Digest.Sha256(System.Text.Encoding.UTF8.GetBytes(raw.Stdout)));
        var arm = await Tools.RunCheckedAsync("skopeo", "--override-arch", "arm64", "inspect", $"oci-archive:{tarball}:v1");
        using (var doc = JsonDocument.Parse(arm.Stdout))
            Assert.Equal("arm64", doc.RootElement.GetProperty("Architecture").GetString());
        Assert.Equal(2, index.Manifests.Count);

        // docker load reads manifest.json: the host's platform image, under the tags.
        (await Tools.RunAsync("docker", ["load", "-i", tarball], environment: docker.Environment)).EnsureSuccess();
        var inspect = (await Tools.RunAsync("docker", ["image", "inspect", "livrable-test/multi:stable"], environment: docker.Environment)).EnsureSuccess();
        using (var doc = JsonDocument.Parse(inspect.Stdout))
            Assert.Equal(PlatformExecution.HostArchitecture(), doc.RootElement[0].GetProperty("Architecture").GetString());
    }

    [Fact]
    public async Task A_push_puts_both_manifests_then_the_index_under_the_tags()
    {
        var request = TwoPlatforms(_temp["state"], registryName: registry.Registry);
        var result = await ImageBuilder.BuildAsync(request, new RecordingLogger(), CancellationToken.None);
        Assert.Equal($"{registry.Registry}/livrable-test/multi@{result.Digest}", result.Destination);

        string reference = $"docker://{registry.Registry}/livrable-test/multi:v1";
        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--tls-verify=false", "--raw", reference);
        AssertIndex(raw.Stdout, MediaTypes.OciIndex, result);
        foreach (var (arch, digest) in new[] { ("arm64", result.PlatformDigests[1].Digest), ("amd64", result.PlatformDigests[0].Digest) })
        {
            var one = await Tools.RunCheckedAsync("skopeo", "--override-arch", arch, "inspect", "--tls-verify=false", reference);
            using var doc = JsonDocument.Parse(one.Stdout);
            Assert.Equal(arch, doc.RootElement.GetProperty("Architecture").GetString());
            var manifest = await Tools.RunCheckedAsync("skopeo", "--override-arch", arch, "inspect", "--tls-verify=false", "--raw",
                $"docker://{registry.Registry}/livrable-test/multi@{digest}");
            Assert.Equal(digest, Digest.Sha256(System.Text.Encoding.UTF8.GetBytes(manifest.Stdout)));
        }

        // Livrable's own pull picks each platform's image out of the pushed index; each passes the validator.
        using var client = new RegistryClient(new RegistryOptions(), new BlobStore(_temp["pull"]), NullLogger.Instance);
        foreach (var (platform, digest) in result.PlatformDigests)
        {
            var image = await client.GetImageAsync(registry.Registry, "livrable-test/multi", "stable", platform, CancellationToken.None);
            Assert.Equal(digest, image.Digest);
            await ImageValidator.ValidateAsync(image);
        }
    }

    [Fact]
    public async Task The_same_inputs_give_the_same_index_digest_and_Docker_format_a_manifest_list()
    {
        var first = await ImageBuilder.BuildAsync(TwoPlatforms(_temp["state1"], _temp["1.tar"]), NullLogger.Instance, CancellationToken.None);
        var second = await ImageBuilder.BuildAsync(TwoPlatforms(_temp["state2"], _temp["2.tar"]), NullLogger.Instance, CancellationToken.None);
        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(File.ReadAllBytes(_temp["1.tar"]), File.ReadAllBytes(_temp["2.tar"]));

        // Docker's family: a manifest list over Docker manifests, as skopeo reads it from the registry.
        var request = TwoPlatforms(_temp["state1"], registryName: registry.Registry, format: ImageFormat.Docker) with { Repository = "livrable-test/multi-docker" };
        var docker = await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);
        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--tls-verify=false", "--raw", $"docker://{registry.Registry}/livrable-test/multi-docker:v1");
        AssertIndex(raw.Stdout, MediaTypes.DockerManifestList, docker);
        using var client = new RegistryClient(new RegistryOptions(), new BlobStore(_temp["pull"]), NullLogger.Instance);
        var image = await client.GetImageAsync(registry.Registry, "livrable-test/multi-docker", "v1", Arm64, CancellationToken.None);
        Assert.Equal(MediaTypes.DockerManifest, image.Manifest.MediaType);
        await ImageValidator.ValidateAsync(image);
    }

    [Fact]
    public async Task Images_built_per_platform_are_listed_as_they_are()
    {
        // Two single-platform images with different content, as one publish per runtime identifier makes them.
        var images = new List<PlatformImage>();
        var digests = new List<Digest>();
        foreach (var (platform, name) in new[] { (Amd64, "amd64"), (Arm64, "arm64") })
        {
            string app = _temp["apps", name];
            Directory.CreateDirectory(app);
            File.WriteAllText(Path.Combine(app, "arch.txt"), name + "\n");
            string tar = _temp["platforms", name + ".tar"];
            var single = await ImageBuilder.BuildAsync(new ImageBuildRequest
            {
                Platform = platform,
                Repository = "livrable-test/per-platform",
                Tags = ["latest"],
                ArchivePath = tar,
                StateDirectory = _temp["state"],
                Layers = [new DirectoryLayerSpec(app, "/app") { CreatedBy = "app" }],
            }, NullLogger.Instance, CancellationToken.None);
            images.Add(new PlatformImage(platform, "archive:" + tar));
            digests.Add(single.Digest);
        }

        string tarball = _temp["index.tar"];
        var result = await ImageBuilder.BuildAsync(new ImageBuildRequest
        {
            Platform = Amd64,
            PlatformImages = images,
            Repository = "livrable-test/per-platform",
            Tags = ["latest"],
            ArchivePath = tarball,
            StateDirectory = _temp["state"],
        }, new RecordingLogger(), CancellationToken.None);

        Assert.Equal(digests, result.PlatformDigests.Select(p => p.Digest));
        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--raw", $"oci-archive:{tarball}:latest");
        AssertIndex(raw.Stdout, MediaTypes.OciIndex, result);
        var arm = await new ArchiveImage(tarball, null, new BlobStore(_temp["reader"])).ResolveAsync(Arm64, CancellationToken.None);
        await ImageValidator.ValidateAsync(arm);
        var files = await TarMember.ReadAllAsync(await SaveLayerAsync(arm.Layers[^1]));
        Assert.Contains(files, m => m.Name == "app/arch.txt");

        // An image that is not for the platform its runtime identifier says is refused (its source finds no such platform).
        var wrong = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(new ImageBuildRequest
        {
            Platform = Arm64,
            PlatformImages = [new PlatformImage(Arm64, images[0].Image)],
            Repository = "livrable-test/per-platform",
            Tags = ["latest"],
            ArchivePath = _temp["wrong.tar"],
            StateDirectory = _temp["state"],
        }, NullLogger.Instance, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.PlatformNotFound, wrong.Code);
    }

    [Fact]
    public async Task One_platform_twice_is_LIV2120()
    {
        var request = TwoPlatforms(_temp["state"], _temp["x.tar"]) with { Platforms = [Amd64, Amd64] };
        var e = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.InvalidPlatformList, e.Code);
        Assert.False(File.Exists(_temp["x.tar"]));
    }

    [Fact]
    public void ContainerPlatforms_entries_are_normalised_and_a_bad_one_is_LIV2120()
    {
        var parsed = ImageBuildParameters.ParsePlatforms(["linux/amd64; linux/arm64", "linux/arm"]);
        Assert.Equal([Amd64, Arm64, new Platform("linux", "arm", "v7")], parsed);
        var request = new ImageBuildParameters { Repository = "app", Tags = ["latest"], RuntimeIdentifier = "linux-x64", Platforms = ["linux/amd64", "linux/arm64"], StateDirectory = _temp["state"] }.ToRequest();
        Assert.Equal([Amd64, Arm64], request.Platforms);
        Assert.True(request.IsMultiPlatform);

        Assert.Equal(DiagnosticCodes.InvalidPlatformList, Assert.Throws<LivrableException>(() => ImageBuildParameters.ParsePlatforms(["amd64"])).Code);
        Assert.Equal(DiagnosticCodes.InvalidPlatformList, Assert.Throws<LivrableException>(() => ImageBuildParameters.ParsePlatforms(["linux/arm64", "linux/arm64/v8"])).Code);
    }

    private async Task<string> SaveLayerAsync(ILayer layer)
    {
        string path = _temp["layers", layer.Descriptor.Digest.Hex + ".tar.gz"];
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await using var source = await layer.OpenAsync(CancellationToken.None);
        await using var file = File.Create(path);
        await source.CopyToAsync(file);
        return path;
    }

    /// <summary>Checks <paramref name="json"/> is the index of <paramref name="result"/>: media type, one entry per platform with its digest and platform.</summary>
    private static ImageIndex AssertIndex(string json, string mediaType, ImageBuildResult result)
    {
        var index = ImageIndex.Parse(System.Text.Encoding.UTF8.GetBytes(json));
        Assert.Equal(mediaType, index.MediaType);
        Assert.Equal(result.Digest, Digest.Sha256(System.Text.Encoding.UTF8.GetBytes(json)));
        Assert.Equal(result.PlatformDigests.Select(p => p.Digest), index.Manifests.Select(m => m.Digest));
        Assert.Equal(result.PlatformDigests.Select(p => p.Platform), index.Manifests.Select(m => m.Platform));
        return index;
    }
}
