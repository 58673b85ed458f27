using Livrable.Images;
using Livrable.Layers;

namespace Livrable.Build;

/// <summary>
/// Everything the engine needs to build one image, with no MSBuild types: the task classes fill it from properties
/// and items, tests fill it directly. Values are already validated for shape by the task (a tag is a string here);
/// the engine validates meaning (a tag that is not a valid tag is LIV2002).
/// </summary>
public sealed record ImageBuildRequest
{
    /// <summary>
    /// The base image: <c>scratch</c>, a registry reference (<c>host/repo:tag</c>, <c>repo@sha256:...</c>), or a local
    /// image given as <c>oci-layout:DIR[:tag]</c>, <c>archive:FILE</c> (an image tarball, docker or OCI), or a plain
    /// path to an existing tarball or OCI layout folder. Part of the properties recipe (<see cref="Recipe"/>).
    /// </summary>
    public string BaseImage { get; init; } = "scratch";

    /// <summary>
    /// When set, the image is the target stage of this Dockerfile (<see cref="DockerfileRecipe"/>), with
    /// <see cref="ConfigChanges.Labels"/> added to the final image as <c>docker build --label</c> does; the other
    /// properties fields must keep their defaults (<see cref="Recipe"/>).
    /// </summary>
    public DockerfileBuild? Dockerfile { get; init; }

    /// <summary>The platform to build for; chooses the entry of a multi-platform base.</summary>
    public required Platform Platform { get; init; }

    /// <summary>
    /// A multi-platform build: the image (base, layers, config, or the Dockerfile) is built once per platform, in this
    /// order, and an index over them is written (an OCI image index, or a Docker manifest list). Empty for one
    /// platform, <see cref="Platform"/>. Layers are the same for every platform here; when they differ (a .NET app
    /// published per runtime identifier) each platform's image is built on its own and given in <see cref="PlatformImages"/>.
    /// </summary>
    public IReadOnlyList<Platform> Platforms { get; init; } = [];

    /// <summary>
    /// Images already built, one per platform (such as <c>archive:FILE</c> of a build per runtime identifier), which
    /// the index lists as they are: no layer or config is added (<see cref="PrebuiltImagesRecipe"/>; the other
    /// recipes' fields and <see cref="Platforms"/> must keep their defaults, <see cref="Recipe"/>).
    /// </summary>
    public IReadOnlyList<PlatformImage> PlatformImages { get; init; } = [];

    /// <summary>Whether this build writes an index rather than one image.</summary>
    public bool IsMultiPlatform => PlatformImages.Count > 0 || Platforms.Count > 0;

    /// <summary>
    /// What the image is made from, decided from the fields above (<see cref="Build.Recipe.Of"/>): properties,
    /// Dockerfile or images already built. LIV2510 when the fields of two are given.
    /// </summary>
    public Recipe Recipe => Build.Recipe.Of(this);

    /// <summary>
    /// How many pieces of work run at the same time (ContainerMaxParallelism): missed Dockerfile steps of independent
    /// stages, and the platforms of a multi-platform build (<see cref="WorkLimiter"/>); 1 builds one at a time. The
    /// output is the same bytes whatever the bound.
    /// </summary>
    public int MaxParallelism { get; init; } = WorkLimiter.DefaultBound;

    /// <summary>Layers to add on top of the base, in order.</summary>
    public IReadOnlyList<LayerSpec> Layers { get; init; } = [];

    /// <summary>Changes to the base image's config.</summary>
    public ConfigChanges Config { get; init; } = new();

    /// <summary>The repository (name without registry and tag), such as <c>myapp</c> or <c>team/myapp</c>.</summary>
    public required string Repository { get; init; }

    /// <summary>
    /// Tags to give the image; at least one. Required, with no default of the engine's own: the one rule for the tags
    /// (<c>ContainerTag</c>, then <c>ContainerImageTag</c>, then <c>ContainerImageTags</c>, else <c>latest</c>) is in
    /// Livrable.Sdk.targets, as for <see cref="StateDirectory"/> (a second default here once let a direct caller's image
    /// be tagged <c>latest</c> where the targets would have said otherwise).
    /// </summary>
    public required IReadOnlyList<string> Tags { get; init; }

    /// <summary>Registry to push to (<c>host[:port]</c>); null to write a tarball or load locally instead.</summary>
    public string? Registry { get; init; }

    /// <summary>Where to write the image tarball; used when <see cref="Registry"/> and <see cref="LocalEngine"/> are null.</summary>
    public string? ArchivePath { get; init; }

    /// <summary><c>docker</c> or <c>podman</c> to load the image into that engine; null otherwise.</summary>
    public string? LocalEngine { get; init; }

    /// <summary>An OCI image layout folder to write the image into (<c>ContainerOciLayoutPath</c>); null otherwise.</summary>
    public string? OciLayoutPath { get; init; }

