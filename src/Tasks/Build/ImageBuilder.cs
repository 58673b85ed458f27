using System.Diagnostics;
using System.Runtime.CompilerServices;
using Livrable.Build.Cache;
using Livrable.Build.Dockerfile;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Outputs;
using Livrable.Registry;
using Livrable.Sources;
using Livrable.Store;
using Livrable.SupplyChain;
using Livrable.Threading;

namespace Livrable.Build;

/// <summary>
/// The engine's entry point for one image: resolve the base, write the new layers, compose the config and manifest,
/// and hand the image to its output. Each of these is a separate piece (Sources, Layers, Outputs); this class only
/// orders them and reports progress.
/// </summary>
public static class ImageBuilder
{
    /// <summary>
    /// Builds the image <paramref name="request"/> describes and writes it where it says. <paramref name="headStart"/>
    /// (started before the task, <see cref="ImageBuildHeadStart"/>) is used when it was made for this request's
    /// settings, and disposed in any case.
    /// </summary>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    public static async Task<ImageBuildResult> BuildAsync(ImageBuildRequest request, ILogger logger, CancellationToken cancellationToken,
        ImageBuildHeadStart? headStart = null)
    {
        try
        {
            return await BuildCoreAsync(request, logger, cancellationToken, headStart).ConfigureAwait(false);
        }
        catch (IOException e) when (DiskSpace.IsFull(e))
        {
            throw new LivrableException(DiagnosticCodes.DiskFull,
                $"The disk is full ({e.Message}). Free space where Livrable writes: the state folder '{request.StateDirectory}' " +
                $"(ContainerStateDirectory) and the output '{request.Destination?.Name}'. Nothing was left half-written.", inner: e);
        }
        finally
        {
            headStart?.Dispose();
        }
    }

    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    private static async Task<ImageBuildResult> BuildCoreAsync(ImageBuildRequest request, ILogger logger, CancellationToken cancellationToken,
        ImageBuildHeadStart? headStart)
    {
        Validate(request);
        var recipe = request.Recipe;
        // The fixed costs of every build, in the detailed log beside the steps' (issue 14): the state folder's lease (with
        // the clean-up of what stopped builds left) and, at the end, its size check. A head start took the lease before
        // the task, and made the registry client and started the base images' pulls with it.
        long phase = Stopwatch.GetTimestamp();
        var started = headStart is null ? null : await headStart.TakeAsync(request, logger, cancellationToken).ConfigureAwait(false);
        var state = started?.State ?? StateFolder.Open(request.StateDirectory);
        ImageBuildResult result;
        using (var lease = started?.Lease ?? await state.AcquireLeaseAsync(logger, timeout: null, cancellationToken).ConfigureAwait(false))
        {
            logger.Detail($"  state folder: lease {(started is null ? "" : "taken ahead, ")}{Units.Since(phase)}");
            using var registries = started?.Registries ?? NewRegistryClient(request.InsecureRegistries, request.RegistryTimeout, started?.Store ?? new BlobStore(state, lease), logger);
            try
            {
                result = await BuildInStoreAsync(request, recipe, registries.Store, registries, headStart, logger, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                started?.Stop?.Dispose();
            }
        }
        // Once the lease is released: with no other build running, nothing in the folder is in use. The image is
        // built by now, so a failure here only leaves the folder over its cap until the next build.
        try
        {
            phase = Stopwatch.GetTimestamp();
            StatePruner.TryEnforceCap(state, request.StateMaxSize, logger);
            logger.Detail($"  state folder: size check {Units.Since(phase)}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.Detail($"  state folder: the size check failed ({e.Message}); the next build tries again");
        }
        return result;
    }

    /// <summary>
    /// A build's registry client: the insecure registries and idle timeout of its request, the process environment's
    /// credentials, documents kept in the store. Written once, for the build and its head start (<see cref="ImageBuildHeadStart"/>).
    /// </summary>
    internal static RegistryClient NewRegistryClient(IReadOnlyList<string> insecureRegistries, TimeSpan timeout, BlobStore store, ILogger logger)
        => new(new RegistryOptions { InsecureRegistries = insecureRegistries, IdleTimeout = timeout, KeepDocuments = true }, store, logger);

    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    private static async Task<ImageBuildResult> BuildInStoreAsync(ImageBuildRequest request, Recipe recipe, BlobStore store, RegistryClient registries,
        ImageBuildHeadStart? headStart, ILogger logger, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();

        // Every image the build resolves is recorded, for the metadata file and the provenance (SupplyChain/).
        var resolved = new ResolvedInputs();
        IImageSource OpenImage(string name) => resolved.Wrap(ImageSources.Open(name, store,
            reference => new RegistryImageSource(registries, reference.Registry, reference.Repository, reference.ManifestReference)), name);

        if (recipe is DockerfileRecipe { Dockerfile.CacheTo: { } cacheTo }) CacheReference(cacheTo, "ContainerCacheTo");
        // A tarball's write starts with the image's first layers while its last steps run (Outputs/ArchivePrefix);
        // whatever ends the build, its temporary file is renamed into place by the output or deleted here.
        await using var early = request.Destination is ArchiveDestination archive && recipe is DockerfileRecipe
            ? new EarlyArchive(archive, request, logger, cancellationToken)
            : null;
        var context = new PipelineContext(request, recipe, store, registries, OpenImage, resolved, new WorkLimiter(request.MaxParallelism), logger)
        {
            ContextDigestsAhead = headStart is null ? null : headStart.TakeContextDigests,
            Early = early,
        };
        var product = request.IsMultiPlatform
            ? await BuildIndexAsync(context, cancellationToken).ConfigureAwait(false)
            : await BuildImageAsync(context, cancellationToken).ConfigureAwait(false);
        return await FinishAsync(context, product, clock, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The early start of an image tarball's write (<see cref="ArchivePrefix"/>): started with the target stage's layers
    /// when its first step has to run (in a multi-platform build, the first platform's: its layers open the tarball),
    /// handed to the <see cref="ArchiveOutput"/>, and stopped and deleted at the end if the output did not take it.
    /// </summary>
    private sealed class EarlyArchive(ArchiveDestination destination, ImageBuildRequest request, ILogger logger, CancellationToken cancellationToken)
        : IAsyncDisposable
    {
        private ArchivePrefix? _prefix;

        /// <summary>The started write, or null.</summary>
        public ArchivePrefix? Prefix => Volatile.Read(ref _prefix);

        /// <summary>Starts the write with <paramref name="layers"/> (once; none: nothing to start).</summary>
        public void Start(IReadOnlyList<ILayer> layers)
        {
            if (layers.Count == 0 || Prefix is not null) return;
            var prefix = ArchivePrefix.Start(destination.Path, request.Created, request.StateDirectory, request.NoCache, layers, cancellationToken);
            if (Interlocked.CompareExchange(ref _prefix, prefix, null) is not null)
            {
                _ = prefix.DisposeAsync().AsTask();
                return;
            }
            logger.Detail($"  output: the tarball's first {layers.Count} layers written while the steps run");
        }

        public ValueTask DisposeAsync() => Prefix?.DisposeAsync() ?? ValueTask.CompletedTask;
    }

    /// <summary>What every part of one build shares: the request, its recipe (decided once) and the engine's services.</summary>
    private sealed record PipelineContext(ImageBuildRequest Request, Recipe Recipe, BlobStore Store, RegistryClient Registries,
        Func<string, IImageSource> OpenImage, ResolvedInputs Resolved, WorkLimiter Work, ILogger Logger)
    {
        /// <summary>The build context's digest index read by a head start, by context root (<see cref="ImageBuildHeadStart.TakeContextDigests"/>).</summary>
        public Func<string, FileDigests?>? ContextDigestsAhead { get; init; }

        /// <summary>The early start of the tarball's write, when the destination is one (<see cref="EarlyArchive"/>).</summary>
        public EarlyArchive? Early { get; init; }
    }

    /// <summary>
    /// What the recipe made, ready for the pipeline's one ending: one image (<see cref="Index"/> null) or one image per
    /// platform and the index over them; the step cache records used (what ContainerCacheTo exports); the progress
    /// line before writing.
    /// </summary>
    private sealed record Product(IReadOnlyList<IImage> Images, BuiltIndex? Index, IReadOnlyList<Platform> Platforms,
        IReadOnlyCollection<StepRecord> Records, string WritingLine);

    /// <summary>One image, from the request's recipe for its one platform.</summary>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    private static async Task<Product> BuildImageAsync(PipelineContext context, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var built = await BuildRecipeAsync(context, request, context.Logger, opensTarball: true, cancellationToken).ConfigureAwait(false);
        var image = built.Image;
        await context.Store.PutAsync(image.ConfigBytes, cancellationToken).ConfigureAwait(false);
        await context.Store.PutAsync(image.ManifestBytes, cancellationToken).ConfigureAwait(false);
        return new Product([image], null, [request.Platform], built.Records,
            $"[{built.NextStep}/{built.TotalSteps}] writing {request.Repository}:{string.Join(",", request.Tags)}");
    }

    /// <summary>
    /// The recipe's builder for <paramref name="request"/>'s platform. Properties mode's work (its base resolution
    /// and layer writes) is one piece of work for the limiter; a Dockerfile build takes a slot for each step it runs.
    /// </summary>
    /// <paramref name="opensTarball"/>: this image's layers come first in the tarball (the image, or an index's first),
    /// so its target stage starts the tarball's write (<see cref="EarlyArchive"/>).
    private static Task<BuiltRecipe> BuildRecipeAsync(PipelineContext context, ImageBuildRequest request, ILogger logger, bool opensTarball,
        CancellationToken cancellationToken)
        => context.Recipe switch
        {
            DockerfileRecipe d => DockerfileRecipeBuilder.BuildAsync(request, d.Dockerfile, context.Store, context.Registries, context.OpenImage,
                logger, cancellationToken, context.Resolved, context.Work, context.ContextDigestsAhead,
                opensTarball && context.Early is { } early ? early.Start : null),
            PropertiesRecipe => context.Work.RunAsync(() => PropertiesRecipeBuilder.BuildAsync(request, context.Store, context.OpenImage, logger, cancellationToken), cancellationToken),
            _ => throw new LivrableException(DiagnosticCodes.Internal, $"The recipe {context.Recipe.GetType().Name} makes no single image."),
        };

    /// <summary>
    /// A multi-platform build: one image per platform, built at the same time up to the request's bound
    /// (<see cref="ImageBuildRequest.MaxParallelism"/>), each platform's progress lines prefixed with it; or read as
    /// they are (<see cref="PrebuiltImagesRecipe"/>). Then one line per image and the index over them, in the order
    /// asked, so the bytes do not depend on which platform finished first. Of several failures the first platform's
    /// in that order is reported, whatever failed first.
    /// </summary>
    private static async Task<Product> BuildIndexAsync(PipelineContext context, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var platforms = context.Recipe is PrebuiltImagesRecipe prebuilt ? prebuilt.Images.Select(p => p.Platform).ToList() : request.Platforms;
        if (platforms.Distinct().Count() != platforms.Count)
            throw new LivrableException(DiagnosticCodes.InvalidPlatformList,
                $"The platforms {string.Join(", ", platforms)} name one platform twice; give each once.");

        var tasks = new List<Task<(IImage Image, IReadOnlyCollection<StepRecord> Records)>>();
        for (int i = 0; i < platforms.Count; i++)
        {
            int index = i;
            tasks.Add(Task.Run(() => BuildPlatformAsync(context, platforms, index, cancellationToken), cancellationToken));
        }
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch when (tasks.FirstOrDefault(t => t.IsFaulted || t.IsCanceled) is { } first)
        {
            await first.ConfigureAwait(false);
            throw;
        }

        var images = new List<IImage>();
        var records = new List<StepRecord>();
        for (int i = 0; i < platforms.Count; i++)
        {
            var (image, used) = tasks[i].Result;
            await context.Store.PutAsync(image.ConfigBytes, cancellationToken).ConfigureAwait(false);
            await context.Store.PutAsync(image.ManifestBytes, cancellationToken).ConfigureAwait(false);
            context.Logger.Info($"Image {platforms[i]} {image.Digest} ({Units.Bytes(SizeOf(image))})");
            images.Add(image);
            records.AddRange(used);
        }
        var built = new BuiltIndex(request.Format, images);
        await context.Store.PutAsync(built.IndexBytes, cancellationToken).ConfigureAwait(false);
        string kind = built.Index.MediaType == MediaTypes.DockerManifestList ? "manifest list" : "index";
        return new Product(images, built, platforms, records,
            $"Writing {request.Repository}:{string.Join(",", request.Tags)} ({kind} of {images.Count} images)");
    }

    /// <summary>Platform <paramref name="i"/>'s image: read as it is, or built from the recipe with its progress lines prefixed.</summary>
    private static async Task<(IImage Image, IReadOnlyCollection<StepRecord> Records)> BuildPlatformAsync(PipelineContext context,
        IReadOnlyList<Platform> platforms, int i, CancellationToken cancellationToken)
    {
        var platform = platforms[i];
        if (context.Recipe is PrebuiltImagesRecipe prebuilt)
        {
            var source = context.OpenImage(prebuilt.Images[i].Image);
            var image = await source.ResolveAsync(platform, cancellationToken).ConfigureAwait(false);
            if (!platform.Matches(image.Config.Platform))
                throw new LivrableException(DiagnosticCodes.InvalidPlatformList,
                    $"The image {source.Description} is for {image.Config.Platform}, not {platform} as its runtime identifier says.");
            return (image, []);
        }
        context.Logger.Info($"Building for {platform} ({i + 1}/{platforms.Count})");
        var single = context.Request with { Platform = platform, Platforms = [] };
        var built = await BuildRecipeAsync(context, single, new PlatformLogger(context.Logger, platform), opensTarball: i == 0, cancellationToken).ConfigureAwait(false);
        return (built.Image, built.Records);
    }

    /// <summary>
    /// The one ending of every build, one image or an index: the supply-chain documents, the output (chosen from the
    /// destination), the writing, the cache export, attaching and signing, and the final line.
    /// </summary>
    private static async Task<ImageBuildResult> FinishAsync(PipelineContext context, Product product, Stopwatch clock, CancellationToken cancellationToken)
    {
        var (request, registries, logger, store) = (context.Request, context.Registries, context.Logger, context.Store);
        var index = product.Index is { } i ? (i.Index.MediaType, i.IndexBytes) : ((string, byte[])?)null;
        var (supplyChain, documents) = await SupplyChainSteps.PrepareAsync(request, context.Recipe, product.Images, index, context.Resolved, store, logger, cancellationToken).ConfigureAwait(false);
        var output = ChooseOutput(request, registries, logger, documents, context.Early);
        logger.Info(product.WritingLine);
        long writing = Stopwatch.GetTimestamp();
        var cpu = Units.Cpu();
        string destination = product.Index is { } built
            ? await output.WriteIndexAsync(built, request.Repository, request.Tags, cancellationToken).ConfigureAwait(false)
            : await output.WriteAsync(product.Images[0], request.Repository, request.Tags, cancellationToken).ConfigureAwait(false);
        logger.Detail($"  output: {output.GetType().Name} ({Units.CpuSince(cpu)}) {Units.Since(writing)}"
            + (output is ArchiveOutput { LayersWrittenEarly: > 0 } a ? $", {a.LayersWrittenEarly} layers written while the steps ran (waited {a.EarlyWait.TotalSeconds:0.00}s for them)" : ""));
        // Everything the image is made of was used now: least-recently-used eviction keeps it longest.
        foreach (var layer in product.Images.SelectMany(image => image.Layers)) store.Touch(layer.Descriptor.Digest);
        if (context.Recipe is DockerfileRecipe { Dockerfile.CacheTo: { } target })
            await RegistryCache.ExportAsync(registries, CacheReference(target, "ContainerCacheTo"), product.Records, store, logger, cancellationToken).ConfigureAwait(false);
        await SupplyChainSteps.FinishAsync(supplyChain, documents, registries, logger, cancellationToken).ConfigureAwait(false);

        string reference = Reference(request);
        var counters = registries.Counters;
        var (digest, size, what) = product.Index is { } written
            ? (written.Digest, written.Size, $"{product.Images.Count} platforms: {string.Join(", ", product.Platforms)}")
            : (product.Images[0].Digest, SizeOf(product.Images[0]), Units.Bytes(SizeOf(product.Images[0])));
        logger.Info($"{Outcome(output)} {reference} {digest} ({what}) -> {destination} in {clock.Elapsed.TotalSeconds:0.0}s{Transfer(request, counters)}");
        var one = product.Index is null ? product.Images[0] : null;
        return new ImageBuildResult(reference, digest, size, destination)
        {
            BlobsUploaded = counters.BlobsUploaded,
            BytesUploaded = counters.BytesUploaded,
            PlatformDigests = product.Index is null ? [] : product.Images.Select((image, n) => (product.Platforms[n], image.Digest)).ToList(),
            ManifestBytes = one?.ManifestBytes,
            ConfigBytes = one?.ConfigBytes,
            IndexBytes = product.Index?.IndexBytes,
            MediaType = product.Index?.Index.MediaType ?? one?.Manifest.MediaType,
        };
    }

    /// <summary>An image's size as the progress lines give it: its manifest, config and layers (compressed).</summary>
    private static long SizeOf(IImage image) => image.ManifestBytes.Length + image.ConfigBytes.Length + image.Layers.Sum(l => l.Descriptor.Size);

    /// <summary>
    /// The final line's first words: "Built", or "Up to date:" when the destination already held the result and
    /// nothing was written (the words the targets print when they skip the step), before the same reference, digest
    /// and destination.
    /// </summary>
    private static string Outcome(IImageOutput output) => output.UpToDate ? "Up to date:" : "Built";

    private static string Reference(ImageBuildRequest request) => request.Registry is null
        ? $"{request.Repository}:{request.Tags[0]}"
        : $"{request.Registry}/{request.Repository}:{request.Tags[0]}";

    private static string Transfer(ImageBuildRequest request, RegistryCounters counters) => request.Registry is null ? ""
        : $", uploaded {counters.BlobsUploaded} blobs ({Units.Bytes(counters.BytesUploaded)}), {counters.BlobsExisting + counters.BlobsMounted} already there";

    /// <summary>A cache reference (<c>registry/repository[:tag]</c>); LIV4181 when it does not name a registry's.</summary>
    internal static ImageReference CacheReference(string value, string property)
    {
        if (!ImageReference.TryParse(value, out var reference, out string? error) || reference is null)
            throw new LivrableException(DiagnosticCodes.CacheExportFailed, $"{property} '{value}' is not an image reference: {error}");
        return reference;
    }

    private static void Validate(ImageBuildRequest request)
    {
        ImageReference.ValidateRepository(request.Repository);
        if (request.Tags.Count == 0)
            throw new LivrableException(DiagnosticCodes.InvalidTag, "No tag was given; set ContainerTag or ContainerImageTags.");
        foreach (var tag in request.Tags) ImageReference.ValidateTag(tag);
        if (request.Destination is null)
            throw new LivrableException(DiagnosticCodes.InvalidPropertyValue,
                "The image has nowhere to go: set ContainerRegistry, LocalRegistry, ContainerOciLayoutPath or ContainerArchiveOutputPath.");
        if (request.MaxParallelism < 1)
            throw new LivrableException(DiagnosticCodes.InvalidMaxParallelism,
                $"ContainerMaxParallelism is {request.MaxParallelism}: give a whole number of at least 1 (1 builds one step at a time).");
    }

    private static IImageOutput ChooseOutput(ImageBuildRequest request, RegistryClient registries, ILogger logger, SupplyChainDocuments documents,
        EarlyArchive? early)
    {
        return request.Destination switch
        {
            RegistryDestination r => new RegistryOutput(registries, r.Registry, logger) { Repush = request.NoCache },
            LocalEngineDestination e => new LocalEngineOutput(e.Engine, request.Created),
            LayoutDestination l => new LayoutOutput(l.Directory) { Attachments = SupplyChainSteps.Attachments(documents) },
            ArchiveDestination a => new ArchiveOutput(a.Path, request.Created)
            {
                Attachments = SupplyChainSteps.Attachments(documents), StateDirectory = request.StateDirectory, Rewrite = request.NoCache,
                Prefix = early?.Prefix,
            },
            _ => throw new LivrableException(DiagnosticCodes.InvalidPropertyValue, "The image has nowhere to go."),
        };
    }
}
