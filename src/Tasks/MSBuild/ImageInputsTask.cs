using Livrable.Build;
using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// The parameters by which a task names the images a build reads (BuildContainerImage's of the same names):
/// <c>ResolveContainerImageInputs</c> (the up-to-date inputs) and <c>StartContainerImageBuild</c> (the head start) both
/// have them, and map them to <see cref="ImageInputsParameters"/> here, once. net8.0 only: each task declares it in its
/// net8.0 part, so the parameters file the .NET Framework task shares is unchanged.
/// </summary>
internal interface IImageInputsTask
{
    /// <summary>Properties mode: ContainerBaseImage (empty when a referenced image project gives it).</summary>
    string? BaseImage { get; }

    /// <summary>ContainerRuntimeIdentifier.</summary>
    string? RuntimeIdentifier { get; }

    /// <summary>Dockerfile mode: the Dockerfile.</summary>
    string? Dockerfile { get; }

    /// <summary>ContainerBuildArg items (<c>Value</c> metadata).</summary>
    ITaskItem[]? BuildArgs { get; }

    /// <summary>Named contexts (<c>Value</c> metadata).</summary>
    ITaskItem[]? NamedContexts { get; }

    /// <summary>ContainerTarget.</summary>
    string? Target { get; }

    /// <summary>ContainerPlatforms.</summary>
    string[]? Platforms { get; }

    /// <summary>The project's folder, which relative paths are relative to.</summary>
    string ProjectDirectory { get; }
}

/// <summary>The one mapping of <see cref="IImageInputsTask"/>'s parameters.</summary>
internal static class ImageInputsTask
{
    /// <summary>
    /// The task's parameters as plain values, items with their metadata; <paramref name="referencedImages"/>, the images
    /// referenced image projects build, only where the task is given them. The base image is left to
    /// <see cref="ImageBuildParameters"/>' rule (a Dockerfile's build has none: <c>ToInputsRequest</c> says so).
    /// </summary>
    public static ImageInputsParameters ToImageInputs(this IImageInputsTask task, IReadOnlyList<string>? referencedImages = null) => new()
    {
        BaseImage = task.BaseImage,
        RuntimeIdentifier = task.RuntimeIdentifier,
        Dockerfile = task.Dockerfile,
        BuildArgs = BuildContainerImage.Items(task.BuildArgs),
        NamedContexts = BuildContainerImage.Items(task.NamedContexts),
        Target = task.Target,
        Platforms = task.Platforms,
        ReferencedImages = referencedImages,
        ProjectDirectory = task.ProjectDirectory,
    };
}
