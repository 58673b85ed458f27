namespace Livrable.Build;

public sealed partial class ImageBuildParameters
{
    /// <summary>
    /// The up-to-date inputs' request (<see cref="ImageInputs"/>) from the same parameters the build receives, mapped
    /// by the same rules (build arguments, named contexts, platforms), so the check and the build agree on the images.
    /// </summary>
    /// <exception cref="Diagnostics.LivrableException">An item or platform has the wrong shape, as in <see cref="ToRequest"/>.</exception>
    public ImageInputsRequest ToInputsRequest(IReadOnlyList<string> referencedImages, string baseDirectory)
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
