using System.Net;
using System.Net.Http.Headers;
using Livrable.Diagnostics;
using Livrable.Images;

namespace Livrable.Registry;

public sealed partial class RegistryClient
{
    private const string TransientKey = "Livrable.Transient";

    /// <summary>
    /// Makes the blob <paramref name="descriptor"/> names present in <paramref name="repository"/>, the cheapest way:
    /// nothing when a HEAD finds it; a cross-repository mount from <paramref name="mountFrom"/> (another repository of
    /// the same registry holding it); else an upload of the bytes <paramref name="open"/> gives, as one streamed PUT
    /// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#post-then-put), or in chunks of PATCH
    /// requests when the registry refuses that (405, 413, 501). An upload that fails on the network, 429 or 5xx starts
    /// over, <see cref="MaxAttempts"/> times; <paramref name="open"/> is called once per try.
    /// </summary>
    /// <exception cref="LivrableException">
    /// LIV3009 when the upload is refused; LIV4001 when the bytes read do not match the descriptor; LIV3001, LIV3002,
    /// LIV3003 as the registry answers.
    /// </exception>
    public async Task<BlobPushResult> PushBlobAsync(string registry, string repository, Descriptor descriptor,
        Func<CancellationToken, Task<Stream>> open, string? mountFrom, CancellationToken cancellationToken)
    {
        var endpoint = Resolve(registry);
        repository = endpoint.NormalizeRepository(repository);
        if (await BlobExistsAsync(registry, repository, descriptor.Digest, forPush: true, cancellationToken).ConfigureAwait(false))
        {
            Counters.Existing();
            return BlobPushResult.Existed;
        }
        if (mountFrom is not null) mountFrom = endpoint.NormalizeRepository(mountFrom);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                Uri? location = null;
                if (mountFrom is not null && mountFrom != repository)
                {
                    (bool mounted, location) = await MountAsync(endpoint, repository, descriptor.Digest, mountFrom, cancellationToken).ConfigureAwait(false);
                    if (mounted)
                    {
                        Counters.Mounted();
                        return BlobPushResult.Mounted;
                    }
                }
                location ??= await StartUploadAsync(endpoint, repository, descriptor.Digest, cancellationToken).ConfigureAwait(false);
                if (!ForceChunkedUploads)
                {
                    if (await PutMonolithicAsync(endpoint, repository, location, descriptor, open, cancellationToken).ConfigureAwait(false))
                    {
                        Counters.Uploaded(descriptor.Size);
                        return BlobPushResult.Uploaded;
                    }
                    _logger.Detail($"{endpoint.Registry} refused a single-request upload of {descriptor.Digest}; sending it in chunks.");
                    location = await StartUploadAsync(endpoint, repository, descriptor.Digest, cancellationToken).ConfigureAwait(false);
                }
                await PutChunkedAsync(endpoint, repository, location, descriptor, open, cancellationToken).ConfigureAwait(false);
                Counters.Uploaded(descriptor.Size);
                return BlobPushResult.Uploaded;
            }
            catch (LivrableException e) when (attempt < MaxAttempts && IsRetryable(e))
            {
                Counters.Retried();
                _logger.Detail($"Starting the upload of {descriptor.Digest} over after: {e.Message}");
                await Task.Delay(Backoff(attempt), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Asks the registry to mount <paramref name="digest"/> from <paramref name="from"/>
    /// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#mounting-a-blob-from-another-repository).
    /// 201 is done; 202 is an upload session to use instead; anything else falls back to a plain upload.
    /// </summary>
    private async Task<(bool Mounted, Uri? Location)> MountAsync(RegistryEndpoint endpoint, string repository, Digest digest, string from, CancellationToken cancellationToken)
    {
        string action = $"mount the blob {digest} from {from}";
        string path = ApiPath(repository, $"blobs/uploads/?mount={Uri.EscapeDataString(digest.ToString())}&from={Uri.EscapeDataString(from)}");
        using var response = await SendAsync(endpoint, [Scope(repository, push: true), Scope(from, push: false)], action,
            _ => Task.FromResult(new HttpRequestMessage(HttpMethod.Post, endpoint.Api(path))), retry: true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Created) return (true, null);
        if (response.StatusCode == HttpStatusCode.Accepted && LocationOf(response) is { } location) return (false, location);
        _logger.Detail($"{endpoint.Registry} did not mount {digest} from {from} ({(int)response.StatusCode}); uploading it.");
        return (false, null);
    }

    /// <summary>Opens an upload session (POST); returns its location.</summary>
    private async Task<Uri> StartUploadAsync(RegistryEndpoint endpoint, string repository, Digest digest, CancellationToken cancellationToken)
    {
        string action = $"start the upload of {digest}";
        using var response = await SendAsync(endpoint, [Scope(repository, push: true)], action,
            _ => Task.FromResult(new HttpRequestMessage(HttpMethod.Post, endpoint.Api(ApiPath(repository, "blobs/uploads/")))),
            retry: true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Accepted)
            throw await UploadFailureAsync(response, endpoint, repository, action, cancellationToken).ConfigureAwait(false);
        return LocationOf(response) ?? throw new LivrableException(DiagnosticCodes.PushFailed,
            $"{endpoint.Registry}/{repository}: the registry opened an upload session for {digest} without saying where (no Location header).");
    }

    /// <summary>Sends the whole blob in one streamed PUT; false when the registry refuses that way of uploading.</summary>
    private async Task<bool> PutMonolithicAsync(RegistryEndpoint endpoint, string repository, Uri location, Descriptor descriptor,
        Func<CancellationToken, Task<Stream>> open, CancellationToken cancellationToken)
    {
        string action = $"upload the blob {descriptor.Digest}";
        using var response = await SendAsync(endpoint, [Scope(repository, push: true)], action, async ct =>
        {
            // Streamed: the body is read from the layer as it is sent, never held in memory.
            var content = new StreamContent(await open(ct).ConfigureAwait(false), 1 << 16);
            content.Headers.ContentLength = descriptor.Size;
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return new HttpRequestMessage(HttpMethod.Put, WithQuery(location, "digest", descriptor.Digest.ToString())) { Content = content };
        }, retry: false, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Created) return true;
        if (response.StatusCode is HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented or HttpStatusCode.RequestEntityTooLarge) return false;
        throw await UploadFailureAsync(response, endpoint, repository, action, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends the blob as PATCH requests of at most <see cref="ChunkSize"/> bytes, each with its <c>Content-Range</c>,
    /// then closes the session with a PUT carrying the digest
    /// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-a-blob-in-chunks).
    /// </summary>
    private async Task PutChunkedAsync(RegistryEndpoint endpoint, string repository, Uri location, Descriptor descriptor,
        Func<CancellationToken, Task<Stream>> open, CancellationToken cancellationToken)
    {
        string action = $"upload the blob {descriptor.Digest} in chunks";
        var scopes = new[] { Scope(repository, push: true) };
        var buffer = new byte[(int)Math.Clamp(descriptor.Size, 1, ChunkSize)];
        long offset = 0;
        await using (var stream = await open(cancellationToken).ConfigureAwait(false))
        {
            int n;
            // Reading until 0 lets a verifying stream check the digest before the session is closed.
            while ((n = await ReadFullAsync(stream, buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                long start = offset;
                var chunkLocation = location;
                using var response = await SendAsync(endpoint, scopes, action, _ =>
                {
                    var content = new ByteArrayContent(buffer, 0, n);
                    content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                    // The spec's form is "<start>-<end>" with no unit, which the typed header would not write.
                    content.Headers.TryAddWithoutValidation("Content-Range", $"{start}-{start + n - 1}");
                    return Task.FromResult(new HttpRequestMessage(HttpMethod.Patch, chunkLocation) { Content = content });
                }, retry: false, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.Accepted)
                    throw await UploadFailureAsync(response, endpoint, repository, action, cancellationToken).ConfigureAwait(false);
                location = LocationOf(response) ?? location;
                offset += n;
            }
        }
        using var close = await SendAsync(endpoint, scopes, action, _ =>
            Task.FromResult(new HttpRequestMessage(HttpMethod.Put, WithQuery(location, "digest", descriptor.Digest.ToString()))
            {
                Content = new ByteArrayContent([]),
            }), retry: false, cancellationToken).ConfigureAwait(false);
        if (close.StatusCode != HttpStatusCode.Created)
            throw await UploadFailureAsync(close, endpoint, repository, action, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<int> ReadFullAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                if (total > 0) return total;
                return 0;
            }
            total += n;
        }
        return total;
    }

    /// <summary>
    /// The error for a refused upload request: auth problems keep their codes, the rest is LIV3009; 429 and 5xx are
    /// marked so the whole upload starts over.
    /// </summary>
    private async Task<LivrableException> UploadFailureAsync(HttpResponseMessage response, RegistryEndpoint endpoint, string repository, string action, CancellationToken cancellationToken)
    {
        var e = await FailureAsync(response, endpoint, repository, action, DiagnosticCodes.PushFailed, cancellationToken).ConfigureAwait(false);
        if (e.Code == DiagnosticCodes.RegistryProtocol) e = new LivrableException(DiagnosticCodes.PushFailed, e.Message);
        if (IsTransient(response.StatusCode)) e.Data[TransientKey] = true;
        return e;
    }

    private static bool IsRetryable(LivrableException e)
        => e.Code == DiagnosticCodes.RegistryUnreachable || e.Data[TransientKey] is true;

    /// <summary>The upload session URL of a 202, relative Locations resolved against the request.</summary>
    private static Uri? LocationOf(HttpResponseMessage response)
    {
        var location = response.Headers.Location;
        if (location is null) return null;
        return location.IsAbsoluteUri ? location : new Uri(response.RequestMessage!.RequestUri!, location);
    }

    /// <summary>Adds a query parameter, keeping the registry's own (an upload location often carries its state).</summary>
    internal static Uri WithQuery(Uri uri, string name, string value)
    {
        var builder = new UriBuilder(uri);
        string query = builder.Query.TrimStart('?');
        builder.Query = (query.Length > 0 ? query + "&" : "") + Uri.EscapeDataString(name) + "=" + Uri.EscapeDataString(value);
        return builder.Uri;
    }
}
