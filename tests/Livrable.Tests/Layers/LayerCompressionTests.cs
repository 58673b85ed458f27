using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Livrable.Build;
using Livrable.Build.Cache;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using SharpCompress.Compressors.ZStandard;
using Xunit;

namespace Livrable.Tests.Layers;

/// <summary>
/// ContainerLayerCompression: zstd frames as reproducible as the parallel gzip, layers of either kind through the
/// layer cache, and whole images of either kind read by skopeo and umoci and run with runc.
/// </summary>
public sealed class LayerCompressionTests : IDisposable
{
    private static readonly DateTimeOffset Epoch = new(2021, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Compressible and incompressible stretches, the same for a seed.</summary>
    private static byte[] Mixed(int length, int seed = 5)
    {
        var bytes = new byte[length];
        var random = new Random(seed);
        byte[] text = Encoding.ASCII.GetBytes("usr/lib/x86_64-linux-gnu/libexample.so.1 -> libexample.so.1.2.3\n");
        for (int i = 0; i < length; i += 64 * 1024)
        {
            var span = bytes.AsSpan(i, Math.Min(64 * 1024, length - i));
            if (random.Next(3) == 0) random.NextBytes(span);
            else for (int j = 0; j < span.Length; j++) span[j] = text[(i + j) % text.Length];
        }
        return bytes;
    }

    private static async Task<byte[]> ZstdAsync(byte[] input, int workers, int chunk)
    {
        var output = new MemoryStream();
        await using (var zstd = new DeterministicZstdStream(output, CompressionLevel.Optimal, leaveOpen: true, workers))
            for (int i = 0; i < input.Length; i += chunk)
            {
                await zstd.WriteAsync(input.AsMemory(i, Math.Min(chunk, input.Length - i)));
                await zstd.FlushAsync(); // ignored: a flush would change the bytes
            }
        return output.ToArray();
    }

    private static string Sha256(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3 << 20)]
    [InlineData((9 << 20) + 4321)]
    public async Task Zstd_is_the_same_for_1_2_and_8_workers_and_any_write_size_and_zstd_reads_it(int length)
    {
        byte[] input = Mixed(length);
        byte[] expected = await ZstdAsync(input, workers: 1, chunk: 100_000);
        Assert.Equal(expected, await ZstdAsync(input, workers: 2, chunk: 1_000));
        Assert.Equal(expected, await ZstdAsync(input, workers: 8, chunk: 3_000_001));
        var sync = new MemoryStream();
        using (var zstd = new DeterministicZstdStream(sync, CompressionLevel.Optimal, leaveOpen: true))
            zstd.Write(input);
        Assert.Equal(expected, sync.ToArray());

        Assert.Equal([0x28, 0xB5, 0x2F, 0xFD], expected[..4]);
        using (var back = new DecompressionStream(new MemoryStream(expected)))
        {
            var plain = new MemoryStream();
            await back.CopyToAsync(plain);
            Assert.Equal(input, plain.ToArray());
        }
        string path = _temp["sample.zst"];
        await File.WriteAllBytesAsync(path, expected);
        await Tools.RunCheckedAsync("zstd", "-q", "-t", path);
        var sum = await Tools.RunCheckedAsync("sh", "-c", "zstd -q -d -c \"$0\" | sha256sum", path);
        Assert.StartsWith(Sha256(input), sum.Stdout);
    }

