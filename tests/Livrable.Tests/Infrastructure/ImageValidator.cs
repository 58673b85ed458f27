using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Livrable.Images;
using Xunit;

namespace Livrable.Tests.Infrastructure;

/// <summary>
/// The shared oracle: every image a test makes goes through <see cref="ValidateAsync"/>, and every tarball through
/// <see cref="ValidateArchiveAsync"/>, which has skopeo (both transports) and umoci read it.
/// </summary>
public static class ImageValidator
{
    /// <summary>
    /// Checks an image is self-consistent: manifest digest, config digest and size, media types of one family, one diff
    /// id per layer, each layer's digest and size, its uncompressed sha256 equal to its diff id and a readable tar, and
    /// one non-empty history entry per layer when there is a history.
    /// </summary>
    public static async Task ValidateAsync(IImage image)
    {
        Assert.Equal(image.Digest, Digest.Sha256(image.ManifestBytes));
        var parsed = ImageManifest.Parse(image.ManifestBytes);
        var manifest = image.Manifest;
        Assert.Equal(manifest.MediaType, parsed.MediaType);
        Assert.Equal(manifest.Config, parsed.Config with { Annotations = manifest.Config.Annotations, Platform = manifest.Config.Platform });
        Assert.Equal(manifest.Layers.Select(l => (l.MediaType, l.Digest, l.Size)), parsed.Layers.Select(l => (l.MediaType, l.Digest, l.Size)));

        Assert.Equal(manifest.Config.Digest, Digest.Sha256(image.ConfigBytes));
        Assert.Equal(manifest.Config.Size, image.ConfigBytes.Length);
        bool oci = manifest.MediaType == MediaTypes.OciManifest;
        Assert.True(oci || manifest.MediaType == MediaTypes.DockerManifest, $"Unknown manifest media type {manifest.MediaType}");
        Assert.Equal(oci ? MediaTypes.OciConfig : MediaTypes.DockerConfig, manifest.Config.MediaType);
        foreach (var l in manifest.Layers)
            Assert.True(oci ? l.MediaType.StartsWith("application/vnd.oci.image.layer.", StringComparison.Ordinal)
                            : l.MediaType.StartsWith("application/vnd.docker.image.rootfs.", StringComparison.Ordinal),
                $"Layer media type {l.MediaType} is not of the {manifest.MediaType} family");

        var config = ImageConfig.Parse(image.ConfigBytes);
        Assert.Equal(manifest.Layers.Count, config.DiffIds.Count);
        Assert.Equal(manifest.Layers.Count, image.Layers.Count);
        for (int i = 0; i < image.Layers.Count; i++)
        {
            var layer = image.Layers[i];
            Assert.Equal(manifest.Layers[i].Digest, layer.Descriptor.Digest);
            Assert.Equal(manifest.Layers[i].Size, layer.Descriptor.Size);
            Assert.Equal(config.DiffIds[i], layer.DiffId);
            var (digest, size, diffId) = await HashLayerAsync(layer);
            Assert.Equal(layer.Descriptor.Digest, digest);
            Assert.Equal(layer.Descriptor.Size, size);
            Assert.Equal(layer.DiffId, diffId);
        }

        using var doc = JsonDocument.Parse(image.ConfigBytes);
        if (doc.RootElement.TryGetProperty("history", out var history) && history.GetArrayLength() > 0)
        {
            int nonEmpty = history.EnumerateArray().Count(h => !(h.TryGetProperty("empty_layer", out var e) && e.ValueKind == JsonValueKind.True));
            Assert.Equal(manifest.Layers.Count, nonEmpty);
        }
    }

    /// <summary>The digest and size of a layer's bytes and the sha256 of its uncompressed tar, which must parse.</summary>
    public static async Task<(Digest Digest, long Size, Digest DiffId)> HashLayerAsync(ILayer layer)
    {
        var raw = new MemoryStream();
        await using (var s = await layer.OpenAsync(CancellationToken.None)) await s.CopyToAsync(raw);
        byte[] bytes = raw.ToArray();
        Stream tar = layer.Descriptor.MediaType switch
        {
            MediaTypes.OciLayer or "application/vnd.oci.image.layer.nondistributable.v1.tar" => new MemoryStream(bytes),
            MediaTypes.OciLayerGzip or MediaTypes.DockerLayerGzip or MediaTypes.DockerLayerForeign
                or "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress),
            MediaTypes.OciLayerZstd => new SharpCompress.Compressors.ZStandard.DecompressionStream(new MemoryStream(bytes)),
            var other => throw new Xunit.Sdk.XunitException($"The validator cannot decompress {other}."),
        };
        var plain = new MemoryStream();
        await using (tar) await tar.CopyToAsync(plain);
        plain.Position = 0;
        using (var reader = new TarReader(plain, leaveOpen: true))
            while (reader.GetNextEntry() is not null) { }
        return (Digest.Sha256(bytes), bytes.Length, Digest.FromSha256Hash(SHA256.HashData(plain.ToArray())));
    }

    /// <summary>
    /// Has independent tools read the tarball at <paramref name="path"/>, which must hold <paramref name="image"/>
    /// tagged <paramref name="tag"/>: <c>skopeo inspect</c> as a docker-archive (layers are diff ids there) and as an
    /// oci-archive (the manifest bytes must be the image's), then GNU tar extracts it and <c>umoci unpack</c> unpacks
    /// it. Returns the unpacked root filesystem, inside <paramref name="work"/>.
    /// </summary>
    public static async Task<string> ValidateArchiveAsync(string path, IImage image, string tag, string work)
    {
        var docker = await Tools.RunCheckedAsync("skopeo", "inspect", "docker-archive:" + path);
        using (var d = JsonDocument.Parse(docker.Stdout))
        {
            var layers = d.RootElement.GetProperty("Layers").EnumerateArray().Select(l => l.GetString()).ToList();
            Assert.Equal(image.Layers.Select(l => l.DiffId.ToString()), layers);
        }
        var dockerConfig = await Tools.RunCheckedAsync("skopeo", "inspect", "--config", "--raw", "docker-archive:" + path);
        Assert.Equal(image.ConfigBytes, System.Text.Encoding.UTF8.GetBytes(dockerConfig.Stdout));

        var oci = await Tools.RunCheckedAsync("skopeo", "inspect", $"oci-archive:{path}:{tag}");
        using (var o = JsonDocument.Parse(oci.Stdout))
        {
            Assert.Equal(image.Digest.ToString(), o.RootElement.GetProperty("Digest").GetString());
            var layers = o.RootElement.GetProperty("Layers").EnumerateArray().Select(l => l.GetString()).ToList();
            Assert.Equal(image.Layers.Select(l => l.Descriptor.Digest.ToString()), layers);
        }
        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--raw", $"oci-archive:{path}:{tag}");
        Assert.Equal(image.ManifestBytes, System.Text.Encoding.UTF8.GetBytes(raw.Stdout));

        string layout = Path.Combine(work, "layout");
        string bundle = Path.Combine(work, "bundle");
        Directory.CreateDirectory(layout);
        await Tools.RunCheckedAsync("tar", "-C", layout, "-xf", path);
        await Tools.RunCheckedAsync("umoci", "unpack", "--image", $"{layout}:{tag}", bundle);
        string rootfs = Path.Combine(bundle, "rootfs");
        Assert.True(Directory.Exists(rootfs), "umoci unpacked no rootfs");
        Assert.True(File.Exists(Path.Combine(bundle, "config.json")), "umoci wrote no runtime config");
        return rootfs;
    }
}
