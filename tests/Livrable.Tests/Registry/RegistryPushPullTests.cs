using System.Security.Cryptography;
using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Registry;
using Livrable.Registry.Credentials;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Registry;

/// <summary>Push and pull against a real registry, read back by skopeo.</summary>
[Collection(RegistryCollection.Name)]
public sealed class RegistryPushPullTests : IDisposable
{
    private static readonly Platform Amd64 = new("linux", "amd64");
    private static readonly Platform Arm64 = new("linux", "arm64", "v8");

    private readonly RegistryFixture _registry;
    private readonly TempDirectory _temp = new();

    public RegistryPushPullTests(RegistryFixture registry)
    {
        _registry = registry;
    }

    public void Dispose() => _temp.Dispose();

    private BlobStore NewStore() => new(_temp["store-" + Guid.NewGuid().ToString("N")[..8]]);

    private static RegistryClient NewClient(BlobStore store, ILogger? logger = null, RegistryOptions? options = null)
        => new(options ?? new RegistryOptions { Credentials = AnonymousCredentialProvider.Instance }, store, logger ?? NullLogger.Instance);

    [Fact]
    public async Task Push_with_two_tags_is_seen_by_skopeo_and_a_second_push_uploads_nothing()
    {
        var store = NewStore();
        var image = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["hello.txt"] = "hello from the push test" }], Amd64);
        var logger = new RecordingLogger();
        using var client = NewClient(store, logger);
        var output = new RegistryOutput(client, _registry.Registry, logger);

        string pushed = await output.WriteAsync(image, "livrable/push", ["1.0", "latest"], CancellationToken.None);

        Assert.Equal($"{_registry.Registry}/livrable/push@{image.Digest}", pushed);
        Assert.Equal(2, client.Counters.BlobsUploaded);
        Assert.Contains(logger.Lines, l => l.StartsWith($"info: Pushed layer {image.Manifest.Layers[0].Digest.ToString()[..19]}", StringComparison.Ordinal));

        var (exit, json, error) = await Tools.RunAsync("skopeo", ["inspect", "--tls-verify=false", $"docker://{_registry.Registry}/livrable/push:1.0"]);
        Assert.True(exit == 0, error);
        using (var doc = JsonDocument.Parse(json))
        {
            Assert.Equal(image.Digest.ToString(), doc.RootElement.GetProperty("Digest").GetString());
            var tags = doc.RootElement.GetProperty("RepoTags").EnumerateArray().Select(t => t.GetString()).ToList();
            Assert.Contains("1.0", tags);
            Assert.Contains("latest", tags);
            Assert.Equal(image.Manifest.Layers[0].Digest.ToString(), doc.RootElement.GetProperty("Layers")[0].GetString());
        }

        string layout = _temp["layout"];
        (exit, _, error) = await Tools.RunAsync("skopeo", ["--insecure-policy", "copy", "--src-tls-verify=false",
            $"docker://{_registry.Registry}/livrable/push:latest", $"oci:{layout}:copied"]);
        Assert.True(exit == 0, error);
        Assert.True(File.Exists(Path.Combine(layout, "blobs", "sha256", image.Manifest.Layers[0].Digest.Hex)));

        // Again with the same tags: both already name the digest (one manifest HEAD each), so nothing is pushed.
        logger.Clear();
        await output.WriteAsync(image, "livrable/push", ["1.0", "latest"], CancellationToken.None);
        Assert.True(output.UpToDate);
        Assert.Equal(2, client.Counters.BlobsUploaded);
        Assert.Equal(0, client.Counters.BlobsExisting);
        Assert.Contains(logger.Lines, l => l.Contains("is already there as 1.0, latest: nothing pushed."));

        // A new tag: every blob exists, so no bytes go up; only the manifests are put again.
        logger.Clear();
        await output.WriteAsync(image, "livrable/push", ["1.0", "latest", "again"], CancellationToken.None);
        Assert.False(output.UpToDate);
        Assert.Equal(2, client.Counters.BlobsUploaded);
        Assert.Equal(2, client.Counters.BlobsExisting);
        Assert.DoesNotContain(logger.Lines, l => l.StartsWith("info: Pushed layer", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.StartsWith("detail: Skipped layer", StringComparison.Ordinal) && l.Contains("exists"));
    }

    [Fact]
    public async Task Pull_returns_the_pushed_manifest_config_and_layers()
    {
        var pushStore = NewStore();
        var image = await TestImages.BuildAsync(pushStore, [new Dictionary<string, string> { ["hello.txt"] = "hello from the pull test" }], Amd64);
        using (var client = NewClient(pushStore))
            await new RegistryOutput(client, _registry.Registry).WriteAsync(image, "livrable/pull", ["v1"], CancellationToken.None);

        // A fresh store, so the layer is really downloaded.
        var pullStore = NewStore();
        using var puller = NewClient(pullStore);
        var source = new RegistryImageSource(puller, _registry.Registry, "livrable/pull", "v1");
        var pulled = await source.ResolveAsync(Amd64, CancellationToken.None);

        Assert.Equal(image.Digest, pulled.Digest);
        Assert.Equal(image.ManifestBytes, pulled.ManifestBytes);
        Assert.Equal(image.ConfigBytes, pulled.ConfigBytes);
        Assert.Equal(image.Config.DiffIds, pulled.Config.DiffIds);
        var layer = Assert.Single(pulled.Layers);
        Assert.Equal(image.Layers[0].Descriptor.Digest, layer.Descriptor.Digest);
        Assert.Equal(image.Layers[0].DiffId, layer.DiffId);
        Assert.False(pullStore.Contains(layer.Descriptor.Digest));
        using (var stream = await layer.OpenAsync(CancellationToken.None))
        using (var copy = new MemoryStream())
        {
            await stream.CopyToAsync(copy);
            Assert.Equal(await File.ReadAllBytesAsync(pushStore.PathOf(layer.Descriptor.Digest)), copy.ToArray());
            // The diff id is the digest of the uncompressed tar.
            using var gunzip = new System.IO.Compression.GZipStream(new MemoryStream(copy.ToArray()), System.IO.Compression.CompressionMode.Decompress);
            using var tar = new MemoryStream();
            await gunzip.CopyToAsync(tar);
            Assert.Equal(layer.DiffId, Digest.Sha256(tar.ToArray()));
        }
        Assert.True(pullStore.Contains(layer.Descriptor.Digest));
        Assert.Equal(2, puller.Counters.BlobsDownloaded); // the config, then the layer

        // By digest too.
        var byDigest = await new RegistryImageSource(puller, _registry.Registry, "livrable/pull", image.Digest.ToString()).ResolveAsync(Amd64, CancellationToken.None);
        Assert.Equal(image.Digest, byDigest.Digest);
    }

    [Fact]
    public async Task Pull_of_an_index_selects_the_platform_and_refuses_an_unknown_one()
    {
        var store = NewStore();
        var amd = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["hello.txt"] = "amd64 content" }], Amd64);
        var arm = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["hello.txt"] = "arm64 content" }], Arm64);
        using var client = NewClient(store);
        var output = new RegistryOutput(client, _registry.Registry);
        await output.WriteAsync(amd, "livrable/multi", [], CancellationToken.None);
        await output.WriteAsync(arm, "livrable/multi", [], CancellationToken.None);
        var index = new ImageIndex(MediaTypes.OciIndex,
        [
            new Descriptor(MediaTypes.OciManifest, amd.Digest, amd.ManifestBytes.Length) { Platform = Amd64 },
            new Descriptor(MediaTypes.OciManifest, arm.Digest, arm.ManifestBytes.Length) { Platform = Arm64 },
        ]);
        await client.PutManifestAsync(_registry.Registry, "livrable/multi", "multi", MediaTypes.OciIndex, index.ToBytes(), CancellationToken.None);

        var source = new RegistryImageSource(client, _registry.Registry, "livrable/multi", "multi");
        var pulledArm = (RegistryImage)await source.ResolveAsync(new Platform("linux", "arm64"), CancellationToken.None);
        Assert.Equal(arm.Digest, pulledArm.Digest);
        Assert.Equal(Digest.Sha256(index.ToBytes()), pulledArm.IndexDigest);
        var pulledAmd = await source.ResolveAsync(Amd64, CancellationToken.None);
        Assert.Equal(amd.Digest, pulledAmd.Digest);

        var e = await Assert.ThrowsAsync<LivrableException>(() => source.ResolveAsync(new Platform("linux", "s390x"), CancellationToken.None));
        Assert.Equal(DiagnosticCodes.PlatformNotFound, e.Code);
        Assert.Contains("linux/amd64", e.Message);

        // A single-platform image asked for another platform.
        var single = new RegistryImageSource(client, _registry.Registry, "livrable/multi", amd.Digest.ToString());
        e = await Assert.ThrowsAsync<LivrableException>(() => single.ResolveAsync(Arm64, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.PlatformNotFound, e.Code);

        var (exit, json, error) = await Tools.RunAsync("skopeo", ["inspect", "--raw", "--tls-verify=false", $"docker://{_registry.Registry}/livrable/multi:multi"]);
        Assert.True(exit == 0, error);
        Assert.Contains(arm.Digest.ToString(), json);
    }

    [Fact]
    public async Task Chunked_upload_is_read_back_intact()
    {
        var store = NewStore();
        var image = await TestImages.BuildAsync(store,
            [new Dictionary<string, byte[]> { ["hello.txt"] = "chunked"u8.ToArray(), ["random.bin"] = RandomNumberGenerator.GetBytes(20_000) }], Amd64);
        Assert.True(image.Layers[0].Descriptor.Size > 3 * 4096);
        using var client = NewClient(store, options: new RegistryOptions
        {
            Credentials = AnonymousCredentialProvider.Instance,
            ForceChunkedUploads = true,
            ChunkSize = 4096,
        });
        await new RegistryOutput(client, _registry.Registry).WriteAsync(image, "livrable/chunked", ["c"], CancellationToken.None);
        Assert.Equal(2, client.Counters.BlobsUploaded);

        var (exit, _, error) = await Tools.RunAsync("skopeo", ["--insecure-policy", "copy", "--src-tls-verify=false",
            $"docker://{_registry.Registry}/livrable/chunked:c", $"oci:{_temp["chunked-layout"]}:c"]);
        Assert.True(exit == 0, error);
        var pullStore = NewStore();
        using var puller = NewClient(pullStore);
        var pulled = await new RegistryImageSource(puller, _registry.Registry, "livrable/chunked", "c").ResolveAsync(Amd64, CancellationToken.None);
        await using var s = await pulled.Layers[0].OpenAsync(CancellationToken.None);
        await s.CopyToAsync(Stream.Null);
        Assert.Equal(await File.ReadAllBytesAsync(store.PathOf(image.Layers[0].Descriptor.Digest)), await File.ReadAllBytesAsync(pullStore.PathOf(image.Layers[0].Descriptor.Digest)));
    }

    [Fact]
    public async Task A_pulled_layer_pushed_to_another_repository_is_mounted_not_uploaded()
    {
        var store = NewStore();
        var image = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["hello.txt"] = "mount me" }], Amd64);
        using (var client = NewClient(store))
            await new RegistryOutput(client, _registry.Registry).WriteAsync(image, "livrable/mount-from", ["1"], CancellationToken.None);

        var logger = new RecordingLogger();
        var pullStore = NewStore();
        using var second = NewClient(pullStore, logger);
        var pulled = await new RegistryImageSource(second, _registry.Registry, "livrable/mount-from", "1").ResolveAsync(Amd64, CancellationToken.None);
        await new RegistryOutput(second, _registry.Registry, logger).WriteAsync(pulled, "livrable/mount-to", ["1"], CancellationToken.None);

        Assert.Equal(1, second.Counters.BlobsMounted);
        Assert.Equal(1, second.Counters.BlobsUploaded); // the config, which is not a registry layer
        Assert.False(pullStore.Contains(image.Layers[0].Descriptor.Digest)); // never downloaded
        Assert.Contains(logger.Lines, l => l.StartsWith("info: Mounted layer", StringComparison.Ordinal));
        var (exit, json, error) = await Tools.RunAsync("skopeo", ["inspect", "--tls-verify=false", $"docker://{_registry.Registry}/livrable/mount-to:1"]);
        Assert.True(exit == 0, error);
        Assert.Contains(image.Digest.ToString(), json);
    }

    [Fact]
    public async Task A_corrupt_blob_is_LIV4001_and_is_not_kept()
    {
        var store = NewStore();
        var image = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["hello.txt"] = "this blob will be corrupted on the registry's disk" }], Amd64);
        using (var client = NewClient(store))
            await new RegistryOutput(client, _registry.Registry).WriteAsync(image, "livrable/corrupt", ["1"], CancellationToken.None);

        var layerDigest = image.Layers[0].Descriptor.Digest;
        string data = _registry.BlobDataPath(layerDigest.Hex);
        byte[] bytes = await File.ReadAllBytesAsync(data);
        bytes[bytes.Length / 2] ^= 0xFF;
        await File.WriteAllBytesAsync(data, bytes);

        var pullStore = NewStore();
        using var puller = NewClient(pullStore);
        var pulled = await new RegistryImageSource(puller, _registry.Registry, "livrable/corrupt", "1").ResolveAsync(Amd64, CancellationToken.None);
        var e = await Assert.ThrowsAsync<LivrableException>(() => pulled.Layers[0].OpenAsync(CancellationToken.None));
        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
        Assert.False(pullStore.Contains(layerDigest));
        Assert.Empty(Directory.GetFiles(pullStore.TempDirectory));
    }

    [Fact]
    public async Task Missing_manifest_is_LIV3004_and_a_closed_port_is_LIV3001()
    {
        using var client = NewClient(NewStore());
        var e = await Assert.ThrowsAsync<LivrableException>(() => client.GetManifestAsync(_registry.Registry, "livrable/nothing", "nope", CancellationToken.None));
        Assert.Equal(DiagnosticCodes.ManifestNotFound, e.Code);
        Assert.Contains("livrable/nothing", e.Message);

        e = await Assert.ThrowsAsync<LivrableException>(() => client.GetManifestAsync($"127.0.0.1:{RegistryFixture.FreePort()}", "x", "latest", CancellationToken.None));
        Assert.Equal(DiagnosticCodes.RegistryUnreachable, e.Code);
    }
}