    private string Folder(string name, int bigLength)
    {
        string dir = _temp[name];
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, "big.bin"), Mixed(bigLength, seed: 9));
        File.WriteAllText(Path.Combine(dir, "small.txt"), "small\n");
        // Old enough to be recorded by the step cache (FileDigests.RacyWindow).
        foreach (string f in Directory.EnumerateFileSystemEntries(dir)) File.SetLastWriteTimeUtc(f, new DateTime(2020, 1, 1));
        return dir;
    }

    [Fact]
    public async Task A_zstd_layer_has_the_gzip_layers_diff_id_its_own_media_type_and_both_hit_the_step_cache()
    {
        var spec = new DirectoryLayerSpec(Folder("in", (5 << 20) + 17), "/data") { CreatedBy = "data" };
        var store = new BlobStore(_temp["store"]);
        var gzipOptions = new LayerWriteOptions { Epoch = Epoch };
        var zstdOptions = gzipOptions with { Compression = LayerCompression.Zstd };

        var cache = new StepCache(store);
        await Task.Delay(LayerSpecStep.FineWindow * 2); // the inputs' change time out of its window too
        var gzip = await LayerSpecStep.WriteAsync(spec, gzipOptions, store, cache, CancellationToken.None);
        var zstd = await LayerSpecStep.WriteAsync(spec, zstdOptions, store, cache, CancellationToken.None);
        Assert.False(gzip.FromCache);
        Assert.False(zstd.FromCache); // the compression is in the cache key: gzip's blob is not zstd's
        Assert.Equal(MediaTypes.OciLayerGzip, gzip.Descriptor.MediaType);
        Assert.Equal(MediaTypes.OciLayerZstd, zstd.Descriptor.MediaType);
        Assert.Equal(gzip.DiffId, zstd.DiffId);
        Assert.NotEqual(gzip.Descriptor.Digest, zstd.Descriptor.Digest);
        Assert.True(zstd.Descriptor.Size < gzip.Descriptor.Size * 1.2, $"zstd {zstd.Descriptor.Size} vs gzip {gzip.Descriptor.Size}");
        await Tools.RunCheckedAsync("gzip", "-t", store.PathOf(gzip.Descriptor.Digest));
        await Tools.RunCheckedAsync("zstd", "-q", "-t", store.PathOf(zstd.Descriptor.Digest));
        var listing = await Tools.RunCheckedAsync("sh", "-c", "zstd -q -d -c \"$0\" | tar -t", store.PathOf(zstd.Descriptor.Digest));
        Assert.Equal(["data/", "data/big.bin", "data/small.txt"], listing.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var gzipAgain = await LayerSpecStep.WriteAsync(spec, gzipOptions, store, cache, CancellationToken.None);
        var zstdAgain = await LayerSpecStep.WriteAsync(spec, zstdOptions, store, cache, CancellationToken.None);
        Assert.True(gzipAgain.FromCache);
        Assert.True(zstdAgain.FromCache);
        Assert.Equal(gzip.Descriptor, gzipAgain.Descriptor);
        Assert.Equal(zstd.Descriptor, zstdAgain.Descriptor);

        // Another store, no cache: the same bytes again.
        var fresh = await LayerWriter.WriteAsync(spec, zstdOptions, new BlobStore(_temp["store2"]), CancellationToken.None);
        Assert.Equal(zstd.Descriptor, fresh.Descriptor);
    }

    [Theory]
    [InlineData(LayerCompression.Gzip)]
    [InlineData(LayerCompression.Zstd)]
    public async Task An_image_of_either_compression_is_copied_by_skopeo_unpacked_by_umoci_and_run_by_runc(LayerCompression compression)
    {
        // A data file of several gzip blocks, so the image's layer is made of parallel blocks joined by sync flushes.
        string data = Folder("app", (3 << 20) + 12345);
        string archive = _temp["out", "image.tar"];
        var request = new ImageBuildRequest
        {
            BaseImage = "scratch",
            Platform = Platform.FromRuntimeIdentifier("linux-x64"),
            Repository = "livrable-test/compression",
            Tags = ["v1"],
            ArchivePath = archive,
            StateDirectory = _temp["state"],
            LayerCompression = compression,
            Layers =
            [
                new FilesLayerSpec([new LayerFile(Tools.Require("busybox"), "/bin/busybox")]) { CreatedBy = "busybox" },
                new DirectoryLayerSpec(data, "/data") { CreatedBy = "data" },
            ],
            Config = new ConfigChanges { Entrypoint = ["/bin/busybox", "sha256sum", "/data/big.bin"] },
        };

        var result = await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);

        var image = await new ArchiveImage(archive, "v1", new BlobStore(_temp["reader"])).ResolveAsync(request.Platform, CancellationToken.None);
        Assert.Equal(result.Digest, image.Digest);
        await ImageValidator.ValidateAsync(image);
        Assert.All(image.Manifest.Layers, l => Assert.Equal(LayerCompressions.MediaType(compression), l.MediaType));
        if (compression == LayerCompression.Gzip)
            await ImageValidator.ValidateArchiveAsync(archive, image, "v1", _temp["check"]);

        // skopeo (Go's compress/gzip or klauspost/compress zstd) copies and verifies every blob; umoci (Go) unpacks.
        string layout = _temp["layout"];
        await Tools.RunCheckedAsync("skopeo", "copy", "--quiet", $"oci-archive:{archive}:v1", $"oci:{layout}:v1");
        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--raw", $"oci:{layout}:v1");
        using (var manifest = JsonDocument.Parse(raw.Stdout))
            foreach (var layer in manifest.RootElement.GetProperty("layers").EnumerateArray())
            {
                Assert.Equal(LayerCompressions.MediaType(compression), layer.GetProperty("mediaType").GetString());
                string blob = Path.Combine(layout, "blobs", "sha256", layer.GetProperty("digest").GetString()!["sha256:".Length..]);
                await Tools.RunCheckedAsync(compression == LayerCompression.Zstd ? "zstd" : "pigz", compression == LayerCompression.Zstd ? "-qt" : "-t", blob);
            }
        if (compression == LayerCompression.Zstd)
        {
            // Debian 12's umoci (0.4.7) refuses zstd layers ("blob is not correct mediatype"), so skopeo decompresses
            // them (Go's zstd reader, checking every digest) into gzip layers for umoci: the diff ids must still match.
            string converted = _temp["layout-gzip"];
            await Tools.RunCheckedAsync("skopeo", "copy", "--quiet", "--dest-compress-format", "gzip", "--dest-compress", $"oci:{layout}:v1", $"oci:{converted}:v1");
            var convertedConfig = await Tools.RunCheckedAsync("skopeo", "inspect", "--config", "--raw", $"oci:{converted}:v1");
            Assert.Equal(image.ConfigBytes, Encoding.UTF8.GetBytes(convertedConfig.Stdout));
            layout = converted;
        }
        string bundle = _temp["bundle"];
        await Tools.RunCheckedAsync("umoci", "unpack", "--image", $"{layout}:v1", bundle);
        Assert.Equal(File.ReadAllBytes(Path.Combine(data, "big.bin")), File.ReadAllBytes(Path.Combine(bundle, "rootfs", "data", "big.bin")));
        string output = await Runc.RunAsync(bundle);
        Assert.Equal($"{Sha256(File.ReadAllBytes(Path.Combine(data, "big.bin")))}  /data/big.bin\n", output);
    }
}
