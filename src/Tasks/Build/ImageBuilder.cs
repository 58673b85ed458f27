using System.Diagnostics;
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

namespace Livrable.Build;

/// <summary>
/// The engine's entry point for one image: resolve the base, write the new layers, compose the config and manifest,
/// and hand the image to its output. Each of these is a separate piece (Sources, Layers, Outputs); this class only
/// orders them and reports progress.
/// </summary>
public static class ImageBuilder
{
    /// <summary>Builds the image <paramref name="request"/> describes and writes it where it says.</summary>
    public static async Task<ImageBuildResult> BuildAsync(ImageBuildRequest request, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            return await BuildCoreAsync(request, logger, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e) when (DiskSpace.IsFull(e))
        {
            throw new LivrableException(DiagnosticCodes.DiskFull,
                $"The disk is full ({e.Message}). Free space where Livrable writes: the state folder '{request.StateDirectory}' " +
                $"(ContainerStateDirectory) and the output '{request.Destination?.Name}'. Nothing was left half-written.", inner: e);
        }
    }

    private static async Task<ImageBuildResult> BuildCoreAsync(ImageBuildRequest request, ILogger logger, CancellationToken cancellationToken)
    {
        Validate(request);
        var state = StateFolder.Open(request.StateDirectory);
        ImageBuildResult result;
        using (var lease = await state.AcquireLeaseAsync(logger, timeout: null, cancellationToken).ConfigureAwait(false))
        {
            result = await BuildInStoreAsync(request, new BlobStore(state, lease), logger, cancellationToken).ConfigureAwait(false);
        }
        // Once the lease is released: with no other build running, nothing in the folder is in use. The image is
        // built by now, so a failure here only leaves the folder over its cap until the next build.
        try
        {
            StatePruner.TryEnforceCap(state, request.StateMaxSize, logger);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.Detail($"  state folder: the size check failed ({e.Message}); the next build tries again");
        }
        return result;
    }

    private static async Task<ImageBuildResult> BuildInStoreAsync(ImageBuildRequest request, BlobStore store, ILogger logger, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var registries = new RegistryClient(new RegistryOptions { InsecureRegistries = request.InsecureRegistries, IdleTimeout = request.RegistryTimeout }, store, logger);

        // Every image the build resolves is recorded, for the metadata file and the provenance (SupplyChain/).
        var resolved = new ResolvedInputs();
        IImageSource OpenImage(string name) => resolved.Wrap(ImageSources.Open(name, store,
            reference => new RegistryImageSource(registries, reference.Registry, reference.Repository, reference.ManifestReference)), name);

        if (request.Dockerfile?.CacheTo is { } cacheTo) CacheReference(cacheTo, "ContainerCacheTo");
        if (request.IsMultiPlatform) return await BuildIndexAsync(request, store, registries, OpenImage, resolved, clock, logger, cancellationToken).ConfigureAwait(false);

        var (image, step, steps, records) = request.Dockerfile is { } dockerfile
            ? await DockerfileRecipeBuilder.BuildAsync(request, dockerfile, store, registries, OpenImage, logger, cancellationToken, resolved).ConfigureAwait(false)
            : await PropertiesRecipeBuilder.BuildAsync(request, store, OpenImage, logger, cancellationToken).ConfigureAwait(false);
        await store.PutAsync(image.ConfigBytes, cancellationToken).ConfigureAwait(false);
        await store.PutAsync(image.ManifestBytes, cancellationToken).ConfigureAwait(false);

        var (supplyChain, documents) = await SupplyChainSteps.PrepareAsync(request, [image], null, resolved, store, logger, cancellationToken).ConfigureAwait(false);
        var output = ChooseOutput(request, registries, logger, documents);
        logger.Info($"[{step}/{steps}] writing {request.Repository}:{string.Join(",", request.Tags)}");
        string destination = await output.WriteAsync(image, request.Repository, request.Tags, cancellationToken).ConfigureAwait(false);
        // Everything the image is made of was used now: least-recently-used eviction keeps it longest.
        foreach (var layer in image.Layers) store.Touch(layer.Descriptor.Digest);
        if (request.Dockerfile?.CacheTo is { } target)
            await RegistryCache.ExportAsync(registries, CacheReference(target, "ContainerCacheTo"), records, store, logger, cancellationToken).ConfigureAwait(false);
        await SupplyChainSteps.FinishAsync(supplyChain, documents, registries, logger, cancellationToken).ConfigureAwait(false);

        string reference = Reference(request);
        var counters = registries.Counters;
        logger.Info($"{Outcome(output)} {reference} {image.Digest} ({Units.Bytes(image.Size)}) -> {destination} in {clock.Elapsed.TotalSeconds:0.0}s{Transfer(request, counters)}");
        return new ImageBuildResult(reference, image.Digest, image.Size, destination)
        {
            BlobsUploaded = counters.BlobsUploaded,
            BytesUploaded = counters.BytesUploaded,
            ManifestBytes = image.ManifestBytes,
            ConfigBytes = image.ConfigBytes,
            MediaType = image.Manifest.MediaType,
        };
    }

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

