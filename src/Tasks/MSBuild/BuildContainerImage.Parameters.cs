using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// The parameters of <c>BuildContainerImage</c>. This file is compiled into both task assemblies: the net8.0 one
/// (<c>Livrable.Tasks</c>, which runs the engine in process, BuildContainerImage.cs) and the .NET Framework one
/// (<c>Livrable.Tasks.NetFramework</c>, which runs it in <c>Livrable.Cli</c>), so the two tasks have the same
/// parameters by construction. Plain C# that net472 compiles: no MSBuild type beyond Framework's, no newer API.
/// </summary>
public sealed partial class BuildContainerImage : Microsoft.Build.Utilities.Task, ICancelableTask
{
    /// <summary><c>scratch</c>, a registry reference, <c>archive:FILE</c> or <c>oci-layout:DIR</c>.</summary>
    [Required] public string BaseImage { get; set; } = "";

    /// <summary>The .NET runtime identifier of the image's platform (<c>linux-x64</c>), as the targets resolve it (LIV2520 when empty).</summary>
    public string? RuntimeIdentifier { get; set; }

    /// <summary>The repository, such as <c>hello</c> or <c>team/hello</c>.</summary>
    [Required] public string Repository { get; set; } = "";

    /// <summary>Tags, as the targets resolve them (<c>latest</c> when the project names none; LIV2520 when empty).</summary>
    public string[]? Tags { get; set; }

    /// <summary>The registry to push to (<c>host[:port]</c>).</summary>
    public string? Registry { get; set; }

    /// <summary>Where to write the image tarball when there is no registry and no local engine.</summary>
    public string? ArchiveOutputPath { get; set; }

    /// <summary>An OCI image layout folder to write the image into instead of the tarball (ContainerOciLayoutPath).</summary>
    public string? OciLayoutPath { get; set; }

    /// <summary><c>Docker</c> or <c>Podman</c>: load the image into that engine.</summary>
    public string? LocalRegistry { get; set; }

    /// <summary><c>Oci</c> (default) or <c>Docker</c>.</summary>
    public string? ImageFormat { get; set; }

    /// <summary><c>gzip</c> (default) or <c>zstd</c>: how the layers Livrable writes are compressed (zstd needs the OCI format).</summary>
    public string? LayerCompression { get; set; }

    /// <summary>The image's working directory, where the publish output goes; empty keeps the base's (<c>/app</c> when there are publish files).</summary>
    public string? WorkingDirectory { get; set; }

    /// <summary>The user the container runs as; empty takes the base's APP_UID when <see cref="FollowDotNetConventions"/>, else the base's user.</summary>
    public string? User { get; set; }

    /// <summary>
    /// Whether the base image's .NET conventions apply as in the .NET SDK: its <c>APP_UID</c> is the user when
    /// <see cref="User"/> is empty, and the ports of its <c>ASPNETCORE_URLS</c>, else <c>ASPNETCORE_HTTP_PORTS</c> and
    /// <c>ASPNETCORE_HTTPS_PORTS</c>, are exposed.
    /// </summary>
    public bool FollowDotNetConventions { get; set; }

    /// <summary>Whether to label the image <c>org.opencontainers.image.base.digest</c> (ContainerGenerateLabelsImageBaseDigest).</summary>
    public bool BaseDigestLabel { get; set; }

    /// <summary><c>ContainerEntrypoint</c> items, in order.</summary>
    public ITaskItem[]? Entrypoint { get; set; }

    /// <summary><c>ContainerDefaultArgs</c> items: the CMD, which <c>docker run IMAGE args</c> replaces.</summary>
    public ITaskItem[]? Cmd { get; set; }

    /// <summary><c>ContainerAppCommand</c> items; inferred from the publish output when empty.</summary>
    public ITaskItem[]? AppCommand { get; set; }

    /// <summary><c>ContainerAppCommandArgs</c> items: arguments always passed to the app.</summary>
    public ITaskItem[]? AppCommandArgs { get; set; }

    /// <summary><c>ContainerAppCommandInstruction</c>: Entrypoint, DefaultArgs or None.</summary>
    public string? AppCommandInstruction { get; set; }

    /// <summary>The app's assembly name, to find <c>name</c> (apphost) or <c>name.dll</c> in the publish output.</summary>
    public string? AssemblyName { get; set; }

