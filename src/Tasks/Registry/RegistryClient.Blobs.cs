using System.Net;
using System.Net.Http.Headers;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Store;

namespace Livrable.Registry;

public sealed partial class RegistryClient
{
    /// <summary>
    /// Opens the blob <paramref name="descriptor"/> names. The stream checks size and digest as it is read and throws
    /// LIV4001 at the end when they do not match; whoever stores the bytes must read to the end before keeping them.
    /// A body cut short by the network is taken up where it stopped, with a <c>Range</c> request, as
    /// <see cref="RetryPolicy"/> allows.
    /// </summary>
    /// <exception cref="LivrableException">
    /// LIV3006 when the registry does not have the blob (its manifest promised it); LIV3001, LIV3002, LIV3003 as it answers.
    /// </exception>
    public async Task<Stream> GetBlobAsync(string registry, string repository, Descriptor descriptor, CancellationToken cancellationToken)
    {
        var endpoint = Resolve(registry);
        repository = endpoint.NormalizeRepository(repository);
        string action = $"get the blob {descriptor.Digest}";
        var uri = endpoint.Api(ApiPath(repository, "blobs/" + descriptor.Digest));

        async Task<(Stream Body, HttpResponseMessage Response)> OpenAtAsync(long offset, CancellationToken ct)
        {
            var response = await SendAsync(endpoint, [Scope(repository, push: false)], action, _ =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, uri);
                if (offset > 0) request.Headers.Range = new RangeHeaderValue(offset, null);
                return Task.FromResult(request);
            }, retry: true, ct).ConfigureAwait(false);
            try
            {
                if (offset > 0 && response.StatusCode == HttpStatusCode.PartialContent)
                {
                    if (response.Content.Headers.ContentRange is { From: { } from } && from != offset)
                        throw new LivrableException(DiagnosticCodes.BlobResumeRefused,
                            $"{endpoint.Registry}/{repository}: asked for {descriptor.Digest} from byte {offset}, the registry sent from byte {from}.");
                    return (await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false), response);
                }
                if (response.StatusCode != HttpStatusCode.OK)
                    throw await FailureAsync(response, endpoint, repository, action, DiagnosticCodes.RegistryProtocol, ct).ConfigureAwait(false);
                var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                // A registry (or its storage) that ignores Range sends the whole blob again: skip what we have.
                var skip = new byte[64 * 1024];
                for (long left = offset; left > 0;)
                {
                    int n = await body.ReadAsync(skip.AsMemory(0, (int)Math.Min(skip.Length, left)), ct).ConfigureAwait(false);
                    if (n == 0) break;
                    left -= n;
                }
                return (body, response);
            }
            catch
            {
                response.Dispose();
                throw;
            }
        }

        var (first, firstResponse) = await OpenAtAsync(0, cancellationToken).ConfigureAwait(false);
        Counters.Downloaded(descriptor.Size);
        var resuming = new ResumingStream(first, firstResponse, OpenAtAsync, Retry, (offset, e) =>
        {
            Counters.Retried();
            _logger.Detail($"Resuming {descriptor.Digest} from {endpoint.Registry} at byte {offset} after: {e.Message}");
        }, (offset, tries, e) => Inner<IdleTimeoutException>(e) is { } silent
            ? RegistryErrors.TimedOut(endpoint, repository, action, silent)
            : new LivrableException(DiagnosticCodes.BlobTruncated,
                $"{endpoint.Registry}/{repository}: the blob {descriptor.Digest} broke off at byte {offset} of {descriptor.Size}, {tries} times in a row (the connection closed before its end): {e.Message}",
                inner: e));
        return new VerifyingStream(resuming, descriptor.Digest, descriptor.Size, $"Blob {descriptor.Digest} from {endpoint.Registry}/{repository}");
    }

    /// <summary>
    /// Downloads the blob <paramref name="descriptor"/> names into <paramref name="store"/>, unless it is there already.
    /// The store keeps it only when its digest and size match.
    /// </summary>
    /// <exception cref="LivrableException">LIV4001 when the bytes do not match; those of <see cref="GetBlobAsync"/>.</exception>
    public async Task DownloadBlobAsync(string registry, string repository, Descriptor descriptor, BlobStore store, CancellationToken cancellationToken)
    {
        if (store.Contains(descriptor.Digest)) return;
        await using (var blob = await GetBlobAsync(registry, repository, descriptor, cancellationToken).ConfigureAwait(false))
            await store.PutAsync(blob, descriptor.Digest, descriptor.Size, cancellationToken).ConfigureAwait(false);
        // One line per blob once it is whole and verified, so concurrent downloads never interleave partial progress.
        _logger.Detail($"Pulled {descriptor.Digest} ({descriptor.Size} bytes) from {registry}/{repository}.");
    }

    /// <summary>Whether the repository has the blob <paramref name="digest"/> (a HEAD request).</summary>
    /// <exception cref="LivrableException">LIV3001, LIV3002, LIV3003 or LIV3006 as the registry answers (404 is false).</exception>
    public async Task<bool> BlobExistsAsync(string registry, string repository, Digest digest, bool forPush, CancellationToken cancellationToken)
    {
        var endpoint = Resolve(registry);
        repository = endpoint.NormalizeRepository(repository);
        string action = $"check for the blob {digest}";
        using var response = await SendAsync(endpoint, [Scope(repository, forPush)], action,
            _ => Task.FromResult(new HttpRequestMessage(HttpMethod.Head, endpoint.Api(ApiPath(repository, "blobs/" + digest)))),
            retry: true, cancellationToken).ConfigureAwait(false);
        return response.StatusCode switch
        {
            HttpStatusCode.OK => true,
            HttpStatusCode.NotFound => false,
            _ => throw await FailureAsync(response, endpoint, repository, action, DiagnosticCodes.RegistryProtocol, cancellationToken).ConfigureAwait(false),
        };
    }
}

