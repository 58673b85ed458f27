namespace Livrable.Build;

/// <summary>
/// The Dockerfile mode of an <see cref="ImageBuildRequest"/>: build the <see cref="Target"/> stage of a Dockerfile
/// instead of a base image plus layers (https://docs.docker.com/reference/dockerfile/, BuildKit semantics; see
/// docs/dockerfile-frontend.md). The request's platform is the target platform, its <c>Created</c> the build's epoch.
/// </summary>
public sealed record DockerfileBuild
{
    /// <summary>The Dockerfile's full path; errors point into it as <c>path(line,col)</c>.</summary>
    public required string DockerfilePath { get; init; }

    /// <summary>The build context folder COPY and ADD read from (with its <c>.dockerignore</c>).</summary>
    public required string ContextDirectory { get; init; }

    /// <summary>
    /// Build arguments (<c>--build-arg NAME=value</c>): they override ARG defaults and the automatic platform
    /// arguments. One that no ARG of the stages built declares is a warning (LIV1120).
    /// </summary>
    public IReadOnlyDictionary<string, string> BuildArgs { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Named contexts (<c>--build-context name=...</c>): a name that FROM or <c>COPY --from</c> uses, mapped to an image
    /// given in the forms of <see cref="ImageBuildRequest.BaseImage"/> (a registry reference, <c>archive:FILE</c>,
    /// <c>oci-layout:DIR</c>...). A name may be an image reference (<c>debian:bookworm</c>): a named context wins over
    /// the registry. A stage whose name is a named context is replaced by it.
    /// </summary>
    public IReadOnlyDictionary<string, string> NamedContexts { get; init; } = new Dictionary<string, string>();

    /// <summary>The stage to build (<c>--target</c>, case-insensitive); null for the last one.</summary>
    public string? Target { get; init; }

    /// <summary>
    /// The OCI runtime that executes RUN (<c>ContainerRuntimePath</c>): a full path or a program name looked up on
    /// PATH; <c>runc</c> when null.
    /// </summary>
    public string? RuntimePath { get; init; }

    /// <summary>
    /// Secrets for <c>RUN --mount=type=secret</c> by id (<c>ContainerSecret</c> items): read when a RUN mounts them,
    /// never written to a layer, the history or the log.
    /// </summary>
    public IReadOnlyDictionary<string, BuildSecret> Secrets { get; init; } = new Dictionary<string, BuildSecret>();

    /// <summary>
    /// Registry references whose exported step cache is imported before the build (<c>ContainerCacheFrom</c>, like
    /// <c>docker build --cache-from type=registry</c>); one that is missing or unreadable is a warning.
    /// </summary>
    public IReadOnlyList<string> CacheFrom { get; init; } = [];

    /// <summary>The registry reference the build's step cache is exported to after the build (<c>ContainerCacheTo</c>).</summary>
    public string? CacheTo { get; init; }
}

/// <summary>Where a build secret's value is: an environment variable of the build, or a file.</summary>
public sealed record BuildSecret(string? EnvironmentVariable, string? File)
{
    /// <summary>The value's bytes, or null when the variable is unset or the file missing.</summary>
    public byte[]? Read()
    {
        if (EnvironmentVariable is { } name)
            return System.Environment.GetEnvironmentVariable(name) is { } value ? System.Text.Encoding.UTF8.GetBytes(value) : null;
        return File is { } path && System.IO.File.Exists(path) ? System.IO.File.ReadAllBytes(path) : null;
    }
}
