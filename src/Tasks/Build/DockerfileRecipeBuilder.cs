using System.Runtime.CompilerServices;
using Livrable.Build.Cache;
using Livrable.Build.Dockerfile;
using Livrable.Diagnostics;
using Livrable.Registry;
using Livrable.Sources;
using Livrable.Store;
using Livrable.SupplyChain;
using Livrable.Threading;

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
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    public static async Task<BuiltRecipe> BuildAsync(
        ImageBuildRequest request, DockerfileBuild dockerfile, BlobStore store, RegistryClient registries, Func<string, IImageSource> openImage,
        ILogger logger, CancellationToken cancellationToken, ResolvedInputs? resolved = null, WorkLimiter? work = null,
        Func<string, FileDigests?>? contextDigestsAhead = null, Action<IReadOnlyList<Livrable.Images.ILayer>>? targetLayersKnown = null)
    {
        var (document, options) = Prepare(request, dockerfile, store, openImage, logger);
        // Cache imports first: the records they bring are hits for this build's steps.
        foreach (string from in dockerfile.CacheFrom)
            await RegistryCache.ImportAsync(registries, ImageBuilder.CacheReference(from, "ContainerCacheFrom"), new StepCache(store), store, logger, cancellationToken).ConfigureAwait(false);
        using var session = new DockerfileBuildSession(document, options with
        {
            Downloaded = resolved is null ? null : resolved.Downloaded,
            Work = work ?? options.Work,
            ContextDigestsAhead = contextDigestsAhead,
            TargetLayersKnown = targetLayersKnown,
        });
        var result = await session.BuildAsync(cancellationToken).ConfigureAwait(false);
        return new BuiltRecipe(Compose(request, result), result.NextStep, result.TotalSteps, session.Records);
    }

    /// <summary>
    /// The plan of the build (<c>-t:ContainerPlan</c>): the same session as <see cref="BuildAsync"/>, with nothing run
    /// or written, and the image it makes when every step is cached (null otherwise), composed as a build composes it.
    /// ContainerCacheFrom is not imported: the plan answers from the state folder's records.
    /// </summary>
    public static async Task<(DockerfilePlan Plan, BuiltImage? Image)> PlanAsync(
        ImageBuildRequest request, DockerfileBuild dockerfile, BlobStore store, Func<string, IImageSource> openImage,
        ILogger logger, CancellationToken cancellationToken)
    {
        var (document, options) = Prepare(request, dockerfile, store, openImage, logger);
        using var session = new DockerfileBuildSession(document, options with { PlanOnly = true });
        var plan = await session.PlanAsync(cancellationToken).ConfigureAwait(false);
        return (plan, plan.Complete ? Compose(request, plan.Result) : null);
    }

    /// <summary>The image of a target stage: its config with the request's labels (as <c>docker build --label</c>), its layers.</summary>
    private static BuiltImage Compose(ImageBuildRequest request, DockerfileBuildResult result)
    {
        foreach (var (key, value) in request.Config.Labels) result.Config.SetLabel(key, value);
        return new BuiltImage(request.Format, result.Config, result.Layers);
    }

    /// <summary>
    /// The Dockerfile read and parsed (errors point into it by its full path) and the session's options. Read
    /// synchronously: a Dockerfile is a few kilobytes, and an asynchronous read of a file is a synchronous one on the
    /// thread pool on Linux, which cost every build a thread hop and the base library's async code for it, seven
    /// methods compiled at run time (bench/unchanged.sh).
    /// </summary>
    private static (Livrable.Dockerfile.DockerfileDocument, DockerfileBuildOptions) Prepare(
        ImageBuildRequest request, DockerfileBuild dockerfile, BlobStore store, Func<string, IImageSource> openImage,
        ILogger logger)
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
        string text = File.ReadAllText(path);
        var document = Livrable.Dockerfile.DockerfileParser.Parse(path, text, logger);
        return (document, new DockerfileBuildOptions
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
            DestinationHoldsBase = request.Destination is not (null or RegistryDestination),
            ContextDirectory = contextDirectory,
            DockerfilePath = path,
            Store = store,
            OpenImage = openImage,
            Logger = logger,
            TempDirectory = Path.Combine(store.TempDirectory, $"dockerfile-{Guid.NewGuid():N}"),
        });
    }
}
