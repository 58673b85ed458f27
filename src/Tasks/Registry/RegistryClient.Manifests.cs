using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Threading;

namespace Livrable.Registry;

public sealed partial class RegistryClient
{
    /// <summary>
    /// The largest manifest or index accepted, as the distribution spec lets registries limit them
    /// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-manifests): more is an attack or a bug.
    /// </summary>
    public const int MaxManifestSize = 4 * 1024 * 1024;

    /// <summary>The largest config blob accepted; real ones are a few kilobytes, a long history some hundreds.</summary>
    public const int MaxConfigSize = 8 * 1024 * 1024;

    /// <summary>Every manifest media type Livrable reads, for content negotiation (without it Docker Hub may downgrade).</summary>
    private static readonly string[] ManifestAccept =
        [MediaTypes.OciManifest, MediaTypes.OciIndex, MediaTypes.DockerManifest, MediaTypes.DockerManifestList];

    /// <summary>
    /// Fetches the manifest or index <paramref name="reference"/> (a tag or a digest) of <paramref name="repository"/>.
    /// Its digest is computed from the bytes and, when the reference is a digest, checked against it.
    /// </summary>
    /// <exception cref="LivrableException">
    /// LIV3004 when there is no such manifest; LIV4001 when the bytes do not match a digest reference; LIV3001, LIV3002,
    /// LIV3003, LIV3006 as the registry answers.
    /// </exception>
    public async Task<RegistryManifest> GetManifestAsync(string registry, string repository, string reference, CancellationToken cancellationToken)
    {
        var endpoint = Resolve(registry);
        repository = endpoint.NormalizeRepository(repository);
        string action = $"get the manifest {reference}";
        using var response = await SendAsync(endpoint, [Scope(repository, push: false)], action, _ =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, endpoint.Api(ApiPath(repository, "manifests/" + reference)));
            foreach (var type in ManifestAccept) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
            return Task.FromResult(request);
        }, retry: true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
            throw await FailureAsync(response, endpoint, repository, action, DiagnosticCodes.ManifestNotFound, cancellationToken).ConfigureAwait(false);

        if (response.Content.Headers.ContentLength is > MaxManifestSize)
            throw TooLarge(endpoint, repository, reference);
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        byte[] bytes = await RegistryErrors.ReadAtMostAsync(stream, MaxManifestSize + 1, cancellationToken).ConfigureAwait(false);
        if (bytes.Length > MaxManifestSize) throw TooLarge(endpoint, repository, reference);

