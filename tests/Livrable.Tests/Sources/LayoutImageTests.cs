using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Sources;

public sealed class LayoutImageTests : IDisposable
{
    private static readonly Platform Amd64 = new("linux", "amd64");
    private static readonly Platform Arm64 = new("linux", "arm64", "v8");
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public LayoutImageTests() => _store = new BlobStore(_temp["state"]);

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Reads_a_layout_written_by_skopeo()
    {
        var image = await TestImages.SimpleAsync(_store);
        string tarball = _temp["image.tar"];
        await new ArchiveOutput(tarball).WriteAsync(image, "app", ["latest"], CancellationToken.None);
        string layout = _temp["layout"];
        await Tools.RunCheckedAsync("skopeo", "copy", $"oci-archive:{tarball}:latest", $"oci:{layout}:mytag");

        var read = await new LayoutImage(layout, "mytag").ResolveAsync(Amd64, CancellationToken.None);

        Assert.Equal(image.Layers.Select(l => l.DiffId), read.Layers.Select(l => l.DiffId));
        Assert.Equal(image.ConfigBytes, read.ConfigBytes);
        await ImageValidator.ValidateAsync(read);
        var viaFactory = await ImageSources.Open($"oci-layout:{layout}:mytag", _store, _ => throw new InvalidOperationException())
            .ResolveAsync(Amd64, CancellationToken.None);
        Assert.Equal(read.Digest, viaFactory.Digest);
    }

    [Fact]
    public async Task Walks_a_nested_index_to_the_platform()
    {
        var (layout, amd, arm) = await MultiPlatformLayoutAsync();

        var readArm = await new LayoutImage(layout, "multi").ResolveAsync(Arm64, CancellationToken.None);
        var readAmd = await new LayoutImage(layout).ResolveAsync(Amd64, CancellationToken.None);

        Assert.Equal(arm.Digest, readArm.Digest);
        Assert.Equal(amd.Digest, readAmd.Digest);
        await ImageValidator.ValidateAsync(readArm);
        var e = await Assert.ThrowsAsync<LivrableException>(() => new LayoutImage(layout).ResolveAsync(new Platform("linux", "s390x"), CancellationToken.None));
        Assert.Equal(DiagnosticCodes.PlatformNotFound, e.Code);
        Assert.Contains("linux/amd64, linux/arm64/v8", e.Message);
    }

    [Fact]
    public async Task An_unknown_tag_is_LIV4050()
    {
        var (layout, _, _) = await MultiPlatformLayoutAsync();
        var e = await Assert.ThrowsAsync<LivrableException>(() => new LayoutImage(layout, "other").ResolveAsync(Amd64, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.ImageNotInArchive, e.Code);
        Assert.Contains("'multi'", e.Message);
    }

    [Fact]
    public async Task A_corrupt_blob_is_LIV4001_when_read()
    {
        var (layout, amd, _) = await MultiPlatformLayoutAsync();
        var layer = amd.Layers[0].Descriptor.Digest;
        File.WriteAllText(Path.Combine(layout, "blobs", "sha256", layer.Hex), "garbage");

        var read = await new LayoutImage(layout).ResolveAsync(Amd64, CancellationToken.None);
        var e = await Assert.ThrowsAsync<LivrableException>(() => ImageValidator.HashLayerAsync(read.Layers[0]));

        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
    }

    [Fact]
    public async Task A_folder_without_oci_layout_is_LIV2007()
    {
        Directory.CreateDirectory(_temp["empty"]);
        var e = await Assert.ThrowsAsync<LivrableException>(() => new LayoutImage(_temp["empty"]).ResolveAsync(Amd64, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.InputNotFound, e.Code);
    }

    /// <summary>An OCI layout with an index (tagged <c>multi</c>) of an amd64 and an arm64 image.</summary>
    private async Task<(string Layout, IImage Amd64, IImage Arm64)> MultiPlatformLayoutAsync()
    {
        var amd = await TestImages.BuildAsync(_store, [new Dictionary<string, string> { ["arch"] = "amd64\n" }], Amd64);
        var arm = await TestImages.BuildAsync(_store, [new Dictionary<string, string> { ["arch"] = "arm64\n" }], Arm64);
        string layout = _temp["multi"];
        string blobs = Path.Combine(layout, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        foreach (var image in new[] { amd, arm })
        {
            await File.WriteAllBytesAsync(Path.Combine(blobs, image.Digest.Hex), image.ManifestBytes);
            await File.WriteAllBytesAsync(Path.Combine(blobs, image.Manifest.Config.Digest.Hex), image.ConfigBytes);
            foreach (var l in image.Layers) File.Copy(_store.PathOf(l.Descriptor.Digest), Path.Combine(blobs, l.Descriptor.Digest.Hex), overwrite: true);
        }
        var index = new ImageIndex(MediaTypes.OciIndex,
        [
            new Descriptor(MediaTypes.OciManifest, amd.Digest, amd.ManifestBytes.Length) { Platform = Amd64 with { Variant = null } },
            new Descriptor(MediaTypes.OciManifest, arm.Digest, arm.ManifestBytes.Length) { Platform = Arm64 },
        ]).ToBytes();
        var indexDigest = Digest.Sha256(index);
        await File.WriteAllBytesAsync(Path.Combine(blobs, indexDigest.Hex), index);
        var top = new ImageIndex(MediaTypes.OciIndex,
        [
            new Descriptor(MediaTypes.OciIndex, indexDigest, index.Length)
            {
                Annotations = new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = "multi" },
            },
        ]).ToBytes();
        await File.WriteAllBytesAsync(Path.Combine(layout, "index.json"), top);
        await File.WriteAllTextAsync(Path.Combine(layout, "oci-layout"), """{"imageLayoutVersion": "1.0.0"}""");
        return (layout, amd, arm);
    }
}
