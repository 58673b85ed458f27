namespace Livrable.Images;

/// <summary>
/// A single-platform image, read-only: its manifest, config and layers, each computed once. Sources (registry,
/// tarball, OCI layout, a build) implement it; sinks (registry push, tarball, local engine) consume it.
/// </summary>
public interface IImage
{
    /// <summary>The manifest, in the family it will be written in.</summary>
    ImageManifest Manifest { get; }

    /// <summary>The exact manifest bytes; <see cref="Digest"/> is their digest.</summary>
    byte[] ManifestBytes { get; }

    /// <summary>The manifest digest: the image's identity.</summary>
    Digest Digest { get; }

    /// <summary>The parsed config.</summary>
    ImageConfig Config { get; }

    /// <summary>The exact config bytes (the blob <see cref="ImageManifest.Config"/> describes).</summary>
    byte[] ConfigBytes { get; }

    /// <summary>The layers, base first, matching <see cref="ImageManifest.Layers"/> one for one.</summary>
    IReadOnlyList<ILayer> Layers { get; }
}

/// <summary>
/// A layer: its descriptor (digest and size of the compressed bytes), its diff id (digest of the uncompressed tar)
/// and a way to read the compressed bytes. Every read is checked against the descriptor.
/// </summary>
public interface ILayer
{
    /// <summary>Media type, digest and size of the blob as stored.</summary>
    Descriptor Descriptor { get; }

    /// <summary>The digest of the uncompressed tar, as listed in the config's <c>rootfs.diff_ids</c>.</summary>
    Digest DiffId { get; }

    /// <summary>Opens the blob bytes. The stream throws LIV4001 at its end if the bytes do not match the descriptor.</summary>
    Task<Stream> OpenAsync(CancellationToken cancellationToken);
}
