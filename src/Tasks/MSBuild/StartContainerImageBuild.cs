using Livrable.Build;
using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// Starts the part of the image step that needs nothing the build writes (<see cref="ImageBuildHeadStart"/>: the state
/// folder's lease, the registry client and the base images' resolution, the build context's digest index) and leaves
/// it to this build's <c>BuildContainerImage</c> of the same project (<see cref="HeadStarts"/>), which uses it when its
/// settings match. Thin: parameters to <see cref="ImageBuildHeadStartParameters"/> (the images' through
/// <see cref="ImageInputsTask"/>, as <c>ResolveContainerImageInputs</c> maps them), one call. It reports no error:
/// whatever goes wrong ahead, the image step meets again and reports. net8.0 only, in MSBuild's own process
/// (<c>LivrableTaskHost</c> InProcess): an object handed from task to task lives in one process.
/// </summary>
public sealed class StartContainerImageBuild : Microsoft.Build.Utilities.Task, ICancelableTask, IImageInputsTask
{
    private ImageBuildHeadStart? _started;

    /// <summary>Properties mode: ContainerBaseImage (empty when a referenced image project gives it).</summary>
    public string? BaseImage { get; set; }

    /// <summary>ContainerRuntimeIdentifier.</summary>
    public string? RuntimeIdentifier { get; set; }

    /// <summary>Dockerfile mode: the Dockerfile.</summary>
    public string? Dockerfile { get; set; }

    /// <summary>ContainerBuildContext (Dockerfile mode).</summary>
    public string? BuildContext { get; set; }

    /// <summary>ContainerBuildArg items (<c>Value</c> metadata).</summary>
    public ITaskItem[]? BuildArgs { get; set; }

    /// <summary>Named contexts (<c>Value</c> metadata).</summary>
    public ITaskItem[]? NamedContexts { get; set; }

    /// <summary>ContainerTarget.</summary>
    public string? Target { get; set; }

    /// <summary>ContainerPlatforms.</summary>
    public string[]? Platforms { get; set; }

    /// <summary>ContainerStateDirectory.</summary>
    public string? StateDirectory { get; set; }

    /// <summary>The insecure registries, as BuildContainerImage receives them.</summary>
    public string[]? InsecureRegistries { get; set; }

    /// <summary>ContainerRegistryTimeout.</summary>
    public string? RegistryTimeout { get; set; }

    /// <summary>The project's folder, which relative paths are relative to.</summary>
    [Required] public string ProjectDirectory { get; set; } = "";

    /// <summary>The project file: with the build's global properties, which project's image step takes the head start.</summary>
    [Required] public string ProjectPath { get; set; } = "";

    /// <summary>Whether a head start was started (and left for the image step).</summary>
    [Output] public bool Started { get; set; }

    /// <inheritdoc/>
    public void Cancel() => _started?.Cancel();

    /// <inheritdoc/>
    public override bool Execute()
    {
        if (BuildEngine is not IBuildEngine4 engine) return true;
        try
        {
            var parameters = new ImageBuildHeadStartParameters
            {
                Images = this.ToImageInputs(),
                StateDirectory = StateDirectory,
                InsecureRegistries = InsecureRegistries,
                RegistryTimeout = RegistryTimeout,
                BuildContext = BuildContext,
            };
            _started = HeadStarts.Start(engine, ProjectPath, parameters.ToRequest());
        }
        catch (Diagnostics.LivrableException e)
        {
            // A value of the wrong shape: the image step reports it.
            Log.LogMessage(MessageImportance.Low, "No head start for the image step: {0}", e.Message);
        }
        Started = _started is not null;
        if (_started is not null) Log.LogMessage(MessageImportance.Low, "Image step started ahead: {0}", _started.Description);
        return true;
    }
}
