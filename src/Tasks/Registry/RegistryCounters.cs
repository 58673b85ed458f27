namespace Livrable.Registry;

/// <summary>
/// What a <see cref="RegistryClient"/> moved, for the final log line and for tests (a second push of the same image
/// uploads nothing). Counts are totals since the client was made; they are safe to read while requests run.
/// </summary>
public sealed class RegistryCounters
{
    private long _blobsUploaded, _bytesUploaded, _blobsMounted, _blobsExisting, _blobsDownloaded, _bytesDownloaded, _manifestsPushed, _retries;

    /// <summary>Blobs whose bytes were sent.</summary>
    public long BlobsUploaded => Interlocked.Read(ref _blobsUploaded);

    /// <summary>Bytes of blobs sent.</summary>
    public long BytesUploaded => Interlocked.Read(ref _bytesUploaded);

    /// <summary>Blobs mounted from another repository of the same registry, with no bytes sent.</summary>
    public long BlobsMounted => Interlocked.Read(ref _blobsMounted);

    /// <summary>Blobs not sent because the registry already had them.</summary>
    public long BlobsExisting => Interlocked.Read(ref _blobsExisting);

    /// <summary>Blobs fetched.</summary>
    public long BlobsDownloaded => Interlocked.Read(ref _blobsDownloaded);

    /// <summary>Bytes of blobs fetched (counted as the caller reads them).</summary>
    public long BytesDownloaded => Interlocked.Read(ref _bytesDownloaded);

    /// <summary>Manifests put (once per tag, and once by digest).</summary>
    public long ManifestsPushed => Interlocked.Read(ref _manifestsPushed);

    /// <summary>Requests repeated after a connection error, a 429 or a 5xx.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    internal void Uploaded(long bytes)
    {
        Interlocked.Increment(ref _blobsUploaded);
        Interlocked.Add(ref _bytesUploaded, bytes);
    }

    internal void Mounted() => Interlocked.Increment(ref _blobsMounted);
    internal void Existing() => Interlocked.Increment(ref _blobsExisting);
    internal void Downloaded(long bytes)
    {
        Interlocked.Increment(ref _blobsDownloaded);
        Interlocked.Add(ref _bytesDownloaded, bytes);
    }

    internal void ManifestPushed() => Interlocked.Increment(ref _manifestsPushed);
    internal void Retried() => Interlocked.Increment(ref _retries);
}
