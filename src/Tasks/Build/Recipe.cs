using Livrable.Diagnostics;
using Livrable.Layers;

namespace Livrable.Build;

/// <summary>
/// What an image is made from, decided once from the request (<see cref="ImageBuildRequest.Recipe"/>): project
/// properties (a base image, layers, config changes), a Dockerfile, or images already built per platform. A request
/// fills the fields of one of them; one that fills two is LIV2510 rather than having some of its values ignored.
/// </summary>
public abstract record Recipe
{
    private protected Recipe()
    {
    }

    /// <summary>The recipe <paramref name="request"/>'s fields describe; LIV2510 when they describe two.</summary>
    /// <exception cref="LivrableException">LIV2510: the request mixes the fields of two recipes.</exception>
    public static Recipe Of(ImageBuildRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        // The properties recipe's fields that differ from their defaults: what another recipe would ignore.
        var properties = new List<string>();
        if (request.BaseImage != "scratch") properties.Add($"BaseImage ({request.BaseImage})");
        if (request.Layers.Count > 0) properties.Add($"Layers ({request.Layers.Count})");
        var c = request.Config;
        if (c.WorkingDirectory is not null || c.User is not null || c.Entrypoint is not null || c.Cmd is not null || c.Environment.Count > 0
            || c.Ports.Count > 0 || c.FollowDotNetConventions || c.BaseDigestLabel)
            properties.Add("Config (other than labels)");

        if (request.PlatformImages.Count > 0)
        {
            var ignored = new List<string>(properties);
            if (request.Config.Labels.Count > 0) ignored.Add("Config.Labels");
            if (request.Dockerfile is not null) ignored.Add($"Dockerfile ({request.Dockerfile.DockerfilePath})");
            if (request.Platforms.Count > 0) ignored.Add("Platforms (the images' platforms are the index's)");
            if (ignored.Count > 0) throw Mixed("images already built per platform (PlatformImages, ContainerRuntimeIdentifiers)", ignored);
            return new PrebuiltImagesRecipe(request.PlatformImages);
        }
        if (request.Dockerfile is { } dockerfile)
        {
            if (properties.Count > 0) throw Mixed($"the Dockerfile {dockerfile.DockerfilePath}", properties);
            return new DockerfileRecipe(dockerfile, request.Config.Labels);
        }
        return new PropertiesRecipe(request.BaseImage, request.Layers, request.Config);
    }

    private static LivrableException Mixed(string recipe, IReadOnlyList<string> ignored)
        => new(DiagnosticCodes.MixedRecipe,
            $"The image is made from {recipe}, so {string.Join(", ", ignored)} would be ignored: give the values of one recipe only " +
            "(project properties, a Dockerfile, or images already built per platform).");
}

/// <summary>Properties mode: <paramref name="BaseImage"/>, then <paramref name="Layers"/>, with <paramref name="Config"/>'s changes.</summary>
public sealed record PropertiesRecipe(string BaseImage, IReadOnlyList<LayerSpec> Layers, ConfigChanges Config) : Recipe;

/// <summary>
/// Dockerfile mode: the target stage of <paramref name="Dockerfile"/>, with <paramref name="Labels"/> added as
/// <c>docker build --label</c> adds them (the only config change this recipe takes).
/// </summary>
public sealed record DockerfileRecipe(DockerfileBuild Dockerfile, IReadOnlyList<KeyValuePair<string, string>> Labels) : Recipe;

/// <summary>
/// Images already built, one per platform (a publish per runtime identifier), listed by the index as they are: no
/// layer or config change is added.
/// </summary>
public sealed record PrebuiltImagesRecipe(IReadOnlyList<PlatformImage> Images) : Recipe;
