namespace Livrable.Images;

/// <summary>
/// Media types of the two manifest families Livrable reads: OCI
/// (https://github.com/opencontainers/image-spec/blob/main/media-types.md) and Docker schema 2
/// (https://distribution.github.io/distribution/spec/manifest-v2-2/). It writes OCI unless asked for Docker.
/// </summary>
public static class MediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string OciLayout = "application/vnd.oci.layout.header.v1+json";

    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerLayerForeign = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

    /// <summary>Whether the media type is a single-image manifest of either family.</summary>
    public static bool IsManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    /// <summary>Whether the media type is an index (OCI) or manifest list (Docker).</summary>
    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;

    /// <summary>Whether the media type is a layer Livrable can apply (tar, gzip or zstd, either family).</summary>
    public static bool IsLayer(string? mediaType) => mediaType is OciLayer or OciLayerGzip or OciLayerZstd
        or DockerLayerGzip or DockerLayerForeign
        or "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        or "application/vnd.oci.image.layer.nondistributable.v1.tar";

    /// <summary>Maps a layer media type to the family being written (gzip layers only change name).</summary>
    public static string LayerFor(ImageFormat format, string mediaType) => (format, mediaType) switch
    {
        (ImageFormat.Docker, OciLayerGzip) => DockerLayerGzip,
        (ImageFormat.Oci, DockerLayerGzip) => OciLayerGzip,
        (ImageFormat.Oci, DockerLayerForeign) => OciLayerGzip,
        _ => mediaType,
    };
}

/// <summary>Which manifest family to write.</summary>
public enum ImageFormat
{
    /// <summary>OCI image manifest and index (the default).</summary>
    Oci,
    /// <summary>Docker image manifest schema 2 and manifest list.</summary>
    Docker,
}
