using Livrable.Images;

namespace Livrable.Sources;

/// <summary>
/// The empty image (<c>FROM scratch</c>): no layers, and a config that only names the platform
/// (<see cref="ImageConfig.Empty"/>). Nothing is read from anywhere.
/// </summary>
public sealed class ScratchImage : IImageSource
{
    /// <summary>The one instance; it has no state.</summary>
    public static readonly ScratchImage Instance = new();

    private ScratchImage() { }

    /// <inheritdoc />
    public string Description => "scratch";

    /// <summary>The empty image for <paramref name="platform"/>, as an OCI manifest.</summary>
    public Task<IImage> ResolveAsync(Platform platform, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(platform);
        byte[] config = ImageConfig.Empty(platform).ToBytes();
        var manifest = new ImageManifest(MediaTypes.OciManifest, new Descriptor(MediaTypes.OciConfig, Digest.Sha256(config), config.Length), []);
        IImage image = SourcedImage.Create(manifest.ToBytes(), MediaTypes.OciManifest, config, NoLayers, Description);
        return Task.FromResult(image);
    }

    private static Task<Stream> NoLayers(Descriptor descriptor, CancellationToken cancellationToken)
        => throw new InvalidOperationException("The scratch image has no layers.");
}
