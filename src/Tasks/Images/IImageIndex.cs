namespace Livrable.Images;

/// <summary>
/// A multi-platform image, read-only: an index (OCI image index or Docker manifest list) and the single-platform
/// images it lists, in its order. Sinks (registry push, tarball, local engine) write the images first, then the index.
/// </summary>
public interface IImageIndex
{
    /// <summary>The index, one descriptor with its platform per image.</summary>
    ImageIndex Index { get; }

    /// <summary>The exact index bytes; <see cref="Digest"/> is their digest.</summary>
    byte[] IndexBytes { get; }

    /// <summary>The index digest: the multi-platform image's identity.</summary>
    Digest Digest { get; }

    /// <summary>The images, matching <see cref="ImageIndex.Manifests"/> one for one.</summary>
    IReadOnlyList<IImage> Images { get; }
}
