using Livrable.Diagnostics;
using Livrable.Images;

namespace Livrable.Build;

/// <summary>
/// An index the build composed over one image per platform (https://github.com/opencontainers/image-spec/blob/main/image-index.md):
/// an OCI image index, or a Docker manifest list when the images are Docker manifests. Entries keep the order the
/// platforms were asked in, so the same inputs always give the same index digest.
/// </summary>
internal sealed class BuiltIndex : IImageIndex
{
    /// <summary>
    /// The index over <paramref name="images"/>, each entry carrying its config's platform. LIV2120 when two images
    /// are for one platform (a client could not choose between them).
    /// </summary>
    public BuiltIndex(ImageFormat format, IReadOnlyList<IImage> images)
    {
        var entries = new List<Descriptor>();
        var seen = new HashSet<Platform>();
        foreach (var image in images)
        {
            var platform = image.Config.Platform;
            if (!seen.Add(platform))
                throw new LivrableException(DiagnosticCodes.InvalidPlatformList, $"Two images of the index are for {platform}; give each platform once.");
            entries.Add(new Descriptor(image.Manifest.MediaType, image.Digest, image.ManifestBytes.Length) { Platform = platform });
        }
        // A manifest list may only list Docker manifests; any OCI manifest makes the whole an OCI index.
        bool docker = format == ImageFormat.Docker && entries.All(e => e.MediaType == MediaTypes.DockerManifest);
        Index = new ImageIndex(docker ? MediaTypes.DockerManifestList : MediaTypes.OciIndex, entries);
        IndexBytes = Index.ToBytes();
        Digest = Digest.Sha256(IndexBytes);
        Images = images;
    }

    public ImageIndex Index { get; }
    public byte[] IndexBytes { get; }
    public Digest Digest { get; }
    public IReadOnlyList<IImage> Images { get; }

    /// <summary>What a registry stores: the index and every image (a blob two images share counted once).</summary>
    public long Size => IndexBytes.Length + Images.Sum(i => (long)i.ManifestBytes.Length + i.ConfigBytes.Length)
        + Images.SelectMany(i => i.Layers).DistinctBy(l => l.Descriptor.Digest).Sum(l => l.Descriptor.Size);
}
