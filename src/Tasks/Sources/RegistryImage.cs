using System.Runtime.CompilerServices;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;
using Livrable.Threading;

namespace Livrable.Sources;

/// <summary>
/// A base image in a registry, named by its parts: registry (<c>host[:port]</c>), repository and reference (a tag or
/// a digest). Resolving pulls the manifest and config (see <see cref="RegistryClient.GetImageAsync"/>) and checks the
/// platform; layers are fetched into the blob store when the build opens them.
/// </summary>
public sealed class RegistryImageSource : IImageSource
{
    private readonly RegistryClient _client;

    /// <summary>
    /// The image <paramref name="registry"/>/<paramref name="repository"/>:<paramref name="reference"/>, pulled with
    /// <paramref name="client"/> (layers go into its blob store).
    /// </summary>
    public RegistryImageSource(RegistryClient client, string registry, string repository, string reference)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrEmpty(registry);
        ArgumentException.ThrowIfNullOrEmpty(repository);
        ArgumentException.ThrowIfNullOrEmpty(reference);
        _client = client;
        Registry = registry;
        Repository = repository;
        Reference = reference;
    }

    public string Registry { get; }
    public string Repository { get; }
    public string Reference { get; }

    /// <inheritdoc />
    public string Description => Digest.TryParse(Reference, out _) ? $"{Registry}/{Repository}@{Reference}" : $"{Registry}/{Repository}:{Reference}";

    /// <inheritdoc />
    /// <exception cref="LivrableException">
    /// LIV3005 when the index has no entry for <paramref name="platform"/>, or the single image is for another
    /// platform; the errors of <see cref="RegistryClient.GetImageAsync"/>.
    /// </exception>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    public async Task<IImage> ResolveAsync(Platform platform, CancellationToken cancellationToken)
    {
        var image = await _client.GetImageAsync(Registry, Repository, Reference, platform, cancellationToken).ConfigureAwait(false);
        // An index entry was chosen for its platform already; a lone manifest says its platform only in the config.
        if (image.IndexDigest is null)
            ManifestAndConfig.RequirePlatform(image.Config, platform, actual =>
                $"{Description} is a single-platform image for {actual}, not {platform}. Use a multi-platform tag or a base image built for {platform}.");
        return image;
    }
}
