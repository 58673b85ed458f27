using Livrable.Images;

namespace Livrable.Build;

/// <summary>An image the build composed: a base's layers, new layers, and a config, with its manifest computed once.</summary>
internal sealed class BuiltImage : IImage
{
    public BuiltImage(ImageFormat format, ImageConfig config, IReadOnlyList<ILayer> layers)
    {
        Config = config;
        ConfigBytes = config.ToBytes();
        Layers = layers.Select(l => ForFormat(format, l)).ToList();
        string configType = format == ImageFormat.Docker ? MediaTypes.DockerConfig : MediaTypes.OciConfig;
        string manifestType = format == ImageFormat.Docker ? MediaTypes.DockerManifest : MediaTypes.OciManifest;
        Manifest = new ImageManifest(manifestType,
            new Descriptor(configType, Digest.Sha256(ConfigBytes), ConfigBytes.Length),
            Layers.Select(l => l.Descriptor).ToList());
        ManifestBytes = Manifest.ToBytes();
        Digest = Digest.Sha256(ManifestBytes);
    }

    public ImageManifest Manifest { get; }
    public byte[] ManifestBytes { get; }
    public Digest Digest { get; }
    public ImageConfig Config { get; }
    public byte[] ConfigBytes { get; }
    public IReadOnlyList<ILayer> Layers { get; }

    /// <summary>The size a registry stores: manifest, config and every layer blob.</summary>
    public long Size => ManifestBytes.Length + ConfigBytes.Length + Layers.Sum(l => l.Descriptor.Size);

    /// <summary>
    /// A base layer keeps its bytes and digest whatever family is written; only its media type name changes
    /// (Docker's gzip layer type and OCI's describe the same bytes). A zstd layer has no Docker name: that is an error.
    /// </summary>
    private static ILayer ForFormat(ImageFormat format, ILayer layer)
    {
        string mediaType = MediaTypes.LayerFor(format, layer.Descriptor.MediaType);
        if (format == ImageFormat.Docker && mediaType is MediaTypes.OciLayerZstd)
            throw new Diagnostics.LivrableException(Diagnostics.DiagnosticCodes.InvalidPropertyValue,
                $"Layer {layer.Descriptor.Digest} is zstd-compressed, which Docker's manifest format cannot describe; use ContainerImageFormat=OCI.");
        return mediaType == layer.Descriptor.MediaType ? layer : new RetypedLayer(layer, layer.Descriptor with { MediaType = mediaType });
    }

    /// <summary>The same blob under another media type name.</summary>
    private sealed class RetypedLayer(ILayer inner, Descriptor descriptor) : ILayer
    {
        public Descriptor Descriptor => descriptor;
        public Digest DiffId => inner.DiffId;
        public ILayer Inner => inner;
        public Task<Stream> OpenAsync(CancellationToken cancellationToken) => inner.OpenAsync(cancellationToken);
    }
}
