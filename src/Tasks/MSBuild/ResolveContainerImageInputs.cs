using Livrable.Build;
using Livrable.Diagnostics;

namespace Livrable.MSBuild;

/// <summary>
/// The images' part of the image step's up-to-date inputs (<c>_LivrableCollectImageSources</c> in
/// Livrable.Sdk.targets): the tarballs and OCI layouts to watch, and the registry tags that make the step run on
/// every build, found by the build's own Dockerfile parser and image-source rules (<see cref="ImageInputs"/>). Thin:
/// parameters (ResolveContainerImageInputs.Parameters.cs) to <see cref="ImageInputsParameters"/>, one call. It reports
/// no error of its own: what the build would report (a Dockerfile that does not parse...) makes the step run, and
/// the build reports it at its place.
/// </summary>
public sealed partial class ResolveContainerImageInputs : IImageInputsTask
{
    /// <inheritdoc/>
    public override bool Execute()
    {
        ImageInputsResult result;
        try
        {
            result = ImageInputs.Resolve(ToParameters().ToRequest());
        }
        catch (LivrableException e)
        {
            result = new ImageInputsResult([], [], e.Message);
        }
        InputFiles = result.Files.ToArray();
        UnpinnedImages = result.Tags.Count > 0 ? string.Join(";", result.Tags) : null;
        Unresolved = result.Unresolved;
        Report();
        return true;
    }

    /// <summary>The parameters as plain values, items with their metadata (<see cref="ImageInputsTask"/>).</summary>
    internal ImageInputsParameters ToParameters() => this.ToImageInputs(ReferencedImages);
}
