using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// The parameters of <c>ResolveContainerImageInputs</c>, compiled into both task assemblies as
/// BuildContainerImage.Parameters.cs is (the net8.0 one resolves in process, the .NET Framework one in
/// <c>Livrable.Cli --image-inputs</c>). The inputs are BuildContainerImage's parameters of the same names.
/// </summary>
public sealed partial class ResolveContainerImageInputs : Microsoft.Build.Utilities.Task
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

    private void Report()
        => Log.LogMessage(MessageImportance.Low, "Image inputs: {0} file(s){1}{2}", InputFiles.Length,
            UnpinnedImages is null ? "" : "; by tag: " + UnpinnedImages, Unresolved is null ? "" : "; unresolved: " + Unresolved);
}
