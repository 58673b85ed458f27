using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Outputs;

/// <summary>Loads tarballs into a private dockerd: the one reader that matters most to users.</summary>
public sealed class LocalEngineOutputTests : IClassFixture<Dockerd>, IDisposable
{
    private readonly Dockerd _dockerd;
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public LocalEngineOutputTests(Dockerd dockerd)
    {
        _dockerd = dockerd;
        _store = new BlobStore(_temp["state"]);
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Docker_loads_the_archive_output_under_every_tag()
    {
        var image = await TestImages.SimpleAsync(_store);
        string path = _temp["image.tar"];
        await new ArchiveOutput(path).WriteAsync(image, "livrable-test/archive", ["1.0", "latest"], CancellationToken.None);

        (await Tools.RunAsync("docker", ["load", "-i", path], environment: _dockerd.Environment)).EnsureSuccess();

        foreach (string tag in new[] { "1.0", "latest" })
            await AssertLoadedAsync($"livrable-test/archive:{tag}", image);
    }

    [Fact]
    public async Task LocalEngineOutput_runs_docker_load_honouring_DOCKER_HOST()
    {
        var image = await TestImages.BuildAsync(_store, [new Dictionary<string, string> { ["x.txt"] = "engine\n" }]);

        string result = await new LocalEngineOutput("docker", environment: _dockerd.Environment)
            .WriteAsync(image, "livrable-test/engine", ["dev"], CancellationToken.None);

        Assert.Equal("docker: livrable-test/engine:dev", result);
        await AssertLoadedAsync("livrable-test/engine:dev", image);
    }

    [Fact]
    public async Task ArchiveImage_reads_what_docker_save_writes()
    {
        // docker save before 25 writes <id>/layer.tar uncompressed, and may link a repeated layer to its first copy.
        var image = await TestImages.BuildAsync(_store,
        [
            new Dictionary<string, string> { ["same.txt"] = "same\n" },
            new Dictionary<string, string> { ["same.txt"] = "same\n" },
            new Dictionary<string, string> { ["top.txt"] = "top\n" },
        ]);
        await new LocalEngineOutput("docker", environment: _dockerd.Environment).WriteAsync(image, "livrable-test/saved", ["1"], CancellationToken.None);
        string saved = _temp["saved.tar"];
        (await Tools.RunAsync("docker", ["save", "-o", saved, "livrable-test/saved:1"], environment: _dockerd.Environment)).EnsureSuccess();

        var read = await new Livrable.Sources.ArchiveImage(saved, "livrable-test/saved:1", new BlobStore(_temp["fresh"]))
            .ResolveAsync(new Platform("linux", "amd64"), CancellationToken.None);

        Assert.Equal(image.Layers.Select(l => l.DiffId), read.Layers.Select(l => l.DiffId));
        await ImageValidator.ValidateAsync(read);
    }

    [Fact]
    public async Task A_failed_load_is_LIV6002_with_the_engine_error()
    {
        Tools.Require("docker");
        var image = await TestImages.SimpleAsync(_store);
        var nowhere = new Dictionary<string, string> { ["DOCKER_HOST"] = $"unix://{_temp["none.sock"]}" };

        var e = await Assert.ThrowsAsync<LivrableException>(() =>
            new LocalEngineOutput("docker", environment: nowhere).WriteAsync(image, "app", ["latest"], CancellationToken.None));

        Assert.Equal(DiagnosticCodes.LocalLoadFailed, e.Code);
        Assert.Contains("none.sock", e.Message);
        Assert.Empty(Directory.EnumerateFiles(Path.GetTempPath(), "livrable-load-*"));
    }

    [Fact]
    public async Task A_missing_engine_is_LIV6003_with_what_to_do()
    {
        var image = await TestImages.SimpleAsync(_store);

        var e = await Assert.ThrowsAsync<LivrableException>(() =>
            new LocalEngineOutput("podman") { SearchPath = _temp.Path }.WriteAsync(image, "app", ["latest"], CancellationToken.None));

        Assert.Equal(DiagnosticCodes.LocalEngineNotFound, e.Code);
        Assert.Contains("install docker or podman, or set ContainerArchiveOutputPath", e.Message);
    }

    [Fact]
    public void An_unknown_engine_is_LIV2003()
        => Assert.Equal(DiagnosticCodes.InvalidPropertyValue, Assert.Throws<LivrableException>(() => new LocalEngineOutput("containerd")).Code);

    private async Task AssertLoadedAsync(string name, IImage image)
    {
        var inspect = (await Tools.RunAsync("docker", ["image", "inspect", name], environment: _dockerd.Environment)).EnsureSuccess();
        using var doc = JsonDocument.Parse(inspect.Stdout);
        var loaded = doc.RootElement[0];
        // docker 20.10's image id is the config digest; its rootfs lists the diff ids.
        Assert.Equal(image.Manifest.Config.Digest.ToString(), loaded.GetProperty("Id").GetString());
        Assert.Equal(image.Layers.Select(l => l.DiffId.ToString()),
            loaded.GetProperty("RootFS").GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));
        Assert.Contains(name, loaded.GetProperty("RepoTags").EnumerateArray().Select(t => t.GetString()));
    }
}
