using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build;

/// <summary>
/// Properties mode fetches a registry base's layers while it writes the new ones when the destination holds the base's
/// bytes (a tarball), and not for a push (the registry has them): the tarball is complete and read by skopeo and umoci.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class BasePrefetchTests(RegistryFixture registry) : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private ImageBuildRequest Request(string baseImage, string repository, string state) => new()
    {
        BaseImage = baseImage,
        Platform = Platform.FromRuntimeIdentifier("linux-x64"),
        Repository = repository,
        Tags = ["v1"],
        StateDirectory = state,
        Layers = [new FilesLayerSpec([new LayerFile(Tools.Require("busybox"), "/bin/busybox")]) { CreatedBy = "busybox" }],
    };

    [Fact]
    public async Task A_tarball_build_fetches_the_base_layers_during_the_layer_writes_and_a_push_does_not()
    {
        var basePush = Request("scratch", "livrable-test/prefetch-base", _temp["state-base"]) with { Registry = registry.Registry };
        await ImageBuilder.BuildAsync(basePush, NullLogger.Instance, CancellationToken.None);
        string baseImage = $"{registry.Registry}/livrable-test/prefetch-base:v1";
        File.WriteAllText(_temp["app.txt"], "app\n");
        var appLayer = new FilesLayerSpec([new LayerFile(_temp["app.txt"], "/app/app.txt")]) { CreatedBy = "app" };

        var toTarball = Request(baseImage, "livrable-test/prefetch-app", _temp["state"]) with
        {
            ArchivePath = _temp["out", "image.tar"],
            Layers = [appLayer],
        };
        var log = new RecordingLogger();
        var result = await ImageBuilder.BuildAsync(toTarball, log, CancellationToken.None);
        Assert.Contains(log.Lines, l => l.StartsWith("detail:   base layers in the store ", StringComparison.Ordinal));
        var image = await new ArchiveImage(toTarball.ArchivePath!, "v1", new BlobStore(_temp["reader"]))
            .ResolveAsync(toTarball.Platform, CancellationToken.None);
        Assert.Equal(result.Digest, image.Digest);
        string rootfs = await ImageValidator.ValidateArchiveAsync(toTarball.ArchivePath!, image, "v1", _temp["check"]);
        Assert.True(File.Exists(Path.Combine(rootfs, "bin", "busybox")), "the base layer is in the tarball");
        Assert.Equal("app\n", File.ReadAllText(Path.Combine(rootfs, "app", "app.txt")));

        var pushLog = new RecordingLogger();
        await ImageBuilder.BuildAsync(toTarball with { ArchivePath = null, Registry = registry.Registry, StateDirectory = _temp["state-push"] },
            pushLog, CancellationToken.None);
        Assert.DoesNotContain(pushLog.Lines, l => l.Contains("base layers in the store", StringComparison.Ordinal));
        await Tools.RunCheckedAsync("skopeo", "inspect", "--tls-verify=false", $"docker://{registry.Registry}/livrable-test/prefetch-app:v1");
    }

    /// <summary>
    /// Properties mode writes its layers while the base is resolved (issue 14): a base the registry does not have fails
    /// the build with the base's own error, once the layers started meanwhile have stopped (the build's temporary
    /// folder is gone, its lease released), and the same layers then build on a base that exists.
    /// </summary>
    [Fact]
    public async Task A_missing_base_fails_with_its_own_error_and_leaves_no_layer_write_running()
    {
        string state = _temp["state"];
        var missing = Request($"{registry.Registry}/livrable-test/missing-{Guid.NewGuid():N}:v1", "livrable-test/prefetch-missing", state) with
        {
            ArchivePath = _temp["out", "missing.tar"],
        };
        var log = new RecordingLogger();
        var e = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(missing, log, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.ManifestNotFound, e.Code);
        Assert.DoesNotContain(log.Lines, l => l.Contains("] busybox: ", StringComparison.Ordinal));
        Assert.False(File.Exists(missing.ArchivePath));
        var folder = StateFolder.Open(state);
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.TempDirectory));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.LeasesDirectory));

        var built = await ImageBuilder.BuildAsync(missing with { BaseImage = "scratch" }, NullLogger.Instance, CancellationToken.None);
        var image = await new ArchiveImage(missing.ArchivePath!, "v1", new BlobStore(_temp["reader"])).ResolveAsync(missing.Platform, CancellationToken.None);
        Assert.Equal(built.Digest, image.Digest);
        await ImageValidator.ValidateAsync(image);
    }

    /// <summary>
    /// Issue 14 item 5: a Dockerfile build fetches a registry base's missing layers and reads the stage's tree in the
    /// background from FROM on, while the COPY's context is keyed, instead of inside the COPY's plan; with the layers
    /// stored (an unchanged rebuild) nothing starts. The tarball holds the base and the copied file.
    /// </summary>
    [Fact]
    public async Task A_Dockerfile_build_fetches_a_missing_base_from_FROM_on_and_an_unchanged_rebuild_fetches_nothing()
    {
        var basePush = Request("scratch", "livrable-test/prefetch-dockerfile-base", _temp["state-base"]) with { Registry = registry.Registry };
        await ImageBuilder.BuildAsync(basePush, NullLogger.Instance, CancellationToken.None);
        string context = _temp["context"];
        Directory.CreateDirectory(context);
        File.WriteAllText(Path.Combine(context, "app.txt"), "app\n");
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $"FROM {registry.Registry}/livrable-test/prefetch-dockerfile-base:v1\nCOPY app.txt /app/\n");
        var request = Request("scratch", "livrable-test/prefetch-dockerfile-app", _temp["state-dockerfile"]) with
        {
            ArchivePath = _temp["out-dockerfile", "image.tar"],
            Layers = [],
            Dockerfile = new DockerfileBuild { DockerfilePath = Path.Combine(context, "Dockerfile"), ContextDirectory = context },
        };

        var log = new RecordingLogger();
        var result = await ImageBuilder.BuildAsync(request, log, CancellationToken.None);
        int prefetch = log.Lines.ToList().FindIndex(l => l == "detail:   base layers: fetching them and reading the stage's tree in the background");
        int copy = log.Lines.ToList().FindIndex(l => l.StartsWith("info: [2/3] COPY app.txt", StringComparison.Ordinal));
        Assert.True(prefetch >= 0 && prefetch < copy, string.Join('\n', log.Lines));
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(_temp["reader-dockerfile"]))
            .ResolveAsync(request.Platform, CancellationToken.None);
        Assert.Equal(result.Digest, image.Digest);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", _temp["check-dockerfile"]);
        Assert.True(File.Exists(Path.Combine(rootfs, "bin", "busybox")), "the base layer is in the tarball");
        Assert.Equal("app\n", File.ReadAllText(Path.Combine(rootfs, "app", "app.txt")));

        var again = new RecordingLogger();
        var unchanged = await ImageBuilder.BuildAsync(request with { ArchivePath = _temp["out-dockerfile-2", "image.tar"] }, again, CancellationToken.None);
        Assert.DoesNotContain(again.Lines, l => l.Contains("base layers: fetching", StringComparison.Ordinal));
        Assert.Equal(result.Digest, unchanged.Digest);
    }
}
