namespace Livrable.Registry;

/// <summary>
/// A manifest or index as a registry served it: the exact bytes (whose digest names it), the media type from
/// <c>Content-Type</c> or the document, and the digest computed from the bytes.
/// </summary>
public sealed record RegistryManifest(string MediaType, byte[] Bytes, Images.Digest Digest)
{
    /// <summary>Whether this is an index (OCI) or manifest list (Docker) rather than an image manifest.</summary>
    public bool IsIndex => Images.ImageIndex.LooksLikeIndex(Bytes, MediaType);
}