    /// <summary>Whether the app is self-contained (then its apphost is the app command).</summary>
    public bool SelfContained { get; set; }

    /// <summary><c>ContainerEnvironmentVariable</c> items: name, <c>Value</c> metadata.</summary>
    public ITaskItem[]? EnvironmentVariables { get; set; }

    /// <summary><c>ContainerLabel</c> items: key, <c>Value</c> metadata.</summary>
    public ITaskItem[]? Labels { get; set; }

    /// <summary><c>ContainerPort</c> items: port number, <c>Type</c> metadata <c>tcp</c> (default) or <c>udp</c>.</summary>
    public ITaskItem[]? Ports { get; set; }

    /// <summary>
    /// Extra layers, before the app's: <c>Kind</c> metadata <c>Directory</c> (a folder's tree), <c>Tar</c> (a tar
    /// file's entries) or <c>Files</c> (one file; those with the same <c>CreatedBy</c> share a layer), placed at
    /// <c>Destination</c> (<c>/</c> by default; for a file, a path ending in <c>/</c> keeps its name).
    /// </summary>
    public ITaskItem[]? Layers { get; set; }

    /// <summary>The <c>ResolvedFileToPublish</c> items (with <c>RelativePath</c>), split into runtime, dependencies and application layers.</summary>
    public ITaskItem[]? PublishFiles { get; set; }

    /// <summary>The publish folder, to resolve relative item paths.</summary>
    public string? PublishDirectory { get; set; }

    /// <summary>Livrable's state folder (blob store, caches), as the targets resolve ContainerStateDirectory (LIV2520 when empty).</summary>
    public string? StateDirectory { get; set; }

    /// <summary>ContainerStateMaxSize: the state folder's cap (bytes, or 500MB, 20GB...), checked at the end of the build; 20 GB when empty.</summary>
    public string? StateMaxSize { get; set; }

    /// <summary>SOURCE_DATE_EPOCH: the time written into the image, in seconds since 1970.</summary>
    public string? SourceDateEpoch { get; set; }

    /// <summary>Registries (<c>host[:port]</c>) that may be reached over plain http.</summary>
    public string[]? InsecureRegistries { get; set; }

    /// <summary>
    /// ContainerRegistryTimeout: how long a registry may send nothing before the request is retried, then given up
    /// (LIV3012): seconds, or a Go duration (<c>90s</c>, <c>5m</c>); <c>0</c> waits forever; 60 s when empty.
    /// </summary>
    public string? RegistryTimeout { get; set; }

    /// <summary>
    /// ContainerMaxParallelism: how many steps (of independent stages, and of the platforms of a multi-platform
    /// build) run at the same time; the targets default it to the core count; 1 builds one step at a time.
    /// </summary>
    public string? MaxParallelism { get; set; }

    /// <summary><c>ContainerNoCache</c>: write every layer again instead of reusing one made from unchanged inputs.</summary>
    public bool NoCache { get; set; }

    /// <summary>
    /// <c>-t:ContainerPlan</c> (<c>-p:ContainerDryRun=true</c>): print the build's plan, what is cached and the digest
    /// when everything is, instead of building; nothing is run or written. MSBuild on .NET only (LIV2501).
    /// </summary>
    public bool PlanOnly { get; set; }
    /// <summary>
    /// The Dockerfile to build (ContainerDockerfile); when set the image is its target stage, and the base image, layer
    /// and config parameters other than <see cref="Labels"/> are not used.
    /// </summary>
    public string? Dockerfile { get; set; }

    /// <summary>The build context folder (ContainerBuildContext); the Dockerfile's folder when empty.</summary>
    public string? BuildContext { get; set; }

    /// <summary><c>ContainerBuildArg</c> items: the argument name, <c>Value</c> metadata.</summary>
    public ITaskItem[]? BuildArgs { get; set; }

    /// <summary><c>ContainerNamedContext</c> items: the name FROM or COPY --from uses, <c>Value</c> metadata the image (BaseImage's forms).</summary>
    public ITaskItem[]? NamedContexts { get; set; }

    /// <summary>The stage to build (ContainerTarget); the last one when empty.</summary>
    public string? Target { get; set; }

    /// <summary>The OCI runtime for RUN (ContainerRuntimePath): a path or a name on PATH; runc when empty.</summary>
    public string? RuntimePath { get; set; }