/// <summary>
/// A response body that, when the connection breaks part way, asks again from the byte it stopped at (a
/// <c>Range</c> request, https://www.rfc-editor.org/rfc/rfc9110#name-range-requests) instead of failing the pull.
/// What it returns is only ever the bytes in order; checking them is the <see cref="VerifyingStream"/>'s job.
/// </summary>
/// <remarks>
/// When no try is left, the read fails with what <c>giveUp</c> makes of the offset, the tries and the last fault (a
/// coded error: LIV3013 for a body that broke off, LIV3012 for one that went silent), never with the bare
/// <see cref="IOException"/> of the connection.
/// </remarks>
internal sealed class ResumingStream(Stream body, IDisposable response,
    Func<long, CancellationToken, Task<(Stream Body, HttpResponseMessage Response)>> reopen, RetryPolicy retry, Action<long, Exception> onResume,
    Func<long, int, Exception, Exception> giveUp)
    : ReadOnlyStreamBase
{
    private Stream _body = body;
    private IDisposable _response = response;
    private long _position;
    private int _attempt = 1;
    private TimeSpan _waited;

    public override int Read(Span<byte> buffer)
    {
        var rented = new byte[buffer.Length];
        int n = ReadAsync(rented, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        rented.AsSpan(0, n).CopyTo(buffer);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            try
            {
                int n = await _body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                _position += n;
                return n;
            }
            catch (Exception e) when (RegistryClient.IsConnectionError(e, cancellationToken) && retry.NextDelay(_attempt, _waited) is { } delay)
            {
                _attempt++;
                _waited += delay;
                onResume(_position, e);
                _body.Dispose();
                _response.Dispose();
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                (_body, var next) = await reopen(_position, cancellationToken).ConfigureAwait(false);
                _response = next;
            }
            catch (Exception e) when (RegistryClient.IsConnectionError(e, cancellationToken) && RegistryClient.Inner<LivrableException>(e) is null)
            {
                throw giveUp(_position, _attempt, e);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _body.Dispose();
            _response.Dispose();
        }
        base.Dispose(disposing);
    }
}
