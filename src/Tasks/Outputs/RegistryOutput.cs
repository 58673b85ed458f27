using System.Globalization;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;

namespace Livrable.Outputs;

/// <summary>
/// Pushes an image to a registry: every blob first (the config and the layers,
/// <see cref="RegistryClient.MaxConcurrentBlobs"/> at a time, four by default, each skipped
/// when present and mounted when it came from another repository of the same registry), then the manifest by digest,
/// then one PUT per tag. So a tag never points at a manifest whose blobs are missing, and a failure part way leaves
/// at most unreferenced blobs.
/// </summary>
public sealed class RegistryOutput : IImageOutput
{
    private readonly RegistryClient _client;
    private readonly ILogger _logger;

    /// <summary>An output to <paramref name="registry"/> (<c>host[:port]</c>) through <paramref name="client"/>.</summary>
    public RegistryOutput(RegistryClient client, string registry, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        Endpoint = client.Resolve(registry);
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The registry pushed to.</summary>
    public RegistryEndpoint Endpoint { get; }

    /// <summary>Push even when every tag already names the digest (<c>ContainerNoCache</c>): blobs there are still skipped.</summary>
    public bool Repush { get; init; }

    /// <inheritdoc />
    /// <remarks>Every tag already named the digest (one manifest HEAD per tag): nothing was pushed.</remarks>
    public bool UpToDate { get; private set; }

    /// <summary>
    /// Whether every tag already names <paramref name="digest"/>: one manifest HEAD per tag, nothing else. Then the
    /// manifest and all it names are there (a registry accepts a manifest only once its blobs are), and a push would
    /// change nothing. Without tags there is nothing to ask by, and the push goes on (its blob HEADs skip what is there).
    /// </summary>
    private async Task<bool> AlreadyThereAsync(string registry, string repository, Digest digest, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        UpToDate = false;
        if (tags.Count == 0 || Repush) return false;
        foreach (string tag in tags.Distinct(StringComparer.Ordinal))
            if (await _client.HeadManifestAsync(registry, repository, tag, forPush: true, cancellationToken).ConfigureAwait(false) != digest) return false;
        string pushed = $"{registry}/{repository}@{digest}";
        _logger.Info($"{pushed} is already there as {string.Join(", ", tags)}: nothing pushed.");
        UpToDate = true;
        return true;
    }

    /// <inheritdoc />
    /// <returns><c>registry/repository@sha256:...</c>.</returns>
    /// <exception cref="LivrableException">
    /// LIV3009 when a blob upload fails; LIV3001, LIV3002, LIV3003, LIV3006 as the registry answers; LIV4001 when a layer's
    /// bytes do not match its descriptor.
    /// </exception>
    public async Task<string> WriteAsync(IImage image, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentException.ThrowIfNullOrEmpty(repository);
        ArgumentNullException.ThrowIfNull(tags);
        string registry = Endpoint.Registry;
        repository = Endpoint.NormalizeRepository(repository);
        if (await AlreadyThereAsync(registry, repository, image.Digest, tags, cancellationToken).ConfigureAwait(false))
            return $"{registry}/{repository}@{image.Digest}";
        await PushBlobsAsync(image, registry, repository, cancellationToken).ConfigureAwait(false);
        return await PutAndTagAsync(registry, repository, image.Digest, image.Manifest.MediaType, image.ManifestBytes, tags, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Puts a manifest or index by its digest, then once per tag; returns <c>registry/repository@digest</c>.</summary>
    private async Task<string> PutAndTagAsync(string registry, string repository, Digest expected, string mediaType, byte[] bytes,
        IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        var digest = await _client.PutManifestAsync(registry, repository, expected.ToString(), mediaType, bytes, cancellationToken).ConfigureAwait(false);
        foreach (var tag in tags)
        {
            await _client.PutManifestAsync(registry, repository, tag, mediaType, bytes, cancellationToken).ConfigureAwait(false);
            _logger.Detail($"Tagged {registry}/{repository}:{tag}.");
        }
        string pushed = $"{registry}/{repository}@{digest}";
        _logger.Info($"Pushed {pushed}{(tags.Count > 0 ? $" as {string.Join(", ", tags)}" : "")}.");
        return pushed;
    }

    /// <inheritdoc />
    /// <returns><c>registry/repository@sha256:...</c> of the index.</returns>
    /// <remarks>
    /// Each image's blobs, then its manifest by digest, then the index by digest, then one PUT of the index per tag:
    /// a tag never points at an index whose manifests or blobs are missing. Blobs two images share are pushed once
    /// (the second image finds them there).
    /// </remarks>
    /// <exception cref="LivrableException">As <see cref="WriteAsync"/>.</exception>
    public async Task<string> WriteIndexAsync(IImageIndex index, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(index);
        ArgumentException.ThrowIfNullOrEmpty(repository);
        ArgumentNullException.ThrowIfNull(tags);
        string registry = Endpoint.Registry;
        repository = Endpoint.NormalizeRepository(repository);
        if (await AlreadyThereAsync(registry, repository, index.Digest, tags, cancellationToken).ConfigureAwait(false))
            return $"{registry}/{repository}@{index.Digest}";
        foreach (var image in index.Images)
        {
            await PushBlobsAsync(image, registry, repository, cancellationToken).ConfigureAwait(false);
            await _client.PutManifestAsync(registry, repository, image.Digest.ToString(), image.Manifest.MediaType, image.ManifestBytes, cancellationToken).ConfigureAwait(false);
            _logger.Detail($"Pushed manifest {Short(image.Digest)} ({image.Config.Platform}).");
        }
        return await PutAndTagAsync(registry, repository, index.Digest, index.Index.MediaType, index.IndexBytes, tags, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The config and every layer of <paramref name="image"/>, up to <see cref="RegistryClient.MaxConcurrentBlobs"/> at once; the first failure stops the rest.</summary>
    private async Task PushBlobsAsync(IImage image, string registry, string repository, CancellationToken cancellationToken)
    {

        var pushes = new List<Func<Task>>();
        var configBytes = image.ConfigBytes;
        pushes.Add(() => PushBlobAsync(registry, repository, "config", image.Manifest.Config,
            _ => Task.FromResult<Stream>(new MemoryStream(configBytes, writable: false)), null, cancellationToken));
        var seen = new HashSet<Digest> { image.Manifest.Config.Digest };
        foreach (var layer in image.Layers)
        {
            // The same layer twice (an empty layer repeated) is pushed once.
            if (!seen.Add(layer.Descriptor.Digest)) continue;
            string? mountFrom = layer is RegistryLayer r && r.Image.Endpoint.Registry == registry && r.Image.Repository != repository ? r.Image.Repository : null;
            pushes.Add(() => PushBlobAsync(registry, repository, "layer", layer.Descriptor, layer.OpenAsync, mountFrom, cancellationToken));
        }

        using var slots = new SemaphoreSlim(_client.MaxConcurrentBlobs);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var tasks = pushes.Select(async push =>
        {
            await slots.WaitAsync(failed.Token).ConfigureAwait(false);
            try
            {
                await push().ConfigureAwait(false);
            }
            catch when (!failed.IsCancellationRequested)
            {
                failed.Cancel();
                throw;
            }
            finally
            {
                slots.Release();
            }
        }).ToList();
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // A blob failed and the others stopped waiting: report the failure, not the cancellation.
            throw tasks.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!).First();
        }

    }

    private async Task PushBlobAsync(string registry, string repository, string kind, Descriptor descriptor,
        Func<CancellationToken, Task<Stream>> open, string? mountFrom, CancellationToken cancellationToken)
    {
        var result = await _client.PushBlobAsync(registry, repository, descriptor, open, mountFrom, cancellationToken).ConfigureAwait(false);
        string name = $"{kind} {Short(descriptor.Digest)}";
        switch (result)
        {
            case BlobPushResult.Existed:
                _logger.Detail($"Skipped {name}: exists ({FormatSize(descriptor.Size)}).");
                break;
            case BlobPushResult.Mounted:
                _logger.Info($"Mounted {name} from {mountFrom} ({FormatSize(descriptor.Size)}).");
                break;
            default:
                if (kind == "layer") _logger.Info($"Pushed {name} ({FormatSize(descriptor.Size)}).");
                else _logger.Detail($"Pushed {name} ({FormatSize(descriptor.Size)}).");
                break;
        }
    }

    /// <summary><c>sha256:</c> and 12 hex digits, as the Docker CLI shortens them.</summary>
    internal static string Short(Digest digest) => $"{digest.Algorithm}:{digest.Hex[..12]}…";

    /// <summary>A size in decimal units, as registries and the Docker CLI show them: 532 B, 12.3 kB, 45.6 MB.</summary>
    internal static string FormatSize(long bytes)
    {
        string[] units = ["B", "kB", "MB", "GB", "TB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1000 && unit < units.Length - 1)
        {
            value /= 1000;
            unit++;
        }
        return unit == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }
}