    /// <summary>ContainerCacheFrom: registry references (<c>registry/repository:tag</c>) whose exported step cache the build imports.</summary>
    public string[]? CacheFrom { get; set; }

    /// <summary>ContainerCacheTo: the registry reference the build's step cache is exported to.</summary>
    public string? CacheTo { get; set; }

    /// <summary><c>ContainerSecret</c> items: the id <c>RUN --mount=type=secret</c> names, <c>Env</c> or <c>File</c> metadata.</summary>
    public ITaskItem[]? Secrets { get; set; }

    /// <summary>
    /// <c>ContainerPlatforms</c> (<c>os/arch[/variant]</c>, such as <c>linux/amd64</c>): the image is built once per
    /// platform and written as an index over them. Empty for one platform, <see cref="RuntimeIdentifier"/>'s.
    /// </summary>
    public string[]? Platforms { get; set; }

    /// <summary>
    /// Images already built, one per platform (<c>archive:FILE</c> of a publish per <c>ContainerRuntimeIdentifiers</c>
    /// entry), with <c>RuntimeIdentifier</c> metadata: the image is the index over them, and the base image, layer and
    /// config parameters are not used.
    /// </summary>
    public ITaskItem[]? PlatformImages { get; set; }

    // Supply chain (docs/supply-chain.md): ContainerMetadataFile, ContainerDigestFile, ContainerGenerateSbom,
    // ContainerProvenance, ContainerSigningKey, and what the provenance names (project, commit, repository URL).
    /// <summary>ContainerMetadataFile: a JSON file with buildx's metadata-file keys.</summary>
    public string? MetadataFile { get; set; }
    /// <summary>ContainerDigestFile: the image (or index) digest alone, as <c>docker build --iidfile</c>.</summary>
    public string? DigestFile { get; set; }
    /// <summary>ContainerGenerateSbom: an SPDX 2.3 SBOM beside the tarball, attached to the pushed image.</summary>
    public bool GenerateSbom { get; set; }
    /// <summary>ContainerProvenance: SLSA v1 provenance beside the tarball, attached to the pushed image.</summary>
    public bool Provenance { get; set; }
    /// <summary>ContainerSigningKey: the path of a PEM private key that signs each pushed manifest (cosign's format).</summary>
    public string? SigningKey { get; set; }
    /// <summary>Where the SBOM and provenance go, without extension.</summary>
    public string? SupplyChainOutputBase { get; set; }
    /// <summary>The project file, for the provenance (its name only).</summary>
    public string? ProjectPath { get; set; }
    /// <summary>The source's git commit (SourceRevisionId), for the provenance.</summary>
    public string? SourceRevisionId { get; set; }
    /// <summary>The source's repository URL, for the provenance (credentials in it are redacted).</summary>
    public string? RepositoryUrl { get; set; }

    /// <summary>The digest of the image's manifest (of the index for a multi-platform image).</summary>
    [Output] public string? ImageDigest { get; set; }

    /// <summary>The image's full reference.</summary>
    [Output] public string? ImageReference { get; set; }

    /// <summary>The tarball written, when the image went to one.</summary>
    [Output] public string? ArchivePath { get; set; }

    /// <summary>
    /// What the final <c>Built</c> line says, without its timings: <c>reference digest (size) -&gt; destination</c>.
    /// The targets keep it in the image record (obj/.../container/image.record), so that a publish that skips the image
    /// step as up to date reports the same line. Empty from the .NET Framework task, whose CLI result does not carry it.
    /// </summary>
    [Output] public string? ImageSummary { get; set; }

    /// <summary>The manifest JSON as written (the .NET SDK's GeneratedContainerManifest); empty for an index and from the .NET Framework task.</summary>
    [Output] public string? GeneratedContainerManifest { get; set; }

    /// <summary>The config JSON as written (the .NET SDK's GeneratedContainerConfiguration); empty for an index and from the .NET Framework task.</summary>
    [Output] public string? GeneratedContainerConfiguration { get; set; }

    /// <summary>The index JSON as written, for a multi-platform image (the .NET SDK's GeneratedImageIndex).</summary>
    [Output] public string? GeneratedImageIndex { get; set; }

    /// <summary>The media type of the manifest or index written (the .NET SDK's GeneratedContainerMediaType).</summary>
    [Output] public string? GeneratedContainerMediaType { get; set; }
}
