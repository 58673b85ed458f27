using System.Text;
using Livrable.Diagnostics;
using Livrable.Images;
using Xunit;

namespace Livrable.Tests.Images;

/// <summary>
/// The one check every source's image goes through (<see cref="ManifestAndConfig"/>): the config is the blob the
/// manifest describes, one diff id per layer, layers with layer media types, the platform. The sources' own tests
/// (Sources/, Registry/, Hostile/) show each source reports these with the same codes.
/// </summary>
public sealed class ManifestAndConfigTests
{
    private static readonly Digest DiffId = Digest.Sha256(Encoding.UTF8.GetBytes("layer"));
    private static readonly Descriptor Layer = new(MediaTypes.OciLayerGzip, Digest.Sha256(Encoding.UTF8.GetBytes("blob")), 4);

    private static byte[] Config(int diffIds, string architecture = "amd64")
        => Encoding.UTF8.GetBytes($"{{\"architecture\":\"{architecture}\",\"os\":\"linux\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[{string.Join(",", Enumerable.Repeat($"\"{DiffId}\"", diffIds))}]}}}}");

    private static byte[] Manifest(byte[] config, params Descriptor[] layers)
        => new ImageManifest(MediaTypes.OciManifest, new Descriptor(MediaTypes.OciConfig, Digest.Sha256(config), config.Length), layers).ToBytes();

    [Fact]
    public void AConsistentImageHasOneLayerPerDescriptorWithItsDiffId()
    {
        byte[] config = Config(1);
        var parts = ManifestAndConfig.Parse(Manifest(config, Layer), MediaTypes.OciManifest, config, "test");
        var layer = Assert.Single(parts.Layers((d, diffId) => new FakeLayer(d, diffId)));
        Assert.Equal(Layer, layer.Descriptor);
        Assert.Equal(DiffId, layer.DiffId);
        ManifestAndConfig.RequirePlatform(parts.Config, new Platform("linux", "amd64"), _ => "unused");
    }

    [Fact]
    public void AnotherConfigIsLIV4001()
    {
        byte[] config = Config(1);
        var e = Assert.Throws<LivrableException>(() => ManifestAndConfig.Parse(Manifest(config, Layer), MediaTypes.OciManifest, Config(1, "arm64"), "test"));
        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
    }

    [Fact]
    public void ADiffIdCountOtherThanTheLayersIsLIV4002()
    {
        byte[] config = Config(2);
        var e = Assert.Throws<LivrableException>(() => ManifestAndConfig.Parse(Manifest(config, Layer), MediaTypes.OciManifest, config, "test"));
        Assert.Equal(DiagnosticCodes.InvalidImage, e.Code);
        Assert.Contains("1 layers but its config lists 2 diff ids", e.Message);
    }

    [Fact]
    public void ALayerThatIsNoLayerIsLIV4002()
    {
        byte[] config = Config(1);
        var notLayer = Layer with { MediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip" };
        var e = Assert.Throws<LivrableException>(() => ManifestAndConfig.Parse(Manifest(config, notLayer), MediaTypes.OciManifest, config, "test"));
        Assert.Equal(DiagnosticCodes.InvalidImage, e.Code);
    }

    [Fact]
    public void AnotherPlatformIsLIV3005WithTheCallersMessage()
    {
        byte[] config = Config(0, "arm64");
        var parts = ManifestAndConfig.Parse(Manifest(config), MediaTypes.OciManifest, config, "test");
        var e = Assert.Throws<LivrableException>(() => ManifestAndConfig.RequirePlatform(parts.Config, new Platform("linux", "amd64"), actual => $"is {actual}"));
        Assert.Equal(DiagnosticCodes.PlatformNotFound, e.Code);
        Assert.StartsWith("is linux/arm64", e.Message);
    }

    private sealed record FakeLayer(Descriptor Descriptor, Digest DiffId) : ILayer
    {
        public Task<Stream> OpenAsync(CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
