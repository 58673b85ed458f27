using Livrable.Images;

namespace Livrable.Sources;

/// <summary>Where a base image comes from: a registry, a tarball, an OCI layout folder, or nothing (scratch).</summary>
public interface IImageSource
{
    /// <summary>
    /// Resolves the image for <paramref name="platform"/>: picks the index entry when the source is multi-platform
    /// (LIV3005 when none matches) and checks that a single-platform image is for that platform.
    /// </summary>
    Task<IImage> ResolveAsync(Platform platform, CancellationToken cancellationToken);

    /// <summary>What to call the source in messages (a reference or a path).</summary>
    string Description { get; }
}
