using Livrable.Images;

namespace Livrable.Outputs;

/// <summary>Where a built image goes: a tarball, a registry, a local engine.</summary>
public interface IImageOutput
{
    /// <summary>
    /// Writes <paramref name="image"/> named <paramref name="repository"/> with every one of <paramref name="tags"/>.
    /// Returns a description of where it went (a path, a registry reference) for the final log line. Leaves nothing
    /// half-written when it fails.
    /// </summary>
    Task<string> WriteAsync(IImage image, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken);

    /// <summary>
    /// Writes the multi-platform <paramref name="index"/>: every image it lists, then the index, named
    /// <paramref name="repository"/> with every one of <paramref name="tags"/> (the tags name the index). Same
    /// guarantees as <see cref="WriteAsync"/>.
    /// </summary>
    Task<string> WriteIndexAsync(IImageIndex index, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the last write found the image (or index) already at the destination, under every tag, and wrote
    /// nothing; the build then says "Up to date". False for an output that cannot tell.
    /// </summary>
    bool UpToDate => false;
}
