using Livrable.Images;
using Livrable.Store;

namespace Livrable.Registry;

/// <summary>
/// A layer of a <see cref="RegistryImage"/>. Opening it serves the blob store's copy, downloading it there first when
/// missing; the store keeps the bytes only once their digest is checked, so a corrupt download is never cached.
/// Concurrent opens download once. The first open of a layer fetches every missing layer of its image, several at once
/// (<see cref="RegistryImage.DownloadLayersAsync"/>): whoever reads one layer of a base image (a tarball output, a RUN
/// root file system) reads them all, and one at a time would leave the link idle between them.
/// </summary>
public sealed class RegistryLayer : ILayer
{
    private readonly RegistryClient _client;
    private readonly BlobStore _store;
    private readonly SemaphoreSlim _download = new(1, 1);

    internal RegistryLayer(RegistryClient client, RegistryImage image, Descriptor descriptor, Digest diffId, BlobStore store)
    {
        _client = client;
        _store = store;
        Image = image;
        Descriptor = descriptor;
        DiffId = diffId;
    }

    /// <summary>The image this layer belongs to, whose registry and repository hold the blob.</summary>
    public RegistryImage Image { get; }

    /// <inheritdoc />
    public Descriptor Descriptor { get; }

    /// <inheritdoc />
    public Digest DiffId { get; }

    /// <inheritdoc />
    public async Task<Stream> OpenAsync(CancellationToken cancellationToken)
    {
        if (!_store.Contains(Descriptor.Digest)) await Image.DownloadLayersAsync(cancellationToken).ConfigureAwait(false);
        // A stored copy that fails its digest is evicted by the check, and fetched again now.
        if (!_store.ContainsIntact(Descriptor.Digest, Descriptor.Size)) await DownloadAsync(cancellationToken).ConfigureAwait(false);
        return _store.Open(Descriptor);
    }

    /// <summary>Fetches this layer into the blob store unless it is there; concurrent calls fetch once.</summary>
    internal async Task DownloadAsync(CancellationToken cancellationToken)
    {
        await _download.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _client.DownloadBlobAsync(Image.Endpoint.Registry, Image.Repository, Descriptor, _store, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _download.Release();
        }
    }
}
