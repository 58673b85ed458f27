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
    /// over as <see cref="RetryPolicy"/> allows; <paramref name="open"/> is called once per try.
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
        var waited = TimeSpan.Zero;
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
            catch (LivrableException e) when (IsRetryable(e) && Retry.NextDelay(attempt, waited) is { } delay)
            {
                Counters.Retried();
                _logger.Detail($"Starting the upload of {descriptor.Digest} over in {delay.TotalSeconds:0.##} s after: {e.Message}");
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                waited += delay;
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
    /// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-a-blob-in-chunks). A PATCH that
    /// fails on the network, 408, 429 or 5xx does not start the blob over: the session's status (a GET of its
    /// location, whose <c>Range</c> says what the registry holds) gives the offset to go on from. Some registries
    /// answer a PATCH with 201 rather than 202; both are taken.
    /// </summary>
    private async Task PutChunkedAsync(RegistryEndpoint endpoint, string repository, Uri location, Descriptor descriptor,
        Func<CancellationToken, Task<Stream>> open, CancellationToken cancellationToken)
    {
        string action = $"upload the blob {descriptor.Digest} in chunks";
        var scopes = new[] { Scope(repository, push: true) };
        var buffer = new byte[(int)Math.Clamp(descriptor.Size, 1, ChunkSize)];
        long offset = 0;
        var waited = TimeSpan.Zero;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await using var stream = await open(cancellationToken).ConfigureAwait(false);
                // The source is read from its start again (so a verifying stream still sees every byte) and what the
                // registry already holds is skipped.
                await SkipAsync(stream, offset, buffer, cancellationToken).ConfigureAwait(false);
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
                    if (response.StatusCode is not (HttpStatusCode.Accepted or HttpStatusCode.Created))
                        throw await UploadFailureAsync(response, endpoint, repository, action, cancellationToken).ConfigureAwait(false);
                    location = LocationOf(response) ?? location;
                    offset += n;
                }
                break;
            }
            catch (LivrableException e) when (IsRetryable(e) && Retry.NextDelay(attempt, waited) is { } delay)
            {
                Counters.Retried();
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                waited += delay;
                // No status (the session is gone, or the registry cannot say): the whole upload starts over.
                var status = await UploadStatusAsync(endpoint, repository, location, descriptor.Digest, cancellationToken).ConfigureAwait(false);
                if (status is null) throw;
                _logger.Detail($"Resuming the upload of {descriptor.Digest} at byte {status.Value.Offset} of {descriptor.Size} after: {e.Message}");
                (offset, location) = status.Value;
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

    /// <summary>
    /// Where an upload session stands
    /// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#getting-the-upload-status): the offset
    /// after the last byte the registry holds (its <c>Range: 0-&lt;end&gt;</c>) and the location to go on with; null
    /// when the registry cannot say.
    /// </summary>
    private async Task<(long Offset, Uri Location)?> UploadStatusAsync(RegistryEndpoint endpoint, string repository, Uri location, Digest digest,
        CancellationToken cancellationToken)
    {
        try
        {
            using var response = await SendAsync(endpoint, [Scope(repository, push: true)], $"get the upload status of {digest}",
                _ => Task.FromResult(new HttpRequestMessage(HttpMethod.Get, location)), retry: true, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode is not (HttpStatusCode.NoContent or HttpStatusCode.OK)) return null;
            long offset = 0;
            if (response.Headers.TryGetValues("Range", out var values))
            {
                // "0-<end>", inclusive; some registries write a "bytes=" unit. "0-0" is ambiguous (nothing, or one
                // byte): taking it as nothing resends at most one byte, which the registry refuses rather than duplicates.
                string range = values.First().Replace("bytes=", "", StringComparison.OrdinalIgnoreCase).Trim();
                int dash = range.IndexOf('-', StringComparison.Ordinal);
                if (dash <= 0 || !long.TryParse(range[(dash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long end))
                    return null;
                offset = end > 0 ? end + 1 : 0;
            }
            return (offset, LocationOf(response) ?? location);
        }
        catch (LivrableException)
        {
            return null;
        }
    }

    private static async Task SkipAsync(Stream stream, long count, byte[] buffer, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count)), cancellationToken).ConfigureAwait(false);
            if (n == 0) throw new LivrableException(DiagnosticCodes.PushFailed, "The registry holds more of the upload than the blob has bytes.");
            count -= n;
        }
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
        if (RetryPolicy.IsTransient(response.StatusCode)) e.Data[TransientKey] = true;
        return e;
    }

    private static bool IsRetryable(LivrableException e)
        => e.Code is DiagnosticCodes.RegistryUnreachable or DiagnosticCodes.RegistryTimeout || e.Data[TransientKey] is true;

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
