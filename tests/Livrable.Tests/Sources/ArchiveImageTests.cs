using System.Formats.Tar;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Sources;

public sealed class ArchiveImageTests : IDisposable
{
    private static readonly Platform Amd64 = new("linux", "amd64");
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public ArchiveImageTests() => _store = new BlobStore(_temp["state"]);

    public void Dispose() => _temp.Dispose();

    private async Task<(IImage Image, string Path)> WriteTarballAsync(params string[] tags)
    {
        var image = await TestImages.BuildAsync(_store,
        [
            new Dictionary<string, string> { ["hello.txt"] = "hello\n" },
            new Dictionary<string, string> { ["app/more.txt"] = "more\n" },
        ]);
        string path = _temp["image.tar"];
        await new ArchiveOutput(path).WriteAsync(image, "app", tags, CancellationToken.None);
        return (image, path);
    }

    [Fact]
    public async Task Reads_back_its_own_tarball_with_the_same_digest()
    {
        var (image, path) = await WriteTarballAsync("1.0", "latest");
        var fresh = new BlobStore(_temp["fresh"]);

        var read = await new ArchiveImage(path, null, fresh).ResolveAsync(Amd64, CancellationToken.None);

        Assert.Equal(image.Digest, read.Digest);
        Assert.Equal(image.ManifestBytes, read.ManifestBytes);
        Assert.Equal(image.ConfigBytes, read.ConfigBytes);
        await ImageValidator.ValidateAsync(read);
        // Reading the layers copied them into the store, verified.
        Assert.All(read.Layers, l => Assert.True(fresh.Contains(l.Descriptor.Digest)));
    }

    [Theory]
    [InlineData("latest")]
    [InlineData("1.0")]
    [InlineData("docker.io/library/app:1.0")]
    public async Task Picks_the_image_by_tag(string tag)
    {
        var (image, path) = await WriteTarballAsync("1.0", "latest");
        var read = await new ArchiveImage(path, tag, _store).ResolveAsync(Amd64, CancellationToken.None);
        Assert.Equal(image.Digest, read.Digest);
    }

    [Fact]
    public async Task Reads_the_docker_metadata_of_the_same_tarball()
    {
        var (image, path) = await WriteTarballAsync("1.0");

        var read = await ImageSources.Open("docker-archive:" + path + ":app:1.0", _store, _ => throw new InvalidOperationException())
            .ResolveAsync(Amd64, CancellationToken.None);

        // manifest.json has no manifest: one is made, with the same config and gzip layers.
        Assert.Equal(image.ConfigBytes, read.ConfigBytes);
        Assert.Equal(image.Layers.Select(l => (l.Descriptor.Digest, l.Descriptor.Size, l.DiffId)), read.Layers.Select(l => (l.Descriptor.Digest, l.Descriptor.Size, l.DiffId)));
        Assert.All(read.Layers, l => Assert.Equal(MediaTypes.OciLayerGzip, l.Descriptor.MediaType));
        await ImageValidator.ValidateAsync(read);
    }

    [Fact]
    public async Task Reads_a_docker_archive_with_uncompressed_layers_written_by_skopeo()
    {
        var (image, path) = await WriteTarballAsync("latest");
        string docker = _temp["skopeo-docker.tar"];
        await Tools.RunCheckedAsync("skopeo", "copy", $"oci-archive:{path}:latest", $"docker-archive:{docker}:example/app:v1");

        var read = await ImageSources.Open(docker, _store, _ => throw new InvalidOperationException()).ResolveAsync(Amd64, CancellationToken.None);

        Assert.Equal(image.Layers.Select(l => l.DiffId), read.Layers.Select(l => l.DiffId));
        Assert.All(read.Layers, l =>
        {
            Assert.Equal(MediaTypes.OciLayer, l.Descriptor.MediaType);
            Assert.Equal(l.DiffId, l.Descriptor.Digest);
        });
        await ImageValidator.ValidateAsync(read);
        var byTag = await new ArchiveImage(docker, "example/app:v1", _store).ResolveAsync(Amd64, CancellationToken.None);
        Assert.Equal(read.Digest, byTag.Digest);
    }

