using System.Security.Cryptography;
using Livrable.Images;
using Livrable.Store;
using Livrable.Tests.Infrastructure;

namespace Livrable.Tests.Registry;

/// <summary>
/// A tiny image for registry tests: one gzip layer made by GNU tar and gzip (independent of Livrable's layer writer),
/// a config for a given platform, an OCI manifest; the layer blob lives in a <see cref="BlobStore"/>.
/// </summary>
internal sealed class TestImage : IImage
{
    private TestImage(ImageManifest manifest, ImageConfig config, byte[] configBytes, IReadOnlyList<ILayer> layers)
    {
        Manifest = manifest;
        ManifestBytes = manifest.ToBytes();
        Digest = Digest.Sha256(ManifestBytes);
        Config = config;
        ConfigBytes = configBytes;
        Layers = layers;
    }

    public ImageManifest Manifest { get; }
    public byte[] ManifestBytes { get; }
    public Digest Digest { get; }
    public ImageConfig Config { get; }
    public byte[] ConfigBytes { get; }
    public IReadOnlyList<ILayer> Layers { get; }

    /// <summary>
    /// An image whose one layer holds <c>/hello.txt</c> with <paramref name="content"/> and, when
    /// <paramref name="randomBytes"/> is more than 0, <c>/random.bin</c> of that many random (incompressible) bytes.
    /// </summary>
    public static async Task<TestImage> CreateAsync(BlobStore store, Platform platform, string content, int randomBytes = 0)
    {
        string work = Path.Combine(store.TempDirectory, "image-" + Guid.NewGuid().ToString("N"));
        string root = Path.Combine(work, "root");
        Directory.CreateDirectory(root);
        await File.WriteAllTextAsync(Path.Combine(root, "hello.txt"), content);
        if (randomBytes > 0) await File.WriteAllBytesAsync(Path.Combine(root, "random.bin"), RandomNumberGenerator.GetBytes(randomBytes));
        string tar = Path.Combine(work, "layer.tar");
        await Run("tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", tar, "-C", root, ".");
        await Run("gzip", "-n", "-k", tar);
        byte[] tarBytes = await File.ReadAllBytesAsync(tar);
        byte[] gz = await File.ReadAllBytesAsync(tar + ".gz");
        Directory.Delete(work, recursive: true);

        var diffId = Digest.Sha256(tarBytes);
        var (layerDigest, layerSize) = await store.PutAsync(gz, CancellationToken.None);
        var config = ImageConfig.Empty(platform);
        config.Created = DateTimeOffset.FromUnixTimeSeconds(0);
        config.AddLayer(diffId, new HistoryEntry(DateTimeOffset.FromUnixTimeSeconds(0), "test layer"));
        byte[] configBytes = config.ToBytes();
        var layerDescriptor = new Descriptor(MediaTypes.OciLayerGzip, layerDigest, layerSize);
        var manifest = new ImageManifest(MediaTypes.OciManifest,
            new Descriptor(MediaTypes.OciConfig, Digest.Sha256(configBytes), configBytes.Length), [layerDescriptor]);
        return new TestImage(manifest, config, configBytes, [new StoredLayer(store, layerDescriptor, diffId)]);
    }

    private static Task Run(string program, params string[] args) => Tools.RunCheckedAsync(program, args);

    private sealed class StoredLayer(BlobStore store, Descriptor descriptor, Digest diffId) : ILayer
    {
        public Descriptor Descriptor => descriptor;
        public Digest DiffId => diffId;
        public Task<Stream> OpenAsync(CancellationToken cancellationToken) => Task.FromResult(store.Open(descriptor));
    }
}
