using System.Net;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Store;

namespace Livrable.Registry;

public sealed partial class RegistryClient
{
    /// <summary>
    /// Opens the blob <paramref name="descriptor"/> names. The stream checks size and digest as it is read and throws
    /// LIV4001 at the end when they do not match; whoever stores the bytes must read to the end before keeping them.
    /// </summary>
    /// <exception cref="LivrableException">
    /// LIV3006 when the registry does not have the blob (its manifest promised it); LIV3001, LIV3002, LIV3003 as it answers.
    /// </exception>
    public async Task<Stream> GetBlobAsync(string registry, string repository, Descriptor descriptor, CancellationToken cancellationToken)
    {
        var endpoint = Resolve(registry);
        repository = endpoint.NormalizeRepository(repository);
        string action = $"get the blob {descriptor.Digest}";
        var response = await SendAsync(endpoint, [Scope(repository, push: false)], action,
            _ => Task.FromResult(new HttpRequestMessage(HttpMethod.Get, endpoint.Api(ApiPath(repository, "blobs/" + descriptor.Digest)))),
            retry: true, cancellationToken).ConfigureAwait(false);
        try
        {
            if (response.StatusCode != HttpStatusCode.OK)
                throw await FailureAsync(response, endpoint, repository, action, DiagnosticCodes.RegistryProtocol, cancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            Counters.Downloaded(descriptor.Size);
            return new VerifyingStream(new OwningStream(body, response), descriptor.Digest, descriptor.Size, $"Blob {descriptor.Digest} from {endpoint.Registry}/{repository}");
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Downloads the blob <paramref name="descriptor"/> names into <paramref name="store"/>, unless it is there already.
    /// The store keeps it only when its digest and size match.
    /// </summary>
    /// <exception cref="LivrableException">LIV4001 when the bytes do not match; those of <see cref="GetBlobAsync"/>.</exception>
    public async Task DownloadBlobAsync(string registry, string repository, Descriptor descriptor, BlobStore store, CancellationToken cancellationToken)
    {
        if (store.Contains(descriptor.Digest)) return;
        await using var blob = await GetBlobAsync(registry, repository, descriptor, cancellationToken).ConfigureAwait(false);
        await store.PutAsync(blob, descriptor.Digest, descriptor.Size, cancellationToken).ConfigureAwait(false);
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
