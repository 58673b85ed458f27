using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;
using Livrable.Store;

namespace Livrable.Build.Cache;

/// <summary>
/// The step cache carried through a registry (<c>ContainerCacheTo</c>, <c>ContainerCacheFrom</c>), in the spirit of
/// BuildKit's registry cache (<c>--cache-to type=registry,mode=max</c>): one OCI manifest with
/// <c>artifactType</c> <see cref="ArtifactType"/> (the OCI image spec's artifact guidance, manifest.md), whose config
/// blob lists the step records a build used or made and whose layers are the layer blobs those records name. A runner
/// that never built the project imports it: the records go to its step cache, the blobs to its store, and its build
/// hits without running or compressing anything (keys name nothing of the machine that made them).
/// </summary>
/// <remarks>
/// The manifest is reproducible (records sorted by key, layers by digest, no time), so exporting the same cache twice
/// pushes nothing new. An import trusts nothing it reads: the config and every blob are verified against their
/// descriptors, a record's key must be a sha256 in hex and every layer it names must be one of the manifest's.
/// </remarks>
internal static class RegistryCache
{
    /// <summary>The artifact type of an exported cache.</summary>
    public const string ArtifactType = "application/vnd.livrable.build-cache.v1";

    /// <summary>The media type of its config blob, the records: <c>{"records":[record, ...]}</c> (<see cref="StepRecord"/>).</summary>
    public const string ConfigMediaType = "application/vnd.livrable.build-cache.config.v1+json";

    /// <summary>The largest records blob an import reads.</summary>
    public const int MaxConfigSize = 16 * 1024 * 1024;

    /// <summary>Blob transfers in flight at once.</summary>
    private const int Concurrency = 4;