        var digest = Digest.TryParse(reference, out var wanted) ? wanted.WithHash(HashOf(bytes, wanted)) : Digest.Sha256(bytes);
        if (Digest.TryParse(reference, out wanted) && digest != wanted)
            throw new LivrableException(DiagnosticCodes.DigestMismatch,
                $"{endpoint.Registry}/{repository}@{reference} served a manifest whose digest is {digest}.");
        string mediaType = MediaTypeOf(response.Content.Headers.ContentType?.MediaType, bytes);
        _logger.Detail($"Got {endpoint.Registry}/{repository}:{reference} ({mediaType}, {digest}).");
        return new RegistryManifest(mediaType, bytes, digest);
    }

    /// <summary>
    /// A manifest's or index's media type: the one the registry gave (<c>Content-Type</c>, or the index entry's
    /// descriptor) when it names a manifest or an index; else the document's own <c>mediaType</c>; else an OCI index
    /// when it looks like one (a <c>manifests</c> array), an OCI manifest otherwise.
    /// </summary>
    private static string MediaTypeOf(string? given, byte[] bytes)
    {
        if (MediaTypes.IsManifest(given) || MediaTypes.IsIndex(given)) return given!;
        string? own = null;
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(bytes);
            if (document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && document.RootElement.TryGetProperty("mediaType", out var value) && value.ValueKind == System.Text.Json.JsonValueKind.String)
                own = value.GetString();
        }
        catch (System.Text.Json.JsonException)
        {
            // Not JSON: the parse that follows says so.
        }
        if (MediaTypes.IsManifest(own) || MediaTypes.IsIndex(own)) return own!;
        return ImageIndex.LooksLikeIndex(bytes, null) ? MediaTypes.OciIndex : MediaTypes.OciManifest;
    }

    /// <summary>
    /// The manifest or index <paramref name="reference"/> as the blob store keeps it from an earlier pull, when the
    /// registry still serves the same one; else fetched (<see cref="GetManifestAsync"/>) and, with
    /// <see cref="RegistryOptions.KeepDocuments"/>, kept. A tag costs one HEAD when unchanged (its
    /// <c>Docker-Content-Digest</c> names a stored document: no body is read), a HEAD and a GET when it moved or was
    /// never pulled, a GET alone when the store held no blob at the start of the build (<see cref="Store.BlobStore.StartedEmpty"/>:
    /// nothing can be kept there); a digest reference costs nothing once stored (its bytes cannot change). A registry
    /// that answers the HEAD with anything else (no digest, an error) is asked with a GET, which reports what is wrong.
    /// </summary>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    private async Task<RegistryManifest> GetManifestKeptAsync(RegistryEndpoint endpoint, string registry, string repository, string reference,
        string? mediaType, CancellationToken cancellationToken)
    {
        if (Digest.TryParse(reference, out var pinned))
        {
            if (Store.TryReadSmall(pinned, MaxManifestSize) is { } stored)
                return Kept(pinned, MediaTypeOf(mediaType, stored), stored);
        }
        else if (!Store.StartedEmpty)
        {
            using var head = await SendHeadAsync(endpoint, repository, reference, forPush: false, cancellationToken).ConfigureAwait(false);
            if (head.StatusCode == HttpStatusCode.OK && DigestHeader(head) is { } current
                && Store.TryReadSmall(current, MaxManifestSize) is { } stored)
                return Kept(current, MediaTypeOf(head.Content.Headers.ContentType?.MediaType, stored), stored);
        }
        var fetched = await GetManifestAsync(registry, repository, reference, cancellationToken).ConfigureAwait(false);
        if (_options.KeepDocuments) await Store.PutAsync(fetched.Bytes, cancellationToken).ConfigureAwait(false);
        return fetched;

        RegistryManifest Kept(Digest digest, string type, byte[] bytes)
        {
            _logger.Detail($"Got {endpoint.Registry}/{repository}:{reference} ({type}, {digest}) from the state folder: unchanged in the registry.");
            return new RegistryManifest(type, bytes, digest);
        }
    }

    /// <summary>
    /// Pulls the image <paramref name="reference"/> for <paramref name="platform"/>: the manifest (through the index
    /// when there is one, choosing the entry for the platform) and the config, both verified. Layers are fetched when
    /// opened, into the client's <see cref="Store"/>. A single-platform image is returned whatever its platform; the caller
    /// (<see cref="Sources.RegistryImageSource"/>) checks it.
    /// </summary>
    /// <exception cref="LivrableException">
    /// LIV3005 when an index has no entry for <paramref name="platform"/>; LIV4002 when a document is malformed; and
    /// those of <see cref="GetManifestAsync"/>.
    /// </exception>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    public async Task<RegistryImage> GetImageAsync(string registry, string repository, string reference, Platform platform, CancellationToken cancellationToken)
    {
        var endpoint = Resolve(registry);
        repository = endpoint.NormalizeRepository(repository);
        if (TakeStarted(endpoint, repository, reference, platform) is { } started)
        {
            try
            {
                return await started.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Stopped ahead (the head start was cancelled before the build took it): asked below, as if never started.
            }
        }
        return await GetImageCoreAsync(endpoint, registry, repository, reference, platform, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><see cref="GetImageAsync"/> with the endpoint resolved and the repository normalized.</summary>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    private async Task<RegistryImage> GetImageCoreAsync(RegistryEndpoint endpoint, string registry, string repository, string reference, Platform platform, CancellationToken cancellationToken)
    {
        var top = await GetManifestKeptAsync(endpoint, registry, repository, reference, null, cancellationToken).ConfigureAwait(false);
        var manifest = top;
        Digest? indexDigest = null;
        if (top.IsIndex)
        {
            var index = ImageIndex.Parse(top.Bytes, top.MediaType);
            var entry = index.Select(platform) ?? throw new LivrableException(DiagnosticCodes.PlatformNotFound,
                $"{endpoint.Registry}/{repository}:{reference} has no image for {platform}; it has {Available(index)}.");
            indexDigest = top.Digest;
            manifest = await GetManifestKeptAsync(endpoint, registry, repository, entry.Digest.ToString(), entry.MediaType, cancellationToken).ConfigureAwait(false);
            if (manifest.IsIndex)
                throw new LivrableException(DiagnosticCodes.InvalidImage, $"The entry for {platform} in {endpoint.Registry}/{repository}:{reference} is itself an index; nested indexes are not supported.");
        }
        var parsed = ImageManifest.Parse(manifest.Bytes, manifest.MediaType);
        if (parsed.Config.Size > MaxConfigSize)
            throw new LivrableException(DiagnosticCodes.InvalidImage, $"The config of {endpoint.Registry}/{repository}:{reference} is {parsed.Config.Size} bytes; more than {MaxConfigSize} is not a real config.");
        byte[]? configBytes = Store.TryReadSmall(parsed.Config.Digest, MaxConfigSize) is { } kept && kept.Length == parsed.Config.Size ? kept : null;
        if (configBytes is null)
        {
            await using (var config = await GetBlobAsync(registry, repository, parsed.Config, cancellationToken).ConfigureAwait(false))
            {
                configBytes = new byte[parsed.Config.Size];
                await config.ReadExactlyAsync(configBytes, cancellationToken).ConfigureAwait(false);
                // Read past the end so the verifying stream checks the digest.
                if (await config.ReadAsync(new byte[1], cancellationToken).ConfigureAwait(false) != 0)
                    throw new LivrableException(DiagnosticCodes.DigestMismatch, $"The config {parsed.Config.Digest} is longer than its descriptor says.");
            }
            if (_options.KeepDocuments) await Store.PutAsync(configBytes, cancellationToken).ConfigureAwait(false);
        }
        var parts = ManifestAndConfig.Check(parsed, manifest.Bytes, configBytes, $"{endpoint.Registry}/{repository}@{manifest.Digest}");
        return new RegistryImage(this, endpoint, repository, reference, indexDigest, manifest, parts, Store);
    }

    /// <summary>
    /// Puts a manifest or index as <paramref name="reference"/> (a tag, or its own digest) with its media type as
    /// <c>Content-Type</c>. Returns its digest. The blobs it names must be in the repository already.
    /// </summary>
    /// <exception cref="LivrableException">LIV3002, LIV3003 or LIV3006 as the registry answers; LIV3001 when unreachable.</exception>
    public async Task<Digest> PutManifestAsync(string registry, string repository, string reference, string mediaType, byte[] bytes, CancellationToken cancellationToken)
    {
        var endpoint = Resolve(registry);
        repository = endpoint.NormalizeRepository(repository);
        var digest = Digest.Sha256(bytes);
        string action = $"put the manifest {(reference.StartsWith("sha256:", StringComparison.Ordinal) ? "by digest" : reference)}";
        using var response = await SendAsync(endpoint, [Scope(repository, push: true)], action, _ =>
        {
            var content = new ByteArrayContent(bytes);
            content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            return Task.FromResult(new HttpRequestMessage(HttpMethod.Put, endpoint.Api(ApiPath(repository, "manifests/" + reference))) { Content = content });
        }, retry: true, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK or HttpStatusCode.Accepted))
            throw await FailureAsync(response, endpoint, repository, action, DiagnosticCodes.RegistryProtocol, cancellationToken).ConfigureAwait(false);
        if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && values.FirstOrDefault() is { } given
            && Digest.TryParse(given, out var registryDigest) && registryDigest.Algorithm == digest.Algorithm && registryDigest != digest)
            throw new LivrableException(DiagnosticCodes.RegistryProtocol,
                $"{endpoint.Registry}/{repository} stored the manifest as {registryDigest}, not {digest}: it changed the bytes, so the pushed image is not the built one.");
        Counters.ManifestPushed();
        return digest;
    }

    /// <summary>
    /// The digest the registry gives for the manifest or index <paramref name="reference"/> (a HEAD request, its
    /// <c>Docker-Content-Digest</c>), null when there is none or the registry does not say; no body is read.
    /// </summary>
    /// <exception cref="LivrableException">LIV3001, LIV3002, LIV3003 or LIV3006 as the registry answers (404 is null).</exception>
    public async Task<Digest?> HeadManifestAsync(string registry, string repository, string reference, bool forPush, CancellationToken cancellationToken)
    {
        var endpoint = Resolve(registry);
        repository = endpoint.NormalizeRepository(repository);
        using var response = await SendHeadAsync(endpoint, repository, reference, forPush, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        if (response.StatusCode != HttpStatusCode.OK)
            throw await FailureAsync(response, endpoint, repository, $"check for the manifest {reference}", DiagnosticCodes.RegistryProtocol, cancellationToken).ConfigureAwait(false);
        return DigestHeader(response);
    }

    /// <summary>A HEAD of the manifest <paramref name="reference"/>, with the media types Livrable reads; any status.</summary>
    private Task<HttpResponseMessage> SendHeadAsync(RegistryEndpoint endpoint, string repository, string reference, bool forPush, CancellationToken cancellationToken)
        => SendAsync(endpoint, [Scope(repository, forPush)], $"check for the manifest {reference}", _ =>
        {
            var request = new HttpRequestMessage(HttpMethod.Head, endpoint.Api(ApiPath(repository, "manifests/" + reference)));
            foreach (var type in ManifestAccept) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
            return Task.FromResult(request);
        }, retry: true, cancellationToken);

    /// <summary>The digest a response's <c>Docker-Content-Digest</c> gives; null when there is none or it is not a digest.</summary>
    private static Digest? DigestHeader(HttpResponseMessage response)
        => response.Headers.TryGetValues("Docker-Content-Digest", out var values) && Digest.TryParse(values.FirstOrDefault(), out var digest) ? digest : null;

    private static byte[] HashOf(byte[] bytes, Digest like)
    {
        using var hash = like.CreateHash();
        hash.AppendData(bytes);
        return hash.GetHashAndReset();
    }

    private static string Available(ImageIndex index)
    {
        var platforms = index.Manifests.Where(m => m.Platform is not null && MediaTypes.IsManifest(m.MediaType))
            .Select(m => m.Platform!.ToString()).Where(p => p != "unknown/unknown").Distinct().ToList();
        return platforms.Count == 0 ? "no platform entries" : string.Join(", ", platforms);
    }

    private static LivrableException TooLarge(RegistryEndpoint endpoint, string repository, string reference)
        => new(DiagnosticCodes.RegistryProtocol, $"{endpoint.Registry}/{repository}:{reference} is a manifest of more than {MaxManifestSize / (1024 * 1024)} MiB; refusing it.");
}
