using System.Security.Cryptography;
using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;
using Livrable.Store;
using Livrable.SupplyChain.Provenance;
using Livrable.SupplyChain.Referrers;
using Livrable.SupplyChain.Sbom;
using Livrable.SupplyChain.Signing;

namespace Livrable.SupplyChain.Verification;

/// <summary>What <see cref="ImageVerifier"/> checks: a pushed image and the public key its signatures must verify with.</summary>
public sealed record VerificationRequest
{
    /// <summary>The registry (<c>host[:port]</c>), repository and tag or digest of the pushed image.</summary>
    public required string Registry { get; init; }
    public required string Repository { get; init; }
    public required string Reference { get; init; }

    /// <summary>A PEM public key (EC P-256 or RSA, <c>BEGIN PUBLIC KEY</c>); null checks the attestations only.</summary>
    public string? PublicKeyPath { get; init; }

    public required string StateDirectory { get; init; }
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];
}

/// <summary>What was checked: the image's digest, the signatures and attestations that verified.</summary>
public sealed record VerificationResult(Digest Digest, int Signatures, int Attestations);

/// <summary>
/// Checks a pushed image as a consumer would: a cosign signature (<c>sha256-HEX.sig</c>) whose payload names this
/// digest and verifies with the public key; every SBOM and provenance attached to it (referrers API, else the
/// referrers tag) describes this digest. Reads only what the specs say a client reads; LIV3041 for a signature that is
/// missing or does not verify, LIV3042 for an attestation about another image.
/// </summary>
public static class ImageVerifier
{
    /// <summary>Verifies <paramref name="request"/>'s image; throws at the first mismatch.</summary>
    public static async Task<VerificationResult> VerifyAsync(VerificationRequest request, ILogger logger, CancellationToken cancellationToken)
    {
        var state = StateFolder.Open(request.StateDirectory);
        using var lease = await state.AcquireLeaseAsync(logger, timeout: null, cancellationToken).ConfigureAwait(false);
        using var client = new RegistryClient(new RegistryOptions { InsecureRegistries = request.InsecureRegistries }, new BlobStore(state, lease), logger);
        string registry = request.Registry, repository = request.Repository;
        string name = $"{registry}/{repository}";
        var top = await client.GetManifestAsync(registry, repository, request.Reference, cancellationToken).ConfigureAwait(false);
        var digest = top.Digest;

        int signatures = 0;
        if (request.PublicKeyPath is { } keyPath)
        {
            using var key = LoadPublicKey(keyPath);
            RegistryManifest signature;
            try
            {
                signature = await client.GetManifestAsync(registry, repository, CosignSigner.TagFor(digest), cancellationToken).ConfigureAwait(false);
            }
            catch (LivrableException e) when (e.Code == DiagnosticCodes.ManifestNotFound)
            {
                throw new LivrableException(DiagnosticCodes.SignatureNotVerified, $"{name}@{digest} has no cosign signature ({name}:{CosignSigner.TagFor(digest)} does not exist).");
            }
            foreach (var layer in ImageManifest.Parse(signature.Bytes, signature.MediaType).Layers)
            {
                if (layer.Annotations?.GetValueOrDefault(CosignSigner.SignatureAnnotation) is not { } encoded) continue;
                byte[] payload = await ReadAsync(client, registry, repository, layer, cancellationToken).ConfigureAwait(false);
                byte[] sig;
                try { sig = Convert.FromBase64String(encoded); } catch (FormatException) { continue; }
                if (!CosignKeys.Verify(key, payload, sig) || PayloadDigest(payload) != digest.ToString()) continue;
                signatures++;
            }
            if (signatures == 0)
                throw new LivrableException(DiagnosticCodes.SignatureNotVerified,
                    $"No signature of {name}@{digest} verifies with the public key '{Path.GetFileName(keyPath)}' (ContainerVerifyKey).");
        }

        int attestations = 0;
        var subjects = new List<Digest> { digest };
        if (top.IsIndex) subjects.AddRange(ImageIndex.Parse(top.Bytes, top.MediaType).Manifests.Select(m => m.Digest));
        foreach (var subject in subjects)
        {
            byte[]? referrers = await client.GetReferrersAsync(registry, repository, subject, cancellationToken).ConfigureAwait(false);
            if (referrers is null)
            {
                try
                {
                    referrers = (await client.GetManifestAsync(registry, repository, ReferrersPublisher.TagFor(subject), cancellationToken).ConfigureAwait(false)).Bytes;
                }
                catch (LivrableException e) when (e.Code == DiagnosticCodes.ManifestNotFound) { continue; }
            }
            using var index = JsonDocument.Parse(referrers);
            if (!index.RootElement.TryGetProperty("manifests", out var entries) || entries.ValueKind != JsonValueKind.Array) continue;
            foreach (var entry in entries.EnumerateArray())
            {
                string? type = entry.TryGetProperty("artifactType", out var t) ? t.GetString() : null;
                if (type is not (SpdxDocument.MediaType or SlsaProvenance.MediaType)) continue;
                var artifact = await client.GetManifestAsync(registry, repository, entry.GetProperty("digest").GetString()!, cancellationToken).ConfigureAwait(false);
                var manifest = ImageManifest.Parse(artifact.Bytes, artifact.MediaType);
                using var parsed = JsonDocument.Parse(artifact.Bytes);
                string? about = parsed.RootElement.TryGetProperty("subject", out var s) ? s.GetProperty("digest").GetString() : null;
                if (about != subject.ToString() || manifest.Layers.Count == 0) continue;
                byte[] document = await ReadAsync(client, registry, repository, manifest.Layers[0], cancellationToken).ConfigureAwait(false);
                if (!Describes(type, document, subject))
                    throw new LivrableException(DiagnosticCodes.AttestationSubjectMismatch,
                        $"The {type} attached to {name}@{subject} ({artifact.Digest}) is not about that image: its subject is another digest.");
                attestations++;
            }
        }
        logger.Info($"Verified {name}@{digest}: {signatures} signature(s), {attestations} attestation(s) about it.");
        return new VerificationResult(digest, signatures, attestations);
    }

