namespace Livrable.Build;

/// <summary>
/// The <c>ResolveContainerImageInputs</c> task's parameters as plain values, and the one mapping to an
/// <see cref="ImageInputsRequest"/>: the net8.0 task fills it in process, the .NET Framework task writes it as JSON
/// for <c>Livrable.Cli --image-inputs</c>. Build arguments, named contexts and platforms are mapped by
/// <see cref="ImageBuildParameters"/>' own rules, so the check and the build agree on the images.
/// </summary>
public sealed class ImageInputsParameters
{
    /// <summary>Properties mode: ContainerBaseImage (empty when a referenced image project gives it).</summary>
    public string? BaseImage { get; set; }

    /// <summary>ContainerRuntimeIdentifier: the platform FROM lines are expanded for when there are no Platforms.</summary>
    public string? RuntimeIdentifier { get; set; }

    /// <summary>Dockerfile mode: the Dockerfile (relative to ProjectDirectory).</summary>
    public string? Dockerfile { get; set; }

    /// <summary>ContainerBuildArg items (<c>Value</c> metadata).</summary>
    public IReadOnlyList<ParameterItem>? BuildArgs { get; set; }

    /// <summary>Named contexts: ContainerNamedContext items and referenced image projects' (<c>Value</c> metadata).</summary>
    public IReadOnlyList<ParameterItem>? NamedContexts { get; set; }

    /// <summary>ContainerTarget.</summary>
    public string? Target { get; set; }

    /// <summary>ContainerPlatforms.</summary>
    public IReadOnlyList<string>? Platforms { get; set; }

    /// <summary>The images referenced image projects build: their record is the input, not these.</summary>
    public IReadOnlyList<string>? ReferencedImages { get; set; }

    /// <summary>The project's folder, which relative paths are relative to; the current directory when empty.</summary>
    public string ProjectDirectory { get; set; } = "";

    /// <summary>The request; LIV2070 or LIV2120 for an item or platform of the wrong shape, as the build reports them.</summary>
    /// <exception cref="Diagnostics.LivrableException">A value has the wrong shape.</exception>
    public ImageInputsRequest ToRequest()
    {
        string baseDirectory = string.IsNullOrWhiteSpace(ProjectDirectory) ? Directory.GetCurrentDirectory() : ProjectDirectory;
        var build = new ImageBuildParameters
        {
            BaseImage = BaseImage ?? "",
            RuntimeIdentifier = RuntimeIdentifier,
            Dockerfile = Dockerfile,
            BuildArgs = BuildArgs,
            NamedContexts = NamedContexts,
            Target = Target,
            Platforms = Platforms,
        };
        return build.ToInputsRequest(ReferencedImages ?? [], baseDirectory);
    }
}

public sealed partial class ImageBuildParameters
{
    /// <summary>The up-to-date inputs' request from these parameters (<see cref="ImageInputsParameters.ToRequest"/>).</summary>
    internal ImageInputsRequest ToInputsRequest(IReadOnlyList<string> referencedImages, string baseDirectory)
    {
        var platforms = ParsePlatforms(Platforms);
        return new ImageInputsRequest
        {
            BaseImage = NullIfEmpty(Dockerfile) is null ? NullIfEmpty(BaseImage) : null,
            DockerfilePath = NullIfEmpty(Dockerfile) is { } dockerfile ? Path.GetFullPath(dockerfile, baseDirectory) : null,
            BuildArgs = Map(BuildArgs, "ContainerBuildArg", valueRequired: false),
            NamedContexts = Map(NamedContexts, "ContainerNamedContext", valueRequired: true),
            Target = NullIfEmpty(Target),
            Platforms = platforms.Count > 0 ? platforms : [TargetPlatform()],
            ReferencedImages = referencedImages,
            BaseDirectory = baseDirectory,
        };
    }
}
