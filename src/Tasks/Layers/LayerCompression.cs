using System.IO.Compression;
using Livrable.Images;

namespace Livrable.Layers;

/// <summary>
/// How Livrable compresses the layers it writes (<c>ContainerLayerCompression</c>). A base image's layers keep their
/// own compression: they are reused as they are, never recompressed.
/// </summary>
public enum LayerCompression
{
    /// <summary>gzip (<c>application/vnd.oci.image.layer.v1.tar+gzip</c>), which every client reads: the default.</summary>
    Gzip,

    /// <summary>
    /// zstd (<c>application/vnd.oci.image.layer.v1.tar+zstd</c>): faster to compress and to pull, but OCI only (Docker's
    /// manifest format has no such layer type) and not read by older clients.
    /// </summary>
    Zstd,
}

/// <summary>The media type and the compressing stream of each <see cref="LayerCompression"/>.</summary>
public static class LayerCompressions
{
    /// <summary>
    /// The OCI media type of a layer written with <paramref name="compression"/>
    /// (https://github.com/opencontainers/image-spec/blob/main/media-types.md); a Docker image renames gzip's.
    /// </summary>
    public static string MediaType(LayerCompression compression) => compression switch
    {
        LayerCompression.Zstd => MediaTypes.OciLayerZstd,
        _ => MediaTypes.OciLayerGzip,
    };

    /// <summary>
    /// A write-only stream that compresses into <paramref name="inner"/> (left open) and finishes the blob when
    /// disposed; its bytes depend only on the input and <paramref name="level"/>.
    /// </summary>
    public static Stream Open(LayerCompression compression, Stream inner, CompressionLevel level) => compression switch
    {
        LayerCompression.Zstd => new DeterministicZstdStream(inner, level, leaveOpen: true),
        _ => new DeterministicGzipStream(inner, level, leaveOpen: true),
    };

    /// <summary>Parses <c>gzip</c> or <c>zstd</c> (any case; empty is gzip); null for anything else.</summary>
    public static LayerCompression? Parse(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "gzip" => LayerCompression.Gzip,
        "zstd" => LayerCompression.Zstd,
        _ => null,
    };
}