    /// <summary>
    /// A multi-platform build: one image per platform (built here from the request, or read as it is from
    /// <see cref="ImageBuildRequest.PlatformImages"/>), one progress line each, then the index over them, written to
    /// the output (images first, then the index, then the tags).
    /// </summary>
    private static async Task<ImageBuildResult> BuildIndexAsync(ImageBuildRequest request, BlobStore store, RegistryClient registries,
        Func<string, IImageSource> openImage, ResolvedInputs resolved, Stopwatch clock, ILogger logger, CancellationToken cancellationToken)
    {
        var images = new List<IImage>();
        var records = new List<StepRecord>();
        var platforms = request.PlatformImages.Count > 0 ? request.PlatformImages.Select(p => p.Platform).ToList() : request.Platforms;
        if (platforms.Distinct().Count() != platforms.Count)
            throw new LivrableException(DiagnosticCodes.InvalidPlatformList,
                $"The platforms {string.Join(", ", platforms)} name one platform twice; give each once.");
        for (int i = 0; i < platforms.Count; i++)
        {
            var platform = platforms[i];
            IImage image;
            if (request.PlatformImages.Count > 0)
            {
                var source = openImage(request.PlatformImages[i].Image);
                image = await source.ResolveAsync(platform, cancellationToken).ConfigureAwait(false);
                if (!platform.Matches(image.Config.Platform))
                    throw new LivrableException(DiagnosticCodes.InvalidPlatformList,
                        $"The image {source.Description} is for {image.Config.Platform}, not {platform} as its runtime identifier says.");
            }
            else
            {
                logger.Info($"Building for {platform} ({i + 1}/{platforms.Count})");
                var single = request with { Platform = platform, Platforms = [] };
                var built = request.Dockerfile is { } dockerfile
                    ? await DockerfileRecipeBuilder.BuildAsync(single, dockerfile, store, registries, openImage, logger, cancellationToken, resolved).ConfigureAwait(false)
                    : await PropertiesRecipeBuilder.BuildAsync(single, store, openImage, logger, cancellationToken).ConfigureAwait(false);
                image = built.Image;
                records.AddRange(built.Records);
            }
            await store.PutAsync(image.ConfigBytes, cancellationToken).ConfigureAwait(false);
            await store.PutAsync(image.ManifestBytes, cancellationToken).ConfigureAwait(false);
            long size = image.ManifestBytes.Length + image.ConfigBytes.Length + image.Layers.Sum(l => l.Descriptor.Size);
            logger.Info($"Image {platform} {image.Digest} ({Units.Bytes(size)})");
            images.Add(image);
        }

        var index = new BuiltIndex(request.Format, images);
        await store.PutAsync(index.IndexBytes, cancellationToken).ConfigureAwait(false);
        var (supplyChain, documents) = await SupplyChainSteps.PrepareAsync(request, images, (index.Index.MediaType, index.IndexBytes), resolved, store, logger, cancellationToken).ConfigureAwait(false);
        var output = ChooseOutput(request, registries, logger, documents);
        logger.Info($"Writing {request.Repository}:{string.Join(",", request.Tags)} ({(index.Index.MediaType == MediaTypes.DockerManifestList ? "manifest list" : "index")} of {images.Count} images)");
        string destination = await output.WriteIndexAsync(index, request.Repository, request.Tags, cancellationToken).ConfigureAwait(false);
        if (request.Dockerfile?.CacheTo is { } target)
            await RegistryCache.ExportAsync(registries, CacheReference(target, "ContainerCacheTo"), records, store, logger, cancellationToken).ConfigureAwait(false);
        await SupplyChainSteps.FinishAsync(supplyChain, documents, registries, logger, cancellationToken).ConfigureAwait(false);

        string reference = Reference(request);
        var counters = registries.Counters;
        logger.Info($"{Outcome(output)} {reference} {index.Digest} ({images.Count} platforms: {string.Join(", ", platforms)}) -> {destination} in {clock.Elapsed.TotalSeconds:0.0}s{Transfer(request, counters)}");
        return new ImageBuildResult(reference, index.Digest, index.Size, destination)
        {
            BlobsUploaded = counters.BlobsUploaded,
            BytesUploaded = counters.BytesUploaded,
            PlatformDigests = images.Select((image, i) => (platforms[i], image.Digest)).ToList(),
            IndexBytes = index.IndexBytes,
            MediaType = index.Index.MediaType,
        };
    }

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
    }

    private static IImageOutput ChooseOutput(ImageBuildRequest request, RegistryClient registries, ILogger logger, SupplyChainDocuments documents)
    {
        return request.Destination switch
        {
            RegistryDestination r => new RegistryOutput(registries, r.Registry, logger) { Repush = request.NoCache },
            LocalEngineDestination e => new LocalEngineOutput(e.Engine, request.Created),
            LayoutDestination l => new LayoutOutput(l.Directory) { Attachments = SupplyChainSteps.Attachments(documents) },
            ArchiveDestination a => new ArchiveOutput(a.Path, request.Created) { Attachments = SupplyChainSteps.Attachments(documents), StateDirectory = request.StateDirectory, Rewrite = request.NoCache },
            _ => throw new LivrableException(DiagnosticCodes.InvalidPropertyValue, "The image has nowhere to go."),
        };
    }
}
