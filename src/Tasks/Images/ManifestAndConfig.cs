using Livrable.Diagnostics;

namespace Livrable.Images;

/// <summary>
/// One image's manifest and config, parsed from their bytes and checked against each other once: the config is the
/// blob the manifest describes (digest and size, LIV4001), it lists one diff id per layer (LIV4002), and every layer
/// has a layer media type (LIV4002). Every source builds its <see cref="IImage"/> from one (a registry, a tarball, an
/// OCI layout, scratch), as go-containerregistry's <c>partial</c> and <c>validate</c> packages serve its sources, so
/// the rules are written here only.
/// </summary>
public sealed class ManifestAndConfig
{
    private ManifestAndConfig(ImageManifest manifest, byte[] manifestBytes, ImageConfig config, byte[] configBytes)
    {
        Manifest = manifest;
        ManifestBytes = manifestBytes;
        Config = config;
        ConfigBytes = configBytes;
    }

    /// <summary>The parsed manifest.</summary>
    public ImageManifest Manifest { get; }

    /// <summary>The manifest's exact bytes.</summary>
    public byte[] ManifestBytes { get; }

    /// <summary>The parsed config.</summary>
    public ImageConfig Config { get; }

    /// <summary>The config's exact bytes, the blob <see cref="ImageManifest.Config"/> describes.</summary>
    public byte[] ConfigBytes { get; }

    /// <summary>
    /// Parses <paramref name="manifestBytes"/> (<paramref name="mediaTypeHint"/>: the media type it was served or
    /// listed with) and checks <paramref name="configBytes"/> against it. <paramref name="description"/> names the
    /// image in messages.
    /// </summary>
    /// <exception cref="LivrableException">LIV4001 for a config other than the one described; LIV4002 for a malformed document, a diff id count other than the layer count, or a layer that is no layer.</exception>
    public static ManifestAndConfig Parse(byte[] manifestBytes, string? mediaTypeHint, byte[] configBytes, string description)
        => Check(ImageManifest.Parse(manifestBytes, mediaTypeHint), manifestBytes, configBytes, description);

    /// <summary>
    /// The same checks for a manifest already parsed (a registry client reads the config's size from it before it
    /// fetches the config).
    /// </summary>
    /// <exception cref="LivrableException">As <see cref="Parse"/>.</exception>
    public static ManifestAndConfig Check(ImageManifest manifest, byte[] manifestBytes, byte[] configBytes, string description)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(configBytes);
        var configDigest = manifest.Config.Digest.WithHash(HashOf(manifest.Config.Digest, configBytes));
        if (configDigest != manifest.Config.Digest || configBytes.Length != manifest.Config.Size)
            throw new LivrableException(DiagnosticCodes.DigestMismatch,
                $"The config of {description} is {configDigest} ({configBytes.Length} bytes), not the {manifest.Config.Digest} ({manifest.Config.Size} bytes) its manifest gives.");
        var config = ImageConfig.Parse(configBytes);
        if (config.DiffIds.Count != manifest.Layers.Count)
            throw Descriptor.Invalid($"The image {description} has {manifest.Layers.Count} layers but its config lists {config.DiffIds.Count} diff ids");
        for (int i = 0; i < manifest.Layers.Count; i++)
        {
            if (!MediaTypes.IsLayer(manifest.Layers[i].MediaType))
                throw Descriptor.Invalid($"Layer {i} of {description} has media type '{manifest.Layers[i].MediaType}', which is not a layer Livrable can read");
        }
        return new ManifestAndConfig(manifest, manifestBytes, config, configBytes);
    }

    /// <summary>The layers, base first: <paramref name="layer"/> makes each from its manifest descriptor and its diff id.</summary>
    public IReadOnlyList<ILayer> Layers(Func<Descriptor, Digest, ILayer> layer)
    {
        var diffIds = Config.DiffIds;
        var layers = new ILayer[Manifest.Layers.Count];
        for (int i = 0; i < layers.Length; i++) layers[i] = layer(Manifest.Layers[i], diffIds[i]);
        return layers;
    }

    /// <summary>
    /// LIV3005, with <paramref name="message"/> given the image's platform, unless the config's platform serves
    /// <paramref name="wanted"/> (<see cref="Platform.Matches"/>).
    /// </summary>
    public static void RequirePlatform(ImageConfig config, Platform wanted, Func<Platform, string> message)
    {
        var actual = config.Platform;
        if (!wanted.Matches(actual)) throw new LivrableException(DiagnosticCodes.PlatformNotFound, message(actual));
    }

    private static byte[] HashOf(Digest algorithm, byte[] bytes)
    {
        using var hash = algorithm.CreateHash();
        hash.AppendData(bytes);
        return hash.GetHashAndReset();
    }
}
