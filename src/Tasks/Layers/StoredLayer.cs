using Livrable.Images;
using Livrable.Store;

namespace Livrable.Layers;

/// <summary>
/// A layer <see cref="LayerWriter"/> wrote into the blob store: gzip-compressed, as
/// <c>application/vnd.oci.image.layer.v1.tar+gzip</c> (the build renames it for a Docker manifest). Every read is
/// verified against the descriptor by the store.
/// </summary>
public sealed class StoredLayer : ILayer
{
    private readonly BlobStore _store;

    /// <summary>A layer whose blob <paramref name="store"/> holds.</summary>
    public StoredLayer(Descriptor descriptor, Digest diffId, BlobStore store)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        ArgumentNullException.ThrowIfNull(store);
        Descriptor = descriptor;
        DiffId = diffId;
        _store = store;
    }

    /// <inheritdoc/>
    public Descriptor Descriptor { get; }

    /// <summary>Whether the blob came from the build cache rather than from writing the inputs now.</summary>
    public bool FromCache { get; init; }

    /// <inheritdoc/>
    public Digest DiffId { get; }

    /// <inheritdoc/>
    public Task<Stream> OpenAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(_store.Open(Descriptor));
    }
}
