using Livrable.Build.Dockerfile;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Sources;

namespace Livrable.Build;

/// <summary>
/// What the images an image is made from contribute to MSBuild's up-to-date check (the <c>_LivrableBuildImage</c>
/// target's inputs): the base image in properties mode, the named contexts, and in Dockerfile mode every image the
/// build would read (<see cref="DockerfileImageNames"/>: FROM expanded with the meta and build arguments, stages,
/// <c>COPY --from</c>, <c>RUN --mount=...,from=</c>, named contexts replacing stages and images).
/// </summary>
public sealed record ImageInputsRequest
{
    /// <summary>Properties mode: ContainerBaseImage (null when a referenced image project gives it, or in Dockerfile mode).</summary>
    public string? BaseImage { get; init; }

    /// <summary>Dockerfile mode: the Dockerfile's full path.</summary>
    public string? DockerfilePath { get; init; }

    /// <summary>ContainerBuildArg, by name.</summary>
    public IReadOnlyDictionary<string, string> BuildArgs { get; init; } = new Dictionary<string, string>();

    /// <summary>The named contexts (ContainerNamedContext and referenced image projects), by name.</summary>
    public IReadOnlyDictionary<string, string> NamedContexts { get; init; } = new Dictionary<string, string>();

    /// <summary>ContainerTarget; the last stage when null.</summary>
    public string? Target { get; init; }

    /// <summary>The platforms built (each expands FROM with its own TARGETPLATFORM...).</summary>
    public required IReadOnlyList<Platform> Platforms { get; init; }

    /// <summary>
    /// Images that referenced image projects build: their image record is the input (the targets add it), so they
    /// are neither files to watch nor tags that always build.
    /// </summary>
    public IReadOnlyList<string> ReferencedImages { get; init; } = [];

    /// <summary>The folder relative paths are relative to (the project's).</summary>
    public required string BaseDirectory { get; init; }
}

/// <summary>The up-to-date inputs of the images an image is made from.</summary>
/// <param name="Files">Full paths to watch: each image tarball, each OCI layout's <c>index.json</c>; sorted, each once.</param>
/// <param name="Tags">Registry references by tag: the tag may have moved, so the image step runs on every build.</param>
/// <param name="Unresolved">
/// Why the images could not be told (the Dockerfile does not parse, an image string is malformed...): the image step
/// then runs, and the build reports the error where it belongs. Null when everything was resolved.
/// </param>
public sealed record ImageInputsResult(IReadOnlyList<string> Files, IReadOnlyList<string> Tags, string? Unresolved);

/// <summary>Resolves <see cref="ImageInputsRequest"/>: the images named, then where each lives (<see cref="ImageSources.Locate"/>).</summary>
public static class ImageInputs
{
    /// <summary>
    /// The files and tags of the images the request's build reads. Never throws for what the build would report:
    /// such an error becomes <see cref="ImageInputsResult.Unresolved"/>.
    /// </summary>
    public static ImageInputsResult Resolve(ImageInputsRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var files = new SortedSet<string>(StringComparer.Ordinal);
        var tags = new List<string>();
        try
        {
            var names = new List<string>();
            if (!string.IsNullOrWhiteSpace(request.BaseImage)) names.Add(request.BaseImage.Trim());
            names.AddRange(request.NamedContexts.Values);
            if (request.DockerfilePath is { } path)
            {
                var document = Livrable.Dockerfile.DockerfileParser.Parse(path, File.ReadAllText(path), NullLogger.Instance);
                names.AddRange(DockerfileImageNames.Of(document, request.BuildArgs, request.NamedContexts, request.Target, request.Platforms));
            }
            foreach (string name in names.Distinct(StringComparer.Ordinal))
            {
                if (request.ReferencedImages.Contains(name, StringComparer.Ordinal)) continue;
                var location = ImageSources.Locate(name, request.BaseDirectory);
                switch (location.Kind)
                {
                    case ImageLocationKind.Archive:
                        files.Add(Path.GetFullPath(location.Path!, request.BaseDirectory));
                        break;
                    case ImageLocationKind.Layout:
                        // Blobs are content-addressed: index.json is what changes when the layout gets another image.
                        files.Add(Path.Combine(Path.GetFullPath(location.Path!, request.BaseDirectory), "index.json"));
                        break;
                    case ImageLocationKind.Registry when location.IsTag:
                        if (!tags.Contains(name, StringComparer.Ordinal)) tags.Add(name);
                        break;
                }
            }
        }
        catch (Exception e) when (e is LivrableException or IOException or UnauthorizedAccessException)
        {
            return new ImageInputsResult(files.ToList(), tags, e.Message);
        }
        return new ImageInputsResult(files.ToList(), tags, null);
    }
}