    /// <summary>Whether an attestation document names <paramref name="subject"/>: a statement's subject digests, an SBOM's described image version.</summary>
    private static bool Describes(string type, byte[] document, Digest subject)
    {
        try
        {
            using var doc = JsonDocument.Parse(document);
            var root = doc.RootElement;
            if (type == SlsaProvenance.MediaType)
                return root.GetProperty("subject").EnumerateArray().Any(s => s.GetProperty("digest").TryGetProperty(subject.Algorithm, out var hex) && hex.GetString() == subject.Hex);
            return root.GetProperty("packages").EnumerateArray().Any(p => p.TryGetProperty("versionInfo", out var v) && v.GetString() == subject.ToString()
                && p.TryGetProperty("primaryPackagePurpose", out var purpose) && purpose.GetString() == "CONTAINER");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return false;
        }
    }

    private static string? PayloadDigest(byte[] payload)
    {
        try
        {
            using var doc = JsonDocument.Parse(payload);
            return doc.RootElement.GetProperty("critical").GetProperty("image").GetProperty("docker-manifest-digest").GetString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }

    private static async Task<byte[]> ReadAsync(RegistryClient client, string registry, string repository, Descriptor descriptor, CancellationToken cancellationToken)
    {
        if (descriptor.Size > RegistryClient.MaxManifestSize * 4L)
            throw new LivrableException(DiagnosticCodes.AttestationSubjectMismatch, $"The blob {descriptor.Digest} is {descriptor.Size} bytes: too large for a signature payload or an attestation.");
        await using var stream = await client.GetBlobAsync(registry, repository, descriptor, cancellationToken).ConfigureAwait(false);
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
        return copy.ToArray();
    }

    private static AsymmetricAlgorithm LoadPublicKey(string path)
        => CosignKeys.Import(CosignKeys.ReadPem(path, "public key", "ContainerVerifyKey"))
            ?? throw new LivrableException(DiagnosticCodes.SigningKeyUnusable, $"The public key '{path}' (ContainerVerifyKey) is not a PEM EC or RSA public key.");
}
