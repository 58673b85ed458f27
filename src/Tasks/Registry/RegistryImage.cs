using System.Runtime.CompilerServices;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Store;
using Livrable.Threading;

namespace Livrable.Registry;

/// <summary>
/// A single-platform image in a registry: manifest and config already fetched and verified, layers fetched into the
/// blob store the first time they are opened. It remembers where it lives, so that pushing it (or an image built on
/// it) to another repository of the same registry mounts its layers instead of uploading them.
/// </summary>
public sealed class RegistryImage : IImage
{
    private readonly RegistryClient _client;
    private readonly BlobStore _store;
    private readonly SemaphoreSlim _downloading = new(1, 1);

    internal RegistryImage(RegistryClient client, RegistryEndpoint endpoint, string repository, string reference, Digest? indexDigest,
        RegistryManifest manifest, ManifestAndConfig parts, BlobStore store)
    {
        _client = client;
        _store = store;
        Endpoint = endpoint;
        Repository = repository;
        Reference = reference;
        IndexDigest = indexDigest;
        ManifestBytes = manifest.Bytes;
        Digest = manifest.Digest;
        Manifest = parts.Manifest;
        Config = parts.Config;
        ConfigBytes = parts.ConfigBytes;
        Layers = parts.Layers((descriptor, diffId) => new RegistryLayer(client, this, descriptor, diffId, store));
    }

    /// <summary>The registry the image was pulled from.</summary>
    public RegistryEndpoint Endpoint { get; }

    /// <summary>The repository, as the registry names it (<c>library/alpine</c> on Docker Hub).</summary>
    public string Repository { get; }

    /// <summary>The tag or digest asked for.</summary>
    public string Reference { get; }

    /// <summary>The digest of the index the manifest was chosen from, when the reference named an index.</summary>
    public Digest? IndexDigest { get; }

    /// <inheritdoc />
    public ImageManifest Manifest { get; }

    /// <inheritdoc />
    public byte[] ManifestBytes { get; }

    /// <inheritdoc />
    public Digest Digest { get; }

    /// <inheritdoc />
    public ImageConfig Config { get; }

    /// <inheritdoc />
    public byte[] ConfigBytes { get; }

    /// <inheritdoc />
    public IReadOnlyList<ILayer> Layers { get; }

    /// <summary>
    /// Fetches every layer not yet in the blob store, <see cref="RegistryClient.MaxConcurrentBlobs"/> at a time; the
    /// first failure stops the others and is thrown. Layers already there (an earlier pull, another image sharing them)
    /// are not asked for.
    /// </summary>
    /// <exception cref="LivrableException">Those of <see cref="RegistryClient.DownloadBlobAsync"/>.</exception>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder))]
    public async Task DownloadLayersAsync(CancellationToken cancellationToken)
    {
        await _downloading.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var missing = Layers.Cast<RegistryLayer>().Where(l => !_store.Contains(l.Descriptor.Digest)).ToList();
            await Parallel.ForEachAsync(missing, new ParallelOptions
            {
                MaxDegreeOfParallelism = _client.MaxConcurrentBlobs,
                CancellationToken = cancellationToken,
            }, async (layer, ct) => await layer.DownloadAsync(ct).ConfigureAwait(false)).ConfigureAwait(false);
        }
        finally
        {
            _downloading.Release();
        }
    }

    /// <summary><c>registry/repository@digest</c>.</summary>
    public override string ToString() => $"{Endpoint.Registry}/{Repository}@{Digest}";
}