    /// <summary>The manifest and config of an export of <paramref name="records"/>.</summary>
    public static (byte[] Manifest, byte[] Config, IReadOnlyList<Descriptor> Layers) Compose(IEnumerable<StepRecord> records)
    {
        var sorted = records.OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        var list = new JsonArray();
        foreach (var record in sorted) list.Add(JsonNode.Parse(record.ToJson()));
        byte[] config = JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["records"] = list });
        var layers = sorted.SelectMany(r => r.Outputs).Select(o => o.Layer).OfType<Descriptor>()
            .GroupBy(d => d.Digest).Select(g => g.First()).OrderBy(d => d.Digest.ToString(), StringComparer.Ordinal).ToList();
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["artifactType"] = ArtifactType,
            ["config"] = DescriptorJson(new Descriptor(ConfigMediaType, Digest.Sha256(config), config.Length)),
            ["layers"] = new JsonArray(layers.Select(d => (JsonNode)DescriptorJson(d)).ToArray()),
        };
        return (JsonSerializer.SerializeToUtf8Bytes(manifest), config, layers);
    }

    /// <summary>
    /// Pushes the records and their layer blobs (from <paramref name="store"/>) to <paramref name="target"/>: blobs first,
    /// then the manifest by digest, then the tag. Returns the manifest digest.
    /// </summary>
    /// <exception cref="LivrableException">LIV4181 when a record's blob is no longer in the store; the registry's codes.</exception>
    public static async Task<Digest> ExportAsync(RegistryClient client, ImageReference target, IReadOnlyCollection<StepRecord> records,
        BlobStore store, ILogger logger, CancellationToken cancellationToken)
    {
        var (manifest, config, layers) = Compose(records);
        foreach (var layer in layers)
            if (!store.ContainsIntact(layer.Digest, layer.Size))
                throw new LivrableException(DiagnosticCodes.CacheExportFailed,
                    $"The cache cannot be exported to {target}: the layer {layer.Digest} of a step record is no longer in the state folder.");
        string registry = target.Registry, repository = target.Repository;
        var configDescriptor = new Descriptor(ConfigMediaType, Digest.Sha256(config), config.Length);
        var pushes = layers.Select(layer => (Func<Task>)(() => client.PushBlobAsync(registry, repository, layer,
                _ => Task.FromResult(store.Open(layer)), null, cancellationToken)))
            .Append(() => client.PushBlobAsync(registry, repository, configDescriptor,
                _ => Task.FromResult<Stream>(new MemoryStream(config, writable: false)), null, cancellationToken));
        await ForEachAsync(pushes).ConfigureAwait(false);
        var digest = await client.PutManifestAsync(registry, repository, Digest.Sha256(manifest).ToString(), MediaTypes.OciManifest, manifest, cancellationToken).ConfigureAwait(false);
        string tag = target.Tag ?? "buildcache";
        if (target.Digest is null) await client.PutManifestAsync(registry, repository, tag, MediaTypes.OciManifest, manifest, cancellationToken).ConfigureAwait(false);
        logger.Info($"Exported the build cache ({records.Count} steps, {layers.Count} layers) to {registry}/{repository}:{tag} {digest}");
        return digest;
    }

    /// <summary>
    /// Imports the cache <paramref name="source"/> names into <paramref name="cache"/> and <paramref name="store"/>;
    /// returns how many records were imported. A cache that does not exist yet (the first build) is a warning
    /// (LIV4182) and 0; so is one that cannot be read. A malformed one is LIV4180.
    /// </summary>
    public static async Task<int> ImportAsync(RegistryClient client, ImageReference source, StepCache cache, BlobStore store,
        ILogger logger, CancellationToken cancellationToken)
    {
        RegistryManifest fetched;
        try
        {
            fetched = await client.GetManifestAsync(source.Registry, source.Repository, source.ManifestReference, cancellationToken).ConfigureAwait(false);
        }
        catch (LivrableException e) when (e.Code != DiagnosticCodes.Cancelled)
        {
            logger.Warning(DiagnosticCodes.CacheImportSkipped, $"No build cache imported from {source}: {e.Message}");
            return 0;
        }
        var (config, layers) = ParseManifest(fetched.Bytes, source);
        byte[] configBytes;
        await using (var blob = await client.GetBlobAsync(source.Registry, source.Repository, config, cancellationToken).ConfigureAwait(false))
        {
            var buffer = new MemoryStream();
            await blob.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            configBytes = buffer.ToArray();
        }
        var records = ParseRecords(configBytes, layers, source);
        var needed = records.SelectMany(r => r.Outputs).Select(o => o.Layer).OfType<Descriptor>()
            .GroupBy(d => d.Digest).Select(g => g.First()).Where(d => !store.ContainsIntact(d.Digest, d.Size)).ToList();
        long bytes = needed.Sum(d => d.Size);
        await ForEachAsync(needed.Select(d => (Func<Task>)(() => client.DownloadBlobAsync(source.Registry, source.Repository, d, store, cancellationToken))))
            .ConfigureAwait(false);
        // Records only once their blobs are in the store: a record always names blobs that are there.
        foreach (var record in records) cache.Put(record);
        logger.Info($"Imported the build cache from {source} ({records.Count} steps, {needed.Count} layers fetched, {Units.Bytes(bytes)})");
        return records.Count;
    }

    /// <summary>The config descriptor and the layers of a cache manifest; LIV4180 when it is not one.</summary>
    internal static (Descriptor Config, IReadOnlyDictionary<Digest, Descriptor> Layers) ParseManifest(byte[] bytes, ImageReference source)
    {
        try
        {
            var manifest = ImageManifest.Parse(bytes, MediaTypes.OciManifest);
            using var doc = JsonDocument.Parse(bytes);
            string? artifactType = doc.RootElement.TryGetProperty("artifactType", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
            if (artifactType != ArtifactType || manifest.Config.MediaType != ConfigMediaType)
                throw Malformed(source, $"it is not a Livrable build cache (artifactType {artifactType ?? "none"}, config {manifest.Config.MediaType})");
            if (manifest.Config.Size > MaxConfigSize)
                throw Malformed(source, $"its records are {manifest.Config.Size} bytes, more than {MaxConfigSize}");
            var layers = new Dictionary<Digest, Descriptor>();
            foreach (var layer in manifest.Layers) layers[layer.Digest] = layer;
            return (manifest.Config, layers);
        }
        catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException
                                      || (e is LivrableException l && l.Code != DiagnosticCodes.CacheImportInvalid))
        {
            throw Malformed(source, e.Message);
        }
    }

    /// <summary>The records of a cache's config blob, each checked: a sha256 key, layers the manifest lists.</summary>
    internal static IReadOnlyList<StepRecord> ParseRecords(byte[] config, IReadOnlyDictionary<Digest, Descriptor> layers, ImageReference source)
    {
        try
        {
            using var doc = JsonDocument.Parse(config);
            var records = new List<StepRecord>();
            foreach (var element in doc.RootElement.GetProperty("records").EnumerateArray())
            {
                var record = StepRecord.Parse(JsonSerializer.SerializeToUtf8Bytes(element));
                if (record.Key.Length != 64 || !record.Key.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f'))
                    throw Malformed(source, $"the record key '{Truncate(record.Key)}' is not a sha256 in hex");
                foreach (var output in record.Outputs)
                    if (output.Layer is { } layer && (!layers.TryGetValue(layer.Digest, out var listed) || listed.Size != layer.Size || listed.MediaType != layer.MediaType))
                        throw Malformed(source, $"the record {record.Key[..12]} names the layer {layer.Digest}, which the cache's manifest does not list");
                records.Add(record);
            }
            return records;
        }
        catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException
                                      || (e is LivrableException l && l.Code != DiagnosticCodes.CacheImportInvalid))
        {
            throw Malformed(source, e.Message);
        }
    }

    private static LivrableException Malformed(ImageReference source, string why)
        => new(DiagnosticCodes.CacheImportInvalid, $"The build cache {source} cannot be imported: {why}.");

    private static string Truncate(string value) => value.Length <= 80 ? value : value[..80] + "...";

    private static JsonObject DescriptorJson(Descriptor d) => new()
    {
        ["mediaType"] = d.MediaType,
        ["digest"] = d.Digest.ToString(),
        ["size"] = d.Size,
    };

    /// <summary>Runs the transfers, <see cref="Concurrency"/> at a time; the first failure stops the others and is thrown.</summary>
    private static async Task ForEachAsync(IEnumerable<Func<Task>> work)
    {
        using var slots = new SemaphoreSlim(Concurrency);
        var tasks = work.Select(async item =>
        {
            await slots.WaitAsync().ConfigureAwait(false);
            try
            {
                await item().ConfigureAwait(false);
            }
            finally
            {
                slots.Release();
            }
        }).ToList();
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }
}
