using Livrable.Build.Dockerfile;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;
using Livrable.Sources;
using Livrable.Store;

namespace Livrable.Build;

/// <summary>
/// What <c>-t:ContainerPlan</c> (or <c>-p:ContainerDryRun=true</c>) learnt: the digest the build would give when every
/// step is cached (null when some would run), how many steps would run, and the lines printed.
/// </summary>
public sealed record ImagePlanResult(Digest? Digest, int StepsToRun, IReadOnlyList<string> Lines);

/// <summary>
/// The engine's entry point for a plan: the build the request describes, keyed and looked up in the state folder's
/// step cache without running anything: a Dockerfile's steps (<see cref="DockerfileRecipeBuilder.PlanAsync"/>), or
/// properties mode's layers (<see cref="PropertiesRecipeBuilder.PlanAsync"/>, keyed by their inputs' status). It
/// resolves base images (manifests and configs, never layers) and hashes the build context, as the keys of a build need; it writes
/// no image, layer, record or output, takes no lease, and saves only the context's digest index. When everything is
/// cached it ends with the digest of the image (of the index, for several platforms) the build would produce,
/// composed from the recorded outputs as a build composes it.
/// </summary>
public static class ImagePlanner
{
    /// <summary>Plans the build of <paramref name="request"/> and logs the plan; LIV2500 for an index of images published per platform.</summary>
    public static async Task<ImagePlanResult> PlanAsync(ImageBuildRequest request, ILogger logger, CancellationToken cancellationToken)
    {
        var recipe = request.Recipe;
        if (recipe is PrebuiltImagesRecipe)
            throw new LivrableException(DiagnosticCodes.PlanOfPrebuiltImages,
                "ContainerPlan shows the steps of one build; this image is an index of images published per runtime identifier, " +
                "each its own build: plan one of them (-p:RuntimeIdentifier=...). Nothing was built.");
        var store = new BlobStore(StateFolder.Open(request.StateDirectory), lease: null);
        using var registries = new RegistryClient(new RegistryOptions { InsecureRegistries = request.InsecureRegistries, IdleTimeout = request.RegistryTimeout }, store, logger);
        IImageSource OpenImage(string name) => ImageSources.Open(name, store,
            reference => new RegistryImageSource(registries, reference.Registry, reference.Repository, reference.ManifestReference));

        var platforms = request.IsMultiPlatform ? request.Platforms : [request.Platform];
        var lines = new List<string>();
        var images = new List<BuiltImage>();
        int toRun = 0;
        foreach (var platform in platforms)
        {
            var single = request with { Platform = platform, Platforms = [] };
            string what = recipe is DockerfileRecipe d ? d.Dockerfile.DockerfilePath : "properties: " + single.BaseImage;
            lines.Add($"Plan of {request.Repository}:{string.Join(",", request.Tags)} for {platform} ({what}):");
            BuiltImage? image;
            int stepsToRun;
            if (recipe is DockerfileRecipe dockerfile)
            {
                var (plan, built) = await DockerfileRecipeBuilder.PlanAsync(single, dockerfile.Dockerfile, store, OpenImage, logger, cancellationToken)
                    .ConfigureAwait(false);
                lines.AddRange(PlanPrinter.Lines(plan));
                (image, stepsToRun) = (built, plan.ToRun);
            }
            else
            {
                var (layerLines, layersToWrite, built) = await PropertiesRecipeBuilder.PlanAsync(single, store, OpenImage, cancellationToken).ConfigureAwait(false);
                lines.AddRange(layerLines);
                (image, stepsToRun) = (built, layersToWrite);
            }
            toRun += stepsToRun;
            if (image is not null) images.Add(image);
            if (request.IsMultiPlatform && image is not null) lines.Add($"  image {platform} when built: {image.Digest}");
        }
        Digest? digest = null;
        if (toRun > 0)
        {
            lines.Add($"{toRun} step{(toRun == 1 ? "" : "s")} would run; the image digest is known after they run. Nothing was run or written.");
        }
        else
        {
            digest = request.IsMultiPlatform ? new BuiltIndex(request.Format, images).Digest : images[0].Digest;
            lines.Add($"Every step is cached. Digest when built: {digest} (nothing was run or written)");
        }
        foreach (string line in lines) logger.Info(line);
        return new ImagePlanResult(digest, toRun, lines);
    }
}
