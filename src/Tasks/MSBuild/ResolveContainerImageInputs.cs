using Livrable.Build;
using Livrable.Diagnostics;
using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// The images' part of the image step's up-to-date inputs (<c>_LivrableCollectImageSources</c> in
/// Livrable.Sdk.targets): the tarballs and OCI layouts to watch, and the registry tags that make the step run on
/// every build, found by the build's own Dockerfile parser and image-source rules (<see cref="ImageInputs"/>). Thin:
/// the parameters are BuildContainerImage's of the same names, mapped by <see cref="ImageBuildParameters"/>. It
/// reports no error of its own: what the build would report (a Dockerfile that does not parse...) makes the step run,
/// and the build reports it at its place.
/// </summary>
public sealed class ResolveContainerImageInputs : Microsoft.Build.Utilities.Task
{
    /// <summary>Properties mode: ContainerBaseImage, unless a referenced image project gives it.</summary>
    public string? BaseImage { get; set; }

    /// <summary>The image's runtime identifier (ContainerRuntimeIdentifier): the platform FROM lines are expanded for.</summary>
    public string? RuntimeIdentifier { get; set; }

    /// <summary>Dockerfile mode: the Dockerfile.</summary>
    public string? Dockerfile { get; set; }

    /// <summary>ContainerBuildArg items (<c>Value</c> metadata).</summary>
    public ITaskItem[]? BuildArgs { get; set; }

    /// <summary>Named contexts (ContainerNamedContext and referenced image projects; <c>Value</c> metadata).</summary>
    public ITaskItem[]? NamedContexts { get; set; }

    /// <summary>ContainerTarget.</summary>
    public string? Target { get; set; }

    /// <summary>ContainerPlatforms.</summary>
    public string[]? Platforms { get; set; }

    /// <summary>Images referenced image projects build (their image record is the input instead).</summary>
    public string[]? ReferencedImages { get; set; }

    /// <summary>The project's folder, which relative paths are relative to.</summary>
    [Required] public string ProjectDirectory { get; set; } = "";

    /// <summary>Image tarballs and OCI layouts' <c>index.json</c> files, full paths.</summary>
    [Output] public string[] InputFiles { get; set; } = [];

    /// <summary>Images in a registry by tag, ';'-separated: the image step runs on every build.</summary>
    [Output] public string? UnpinnedImages { get; set; }

    /// <summary>Why the images could not be told, when they could not: the image step then runs.</summary>
    [Output] public string? Unresolved { get; set; }

    /// <inheritdoc/>
    public override bool Execute()
    {
        ImageInputsResult result;
        try
        {
            var parameters = new ImageBuildParameters
            {
                BaseImage = BaseImage ?? "",
                RuntimeIdentifier = RuntimeIdentifier,
                Dockerfile = Dockerfile,
                BuildArgs = BuildContainerImage.Items(BuildArgs),
                NamedContexts = BuildContainerImage.Items(NamedContexts),
                Target = Target,
                Platforms = Platforms,
            };
            result = ImageInputs.Resolve(parameters.ToInputsRequest(ReferencedImages ?? [], ProjectDirectory));
        }
        catch (LivrableException e)
        {
            result = new ImageInputsResult([], [], e.Message);
        }
        InputFiles = result.Files.ToArray();
        UnpinnedImages = result.Tags.Count > 0 ? string.Join(";", result.Tags) : null;
        Unresolved = result.Unresolved;
        Log.LogMessage(MessageImportance.Low, "Image inputs: {0} file(s){1}{2}", InputFiles.Length,
            UnpinnedImages is null ? "" : "; by tag: " + UnpinnedImages, Unresolved is null ? "" : "; unresolved: " + Unresolved);
        return true;
    }
}