    [Fact]
    public async Task Another_platform_is_LIV3005()
    {
        var (_, path) = await WriteTarballAsync("latest");
        var e = await Assert.ThrowsAsync<LivrableException>(() => new ArchiveImage(path, null, _store).ResolveAsync(new Platform("linux", "arm64", "v8"), CancellationToken.None));
        Assert.Equal(DiagnosticCodes.PlatformNotFound, e.Code);
        Assert.Contains("linux/amd64", e.Message);
    }

    [Fact]
    public async Task A_missing_tag_is_LIV4050_listing_the_tags()
    {
        var (_, path) = await WriteTarballAsync("1.0", "latest");
        var e = await Assert.ThrowsAsync<LivrableException>(() => new ArchiveImage(path, "2.0", _store).ResolveAsync(Amd64, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.ImageNotInArchive, e.Code);
        Assert.Contains("'1.0', 'latest'", e.Message);
    }

    [Fact]
    public async Task An_entry_climbing_out_of_the_archive_is_refused()
    {
        string path = _temp["evil.tar"];
        await using (var file = File.Create(path))
        await using (var tar = new TarWriter(file))
        {
            await tar.WriteEntryAsync(new UstarTarEntry(TarEntryType.RegularFile, "../manifest.json") { DataStream = new MemoryStream("[]"u8.ToArray()) });
        }
        var e = await Assert.ThrowsAsync<LivrableException>(() => new ArchiveImage(path, null, _store).ResolveAsync(Amd64, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.InvalidArchive, e.Code);
        Assert.Contains("../manifest.json", e.Message);
    }

    [Fact]
    public async Task A_file_that_is_no_image_tarball_is_LIV4004()
    {
        string path = _temp["notes.tar"];
        await using (var file = File.Create(path))
        await using (var tar = new TarWriter(file))
        {
            await tar.WriteEntryAsync(new UstarTarEntry(TarEntryType.RegularFile, "notes.txt") { DataStream = new MemoryStream("x"u8.ToArray()) });
        }
        File.WriteAllText(_temp["text.tar"], "this is not a tar archive, only some text that is long enough to look at. " + new string('x', 600));

        Assert.Equal(DiagnosticCodes.InvalidArchive, (await Assert.ThrowsAsync<LivrableException>(() => new ArchiveImage(path, null, _store).ResolveAsync(Amd64, CancellationToken.None))).Code);
        Assert.Equal(DiagnosticCodes.InvalidArchive, (await Assert.ThrowsAsync<LivrableException>(() => new ArchiveImage(_temp["text.tar"], null, _store).ResolveAsync(Amd64, CancellationToken.None))).Code);
    }

    [Fact]
    public async Task A_corrupt_layer_is_LIV4001_and_never_reaches_the_store()
    {
        var (image, path) = await WriteTarballAsync("latest");
        // Flip one byte inside the first layer's data.
        var layer = image.Layers[0].Descriptor;
        byte[] bytes = File.ReadAllBytes(path);
        byte[] original = await File.ReadAllBytesAsync(_store.PathOf(layer.Digest));
        int at = IndexOf(bytes, original) + original.Length / 2;
        bytes[at] ^= 0xff;
        File.WriteAllBytes(path, bytes);
        var fresh = new BlobStore(_temp["fresh"]);

        var read = await new ArchiveImage(path, null, fresh).ResolveAsync(Amd64, CancellationToken.None);
        var e = await Assert.ThrowsAsync<LivrableException>(async () => { await using var s = await read.Layers[0].OpenAsync(CancellationToken.None); });

        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
        Assert.False(fresh.Contains(layer.Digest));
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        throw new InvalidOperationException("not found");
    }
}
