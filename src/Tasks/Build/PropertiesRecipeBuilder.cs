using System.Runtime.CompilerServices;
using Livrable.Build.Cache;
using Livrable.Build.Dockerfile;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Registry;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Threading;

namespace Livrable.Build;

/// <summary>
/// Properties mode (no Dockerfile): the base image, the request's layers and its config changes, composed into one
/// image. <see cref="ImageBuilder"/> stores and writes what this returns, like any other recipe's image.
/// </summary>
internal static class PropertiesRecipeBuilder
{
    /// <summary>Properties mode: the base image, the request's layers (written concurrently) and config changes.</summary>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    public static async Task<BuiltRecipe> BuildAsync(ImageBuildRequest request, BlobStore store,
        Func<string, IImageSource> openImage, ILogger logger, CancellationToken cancellationToken)
    {
        int steps = 2 + request.Layers.Count;
        int step = 1;
        var source = openImage(request.BaseImage);
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        // Independent layers are written concurrently; each is one pass of tar, gzip and hashing. Nothing of them
        // depends on the base (its time, owners and compression are the request's), so they start with the base's
        // resolution, its registry round trips and the HTTP stack's start (0.07-0.18 s on bench workload a, issue 14),
        // instead of after it. A layer's time is from the start of them all to its end.
        var options = new LayerWriteOptions { Epoch = request.Created, Compression = request.LayerCompression };
        // The layers are build steps of the step cache, as a Dockerfile's are (Cache/LayerSpecStep).
        var cache = request.NoCache ? null : new StepCache(store);
        var layerTasks = request.Layers.Select(spec => Task.Run(() => LayerSpecStep.WriteAsync(spec, options, store, cache, stop.Token), stop.Token)).ToList();
        IImage baseImage;
        try
        {
            baseImage = await source.ResolveAsync(request.Platform, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // The base's error is the build's: the layers being written are stopped, waited for (nothing runs on after
            // the build) and whatever they end with is not reported.
            stop.Cancel();
            try { await Task.WhenAll(layerTasks).ConfigureAwait(false); } catch (Exception) { }
            throw;
        }
        logger.Info($"[{step++}/{steps}] FROM {source.Description} ({request.Platform}) {Units.Since(started)}");
        // The base's missing layers download while the new layers are written, when the destination reads them.
        var prefetch = Prefetch(request, baseImage, logger, stop.Token);

        var newLayers = new List<ILayer>();
        try
        {
            for (int i = 0; i < layerTasks.Count; i++)
            {
                var layer = await layerTasks[i].ConfigureAwait(false);
                string outcome = layer.FromCache ? " CACHED" : " " + Units.Since(started);
                logger.Info($"[{step++}/{steps}] {request.Layers[i].CreatedBy}: {layer.Descriptor.Digest.Hex[..12]} ({Units.Bytes(layer.Descriptor.Size)}){outcome}");
                newLayers.Add(layer);
            }
        }
        catch
        {
            // A failed layer fails the build: the download is not waited for.
            stop.Cancel();
            try { await prefetch.ConfigureAwait(false); } catch (OperationCanceledException) { } catch (LivrableException) { }
            throw;
        }

        await prefetch.ConfigureAwait(false);

        var config = Compose(request, baseImage, newLayers, options);
        return new BuiltRecipe(new BuiltImage(request.Format, config, [.. baseImage.Layers, .. newLayers]), step, steps, []);
    }

    /// <summary>
    /// The plan of a properties-mode build (<c>-t:ContainerPlan</c>, <c>-p:ContainerDryRun=true</c>): the base resolved
    /// (manifest and config), each layer's step key (<see cref="LayerSpecStep.KeyOf"/>, its inputs' status, nothing
    /// read) looked up in the step cache without marking it used; the lines to print, how many layers would be written,
    /// and, when every layer is recorded, the image a build composes from them (null otherwise). Nothing is written.
    /// </summary>
    public static async Task<(IReadOnlyList<string> Lines, int ToRun, BuiltImage? Image)> PlanAsync(ImageBuildRequest request, BlobStore store,
        Func<string, IImageSource> openImage, CancellationToken cancellationToken)
    {
        var source = openImage(request.BaseImage);
        var baseImage = await source.ResolveAsync(request.Platform, cancellationToken).ConfigureAwait(false);
        var options = new LayerWriteOptions { Epoch = request.Created, Compression = request.LayerCompression };
        var cache = new StepCache(store);
        var lines = new List<string> { PlanPrinter.Line(1, null, StepOutcome.Applied, $"FROM {source.Description} ({request.Platform}) {baseImage.Digest}") };
        var layers = new List<ILayer>();
        int toRun = 0;
        for (int i = 0; i < request.Layers.Count; i++)
        {
            var spec = request.Layers[i];
            string? key = LayerSpecStep.KeyOf(spec, options, out _);
            var cached = key is null || request.NoCache ? null : LayerSpecStep.Cached(key, cache, store, touch: false);
            if (cached is not null) layers.Add(cached);
            else toRun++;
            lines.Add(PlanPrinter.Line(i + 2, key, cached is null ? StepOutcome.WouldRun : StepOutcome.Cached, spec.CreatedBy));
        }
        if (toRun > 0) return (lines, toRun, null);
        var config = Compose(request, baseImage, layers, options);
        return (lines, 0, new BuiltImage(request.Format, config, [.. baseImage.Layers, .. layers]));
    }

    /// <summary>
    /// Starts fetching the base image's missing layers when the destination holds the base's bytes (an image tarball,
    /// an OCI layout, a local engine): the output would fetch them first thing anyway, and fetching them now overlaps
    /// the download (network, digest check, store write) with the compression of the new layers. A push needs none
    /// of them (the registry mounts or already has them), so nothing is fetched for it. A failure is the download's
    /// own error, as the output would have thrown it.
    /// </summary>
    private static Task Prefetch(ImageBuildRequest request, IImage baseImage, ILogger logger, CancellationToken cancellationToken)
    {
        if (request.Destination is null or RegistryDestination || baseImage is not RegistryImage registryImage)
            return Task.CompletedTask;
        return Task.Run(async () =>
        {
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            await registryImage.DownloadLayersAsync(cancellationToken).ConfigureAwait(false);
            logger.Detail($"  base layers in the store {Units.Since(started)}");
        }, cancellationToken);
    }

    /// <summary>The OCI annotation (here a label) for the base image's manifest digest.</summary>
    private const string BaseDigestLabelKey = "org.opencontainers.image.base.digest";

    /// <summary>The base config with the request's changes, the new layers and their history, at the build's epoch.</summary>
    private static ImageConfig Compose(ImageBuildRequest request, IImage baseImage, IReadOnlyList<ILayer> newLayers, LayerWriteOptions options)
    {
        var config = baseImage.Config.Clone();
        var c = request.Config;
        config.Created = request.Created;
        if (c.WorkingDirectory is not null) config.WorkingDir = c.WorkingDirectory;
        if (c.User is not null) config.User = c.User;
        else if (c.FollowDotNetConventions && DotNetImageConventions.User(baseImage.Config) is { } appUid) config.User = appUid;
        if (c.Entrypoint is not null)
        {
            config.Entrypoint = c.Entrypoint;
            // As Docker does: a new entrypoint resets the base's Cmd unless the request gives one.
            config.Cmd = c.Cmd;
        }
        else if (c.Cmd is not null)
        {
            config.Cmd = c.Cmd;
        }
        foreach (var (name, value) in c.Environment) config.SetEnv(name, value);
        foreach (var (key, value) in c.Labels) config.SetLabel(key, value);
        foreach (var port in c.Ports) config.AddExposedPort(port);
        if (c.FollowDotNetConventions)
            foreach (var port in DotNetImageConventions.Ports(baseImage.Config)) config.AddExposedPort(port);
        if (c.BaseDigestLabel && !c.Labels.Any(l => l.Key == BaseDigestLabelKey))
            config.SetLabel(BaseDigestLabelKey, baseImage.Digest.ToString());
        for (int i = 0; i < newLayers.Count; i++)
            config.AddLayer(newLayers[i].DiffId, LayerSpecStep.History(request.Layers[i], options));
        config.AddHistory(new HistoryEntry(request.Created, "Livrable: config", "livrable", EmptyLayer: true));
        return config;
    }
}