    /// <summary>Where the image goes, in <see cref="Build.Destination"/>'s order; null when nothing names one.</summary>
    public Destination? Destination => Build.Destination.Of(this);

    /// <summary>Which manifest family to write.</summary>
    public ImageFormat Format { get; init; } = ImageFormat.Oci;

    /// <summary>
    /// How the layers Livrable writes are compressed (gzip unless asked); a base image's layers keep their own.
    /// zstd needs <see cref="ImageFormat.Oci"/>: <see cref="ImageBuildParameters"/> refuses it with Docker (LIV4101).
    /// </summary>
    public LayerCompression LayerCompression { get; init; } = LayerCompression.Gzip;

    /// <summary>The time written into the config, history and every layer entry (from SOURCE_DATE_EPOCH).</summary>
    public DateTimeOffset Created { get; init; } = Reproducibility.DefaultEpoch;

    /// <summary>Livrable's state folder (blob store, caches).</summary>
    public required string StateDirectory { get; init; }

    /// <summary>
    /// The state folder's size cap (ContainerStateMaxSize), enforced at the end of the build by evicting the least
    /// recently used entries when no other build runs (Store/StatePruner).
    /// </summary>
    public long StateMaxSize { get; init; } = Store.StatePruner.DefaultMaxSize;

    /// <summary>Registries (<c>host[:port]</c>) that may be reached over plain http besides loopback ones.</summary>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];

    /// <summary>
    /// How long a registry may send nothing before a request is retried, then given up with LIV3012
    /// (ContainerRegistryTimeout, <see cref="Livrable.Registry.RegistryOptions.IdleTimeout"/>).
    /// </summary>
    public TimeSpan RegistryTimeout { get; init; } = Livrable.Registry.RegistryOptions.DefaultIdleTimeout;

    /// <summary>Write every layer again rather than reuse the blob that unchanged inputs produced before.</summary>
    public bool NoCache { get; init; }

    /// <summary>The metadata file, SBOM, provenance and signature asked for (nothing by default); see SupplyChain/.</summary>
    public SupplyChain.SupplyChainOptions SupplyChain { get; init; } = new();
}

/// <summary>A single-platform image already built, by <paramref name="Image"/> reference (<c>archive:FILE</c>...), for <paramref name="Platform"/>.</summary>
public sealed record PlatformImage(Platform Platform, string Image);

/// <summary>Changes applied to the base config. Null leaves the base's value.</summary>
public sealed record ConfigChanges
{
    public string? WorkingDirectory { get; init; }
    public string? User { get; init; }
    public IReadOnlyList<string>? Entrypoint { get; init; }
    public IReadOnlyList<string>? Cmd { get; init; }
    /// <summary>Environment variables, applied in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; } = [];
    public IReadOnlyList<KeyValuePair<string, string>> Labels { get; init; } = [];
    /// <summary>Ports as <c>80/tcp</c>, <c>53/udp</c>.</summary>
    public IReadOnlyList<string> Ports { get; init; } = [];

    /// <summary>
    /// Whether the base's .NET conventions apply (<see cref="DotNetImageConventions"/>): its <c>APP_UID</c> is the
    /// user unless <see cref="User"/> is set, and the ports its ASP.NET Core variables name are exposed, as the .NET
    /// SDK's container publishing does.
    /// </summary>
    public bool FollowDotNetConventions { get; init; }

    /// <summary>
    /// Whether to label the image <c>org.opencontainers.image.base.digest</c> with its base's manifest digest (the .NET
    /// SDK's ContainerGenerateLabelsImageBaseDigest); a label of that name given in <see cref="Labels"/> wins.
    /// </summary>
    public bool BaseDigestLabel { get; init; }
}

/// <summary>What a build produced and where it went; <see cref="Digest"/> is the index's for a multi-platform build.</summary>
public sealed record ImageBuildResult(string Reference, Digest Digest, long Size, string Destination)
{
    /// <summary>For a multi-platform build, each platform's image digest, in the index's order; empty otherwise.</summary>
    public IReadOnlyList<(Platform Platform, Digest Digest)> PlatformDigests { get; init; } = [];

    /// <summary>Blobs whose bytes went to a registry (0 when nothing changed since the last push).</summary>
    public long BlobsUploaded { get; init; }

    /// <summary>Bytes sent to a registry.</summary>
    public long BytesUploaded { get; init; }

    /// <summary>The image's manifest as written (for one image; null for an index), the .NET SDK's GeneratedContainerManifest.</summary>
    public byte[]? ManifestBytes { get; init; }

    /// <summary>The image's config as written (for one image), the .NET SDK's GeneratedContainerConfiguration.</summary>
    public byte[]? ConfigBytes { get; init; }

    /// <summary>The index as written, for a multi-platform build, the .NET SDK's GeneratedImageIndex.</summary>
    public byte[]? IndexBytes { get; init; }

    /// <summary>The media type of <see cref="ManifestBytes"/> or <see cref="IndexBytes"/>.</summary>
    public string? MediaType { get; init; }
}
