using Livrable.Build.Cache;
using Livrable.Build.Dockerfile;
using Livrable.Diagnostics;
using Livrable.Registry;
using Livrable.Sources;
using Livrable.Store;
using Livrable.SupplyChain;

namespace Livrable.Build;

/// <summary>
/// Dockerfile mode: the request's Dockerfile read and parsed, the cache imported, the target stage built by a
/// <see cref="DockerfileBuildSession"/>. <see cref="ImageBuilder"/> stores and writes what this returns.
/// </summary>
internal static class DockerfileRecipeBuilder
{
    /// <summary>
    /// Dockerfile mode: parse the Dockerfile (errors point into it by its full path), build the target stage, add the
    /// request's labels as <c>docker build --label</c> does.
    /// </summary>
    public static async Task<BuiltRecipe> BuildAsync(
        ImageBuildRequest request, DockerfileBuild dockerfile, BlobStore store, RegistryClient registries, Func<string, IImageSource> openImage,
        ILogger logger, CancellationToken cancellationToken, ResolvedInputs? resolved = null, WorkLimiter? work = null)
    {
        string path = Path.GetFullPath(dockerfile.DockerfilePath);
        if (Directory.Exists(path))
            throw new LivrableException(DiagnosticCodes.DockerfileIsFolder,
                $"ContainerDockerfile '{path}' is a folder: name the Dockerfile itself (such as '{Path.Combine(path, "Dockerfile")}'); the folder the build reads files from is ContainerBuildContext.");
        if (!File.Exists(path))
            throw new LivrableException(DiagnosticCodes.DockerfileNotFound, $"The Dockerfile '{path}' does not exist (ContainerDockerfile).");
        string contextDirectory = Path.GetFullPath(dockerfile.ContextDirectory);
        if (!Directory.Exists(contextDirectory))
            throw new LivrableException(DiagnosticCodes.BuildContextNotFound, $"The build context folder '{contextDirectory}' does not exist (ContainerBuildContext).");
        string text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        var document = Livrable.Dockerfile.DockerfileParser.Parse(path, text, logger);
        // Cache imports first: the records they bring are hits for this build's steps.
        foreach (string from in dockerfile.CacheFrom)
            await RegistryCache.ImportAsync(registries, ImageBuilder.CacheReference(from, "ContainerCacheFrom"), new StepCache(store), store, logger, cancellationToken).ConfigureAwait(false);
        using var session = new DockerfileBuildSession(document, new DockerfileBuildOptions
        {
            TargetPlatform = request.Platform,
            Epoch = request.Created,
            LayerCompression = request.LayerCompression,
            BuildArgs = dockerfile.BuildArgs,
            NamedContexts = dockerfile.NamedContexts,
            Target = dockerfile.Target,
            RuntimePath = dockerfile.RuntimePath,
            Secrets = dockerfile.Secrets,
            NoCache = request.NoCache,
            ContextDirectory = contextDirectory,
            DockerfilePath = path,
            Store = store,
            OpenImage = openImage,
            Downloaded = resolved is null ? null : resolved.Downloaded,
            Logger = logger,
            Work = work ?? new WorkLimiter(WorkLimiter.DefaultBound),
            TempDirectory = Path.Combine(store.TempDirectory, $"dockerfile-{Guid.NewGuid():N}"),
        });
        var result = await session.BuildAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (key, value) in request.Config.Labels) result.Config.SetLabel(key, value);
        return new BuiltRecipe(new BuiltImage(request.Format, result.Config, result.Layers), result.NextStep, result.TotalSteps, session.Records);
    }
}
