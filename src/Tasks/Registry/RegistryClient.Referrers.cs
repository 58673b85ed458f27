using System.Net;
using System.Net.Http.Headers;
using Livrable.Diagnostics;
using Livrable.Images;

namespace Livrable.Registry;

// Manifests that refer to another (OCI 1.1 artifacts with a subject): the PUT that says whether the registry keeps
// the referrers itself, and the referrers API (distribution-spec 1.1, "Listing Referrers").
public sealed partial class RegistryClient
{
    /// <summary>
    /// Puts a manifest that has a <c>subject</c> by its digest. Returns its digest and whether the registry answered
    /// with an <c>OCI-Subject</c> header, which says it indexes referrers itself
    /// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-manifests-with-subject); without
    /// it the client must keep the referrers tag.
    /// </summary>
    /// <exception cref="LivrableException">As <see cref="PutManifestAsync"/>.</exception>
    public async Task<(Digest Digest, bool SubjectProcessed)> PutReferrerAsync(string registry, string repository, string mediaType, byte[] bytes, CancellationToken cancellationToken)
    {
        var endpoint = Resolve(registry);
        repository = endpoint.NormalizeRepository(repository);
        var digest = Digest.Sha256(bytes);
        const string action = "put a referrer manifest";
        using var response = await SendAsync(endpoint, [Scope(repository, push: true)], action, _ =>
        {
            var content = new ByteArrayContent(bytes);
            content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            return Task.FromResult(new HttpRequestMessage(HttpMethod.Put, endpoint.Api(ApiPath(repository, "manifests/" + digest))) { Content = content });
        }, retry: true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK or HttpStatusCode.Accepted))
            throw await FailureAsync(response, endpoint, repository, action, DiagnosticCodes.RegistryProtocol, cancellationToken).ConfigureAwait(false);
        Counters.ManifestPushed();
        bool processed = response.Headers.TryGetValues("OCI-Subject", out var values) && values.Any(v => v.Trim() != "");
        return (digest, processed);
    }

    /// <summary>
    /// The referrers index of <paramref name="subject"/> from the referrers API (<c>GET /v2/NAME/referrers/DIGEST</c>),
    /// or null when the registry has no such API (404 with no index, as Distribution 2.8 answers).
    /// </summary>
    /// <exception cref="LivrableException">LIV3001, LIV3002, LIV3003, LIV3006 as the registry answers.</exception>
    public async Task<byte[]?> GetReferrersAsync(string registry, string repository, Digest subject, CancellationToken cancellationToken)
    {
        var endpoint = Resolve(registry);
        repository = endpoint.NormalizeRepository(repository);
        const string action = "list referrers";
        using var response = await SendAsync(endpoint, [Scope(repository, push: false)], action, _ =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, endpoint.Api(ApiPath(repository, "referrers/" + subject)));
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(MediaTypes.OciIndex));
            return Task.FromResult(request);
        }, retry: true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        if (response.StatusCode != HttpStatusCode.OK)
            throw await FailureAsync(response, endpoint, repository, action, DiagnosticCodes.RegistryProtocol, cancellationToken).ConfigureAwait(false);
        if (response.Content.Headers.ContentType?.MediaType != MediaTypes.OciIndex) return null;
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        return await RegistryErrors.ReadAtMostAsync(stream, MaxManifestSize, cancellationToken).ConfigureAwait(false);
    }
}
