using System.Text;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;

namespace Livrable.Tests.Infrastructure;

/// <summary>
/// Small images for tests, made with independent tools: each layer is a GNU tar of the given files
/// (<c>--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner</c>) compressed with <c>gzip -n</c>, so the same
/// files always give the same digests. Blobs go into a <see cref="BlobStore"/>; the result is an <see cref="IImage"/>.
/// </summary>
public static class TestImages
{
    /// <summary>The time written into test configs.</summary>
    public static readonly DateTimeOffset Created = new(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>A layer of one text file, for the overload of <see cref="BuildAsync"/> that takes bytes.</summary>
    public static Dictionary<string, byte[]> TextLayer(string name, string content) => new() { [name] = Encoding.UTF8.GetBytes(content) };

    /// <summary>
    /// The bytes of <paramref name="image"/>'s tarball (tag <c>app:v1</c>) written in one go at <paramref name="path"/>
    /// from the store alone: no state folder, so nothing is reused from an earlier tarball. What an edit's write must
    /// equal, byte for byte.
    /// </summary>
    public static async Task<byte[]> TarballBytesAsync(IImage image, string path)
    {
        await new Livrable.Outputs.ArchiveOutput(path).WriteAsync(image, "app", ["v1"], CancellationToken.None);
        return await File.ReadAllBytesAsync(path);
    }

    /// <summary>
    /// An image of <paramref name="layers"/> (each a map of relative path to text content), for
    /// <paramref name="platform"/> (linux/amd64 by default), in the <paramref name="format"/> family.
    /// <paramref name="configure"/> may change the config before it is written.
    /// </summary>
    public static Task<IImage> BuildAsync(
        BlobStore store, IReadOnlyList<IReadOnlyDictionary<string, string>> layers,
        Platform? platform = null, ImageFormat format = ImageFormat.Oci, Action<ImageConfig>? configure = null)
        => BuildAsync(store, layers.Select(Utf8).ToList(), platform, format, configure);

    /// <summary>The same, each file's content given as bytes (random, incompressible data for instance).</summary>
    public static async Task<IImage> BuildAsync(
        BlobStore store, IReadOnlyList<IReadOnlyDictionary<string, byte[]>> layers,
        Platform? platform = null, ImageFormat format = ImageFormat.Oci, Action<ImageConfig>? configure = null)
    {
        var config = ImageConfig.Empty(platform ?? new Platform("linux", "amd64"));
        config.Created = Created;
        config.Cmd = ["/hello"];
        var descriptors = new List<Descriptor>();
        for (int i = 0; i < layers.Count; i++)
        {
            var (descriptor, diffId) = await LayerAsync(store, layers[i], format);
            descriptors.Add(descriptor);
            config.AddLayer(diffId, new HistoryEntry(Created, $"test layer {i}"));
        }
        configure?.Invoke(config);
        byte[] configBytes = config.ToBytes();
        await store.PutAsync(configBytes, CancellationToken.None);
        var manifest = new ImageManifest(
            format == ImageFormat.Oci ? MediaTypes.OciManifest : MediaTypes.DockerManifest,
            new Descriptor(format == ImageFormat.Oci ? MediaTypes.OciConfig : MediaTypes.DockerConfig, Digest.Sha256(configBytes), configBytes.Length),
            descriptors);
        byte[] manifestBytes = manifest.ToBytes();
        await store.PutAsync(manifestBytes, CancellationToken.None);
        return SourcedImage.Create(manifestBytes, manifest.MediaType, configBytes, (d, _) => Task.FromResult(store.Open(d)), "test image");
    }

    /// <summary>A one-layer image with <c>hello.txt</c> and <c>app/data.txt</c>.</summary>
    public static Task<IImage> SimpleAsync(BlobStore store, Platform? platform = null)
        => BuildAsync(store, [new Dictionary<string, string> { ["hello.txt"] = "hello\n", ["app/data.txt"] = "data\n" }], platform);

    /// <summary>
    /// A gzip layer of <paramref name="files"/> stored in <paramref name="store"/>: its descriptor and its diff id
    /// (the sha256 of the tar GNU tar wrote).
    /// </summary>
    public static Task<(Descriptor Descriptor, Digest DiffId)> LayerAsync(BlobStore store, IReadOnlyDictionary<string, string> files, ImageFormat format = ImageFormat.Oci)
        => LayerAsync(store, Utf8(files), format);

    /// <inheritdoc cref="LayerAsync(BlobStore, IReadOnlyDictionary{string, string}, ImageFormat)"/>
    public static async Task<(Descriptor Descriptor, Digest DiffId)> LayerAsync(BlobStore store, IReadOnlyDictionary<string, byte[]> files, ImageFormat format = ImageFormat.Oci)
    {
        string work = Path.Combine(Path.GetTempPath(), "livrable-layer-" + Guid.NewGuid().ToString("N"));
        string root = Path.Combine(work, "root");
        Directory.CreateDirectory(root);
        try
        {
            foreach (var (path, content) in files)
            {
                string full = Path.Combine(root, path);
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                await File.WriteAllBytesAsync(full, content);
            }
            string tarPath = Path.Combine(work, "layer.tar");
            await Tools.RunCheckedAsync("tar", "-C", root, "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-cf", tarPath, ".");
            Digest diffId = Digest.Sha256(await File.ReadAllBytesAsync(tarPath));
            string gzPath = Path.Combine(work, "layer.tar.gz");
            await using (var gz = File.Create(gzPath))
                (await Tools.RunAsync("gzip", ["-n", "-c", tarPath], stdout: gz)).EnsureSuccess();
            await using var blob = File.OpenRead(gzPath);
            var (digest, size) = await store.PutAsync(blob, null, null, CancellationToken.None);
            return (new Descriptor(format == ImageFormat.Oci ? MediaTypes.OciLayerGzip : MediaTypes.DockerLayerGzip, digest, size), diffId);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static IReadOnlyDictionary<string, byte[]> Utf8(IReadOnlyDictionary<string, string> files)
        => files.ToDictionary(f => f.Key, f => Encoding.UTF8.GetBytes(f.Value), StringComparer.Ordinal);
}
