using Livrable.Images;

namespace Livrable.Outputs;

/// <summary>
/// A manifest about the image that a tarball carries beside it (an SBOM or provenance artifact whose <c>subject</c> is
/// the image): its descriptor, listed in the OCI layout's <c>index.json</c> with no tag, its bytes, and the blobs it
/// names. The layout then holds the image's referrers as a registry would (tools such as <c>oras discover
/// --oci-layout</c> find them by their subject).
/// </summary>
public sealed record Attachment(Descriptor Descriptor, byte[] ManifestBytes, IReadOnlyList<(Descriptor Descriptor, byte[] Bytes)> Blobs);
