using System.Security.Cryptography;
using Livrable.Diagnostics;
using Livrable.Images;

namespace Livrable.SupplyChain.Signing;

/// <summary>
/// Signs pushed manifests as cosign does with a key pair
/// (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md): the payload is a "simple signing" JSON
/// document naming the docker reference and the manifest digest
/// (https://github.com/containers/image/blob/main/docs/containers-signature.5.md); the signature is ECDSA P-256 with
/// SHA-256 (ASN.1 DER) or RSA PKCS#1 v1.5 with SHA-256 over the payload's bytes, base64 in the
/// <c>dev.cosignproject.cosign/signature</c> annotation of the payload's layer; the manifest is tagged
/// <c>sha256-HEX.sig</c>. The key's bytes stay in this object; nothing here logs them or puts them in a message.
/// </summary>
public sealed class CosignSigner : IDisposable
{
    /// <summary>The media type of a simple-signing payload layer.</summary>
    public const string PayloadMediaType = "application/vnd.dev.cosign.simplesigning.v1+json";

    /// <summary>The annotation that carries the base64 signature.</summary>
    public const string SignatureAnnotation = "dev.cosignproject.cosign/signature";

    private readonly AsymmetricAlgorithm _key;

    private CosignSigner(AsymmetricAlgorithm key) => _key = key;

    /// <summary>
    /// The signer of the PEM private key at <paramref name="path"/>: PKCS#8 (<c>BEGIN PRIVATE KEY</c>) or SEC 1
    /// (<c>BEGIN EC PRIVATE KEY</c>) EC P-256, or PKCS#8 / PKCS#1 RSA of 2048 bits or more. LIV2400 for anything else
    /// (the message names the file, never its content).
    /// </summary>
    public static CosignSigner Load(string path)
    {
        string pem = CosignKeys.ReadPem(path, "signing key", "ContainerSigningKey");
        if (pem.Contains("ENCRYPTED", StringComparison.Ordinal))
            throw new LivrableException(DiagnosticCodes.SigningKeyUnusable,
                $"The signing key '{path}' (ContainerSigningKey) is encrypted; give an unencrypted PKCS#8 PEM key (openssl pkcs8 -topk8 -nocrypt), kept out of the repository.");
        if (pem.Contains("PUBLIC KEY-----", StringComparison.Ordinal))
            throw new LivrableException(DiagnosticCodes.SigningKeyUnusable,
                $"The signing key '{path}' (ContainerSigningKey) is a public key: sign with its private key (ContainerVerifyKey takes the public one).");
        var key = CosignKeys.Import(pem);
        string? problem = key switch
        {
            null => $"The signing key '{path}' (ContainerSigningKey) is not a PEM private key Livrable can use: PKCS#8 EC P-256 or RSA.",
            ECDsa { KeySize: not 256 } ec => $"The signing key '{path}' is an EC key of {ec.KeySize} bits; cosign's keys are P-256.",
            RSA { KeySize: < 2048 } rsa => $"The signing key '{path}' is an RSA key of {rsa.KeySize} bits; use 2048 or more.",
            _ => null,
        };
        if (problem is not null)
        {
            key?.Dispose();
            throw new LivrableException(DiagnosticCodes.SigningKeyUnusable, problem);
        }
        return new CosignSigner(key!);
    }

    /// <summary>The simple-signing payload for <paramref name="dockerReference"/> (<c>registry/repository</c>) at <paramref name="digest"/>.</summary>
    public static byte[] Payload(string dockerReference, Digest digest) => Json.Write(w =>
    {
        w.WriteStartObject();
        w.WriteStartObject("critical");
        w.WriteStartObject("identity");
        w.WriteString("docker-reference", dockerReference);
        w.WriteEndObject();
        w.WriteStartObject("image");
        w.WriteString("docker-manifest-digest", digest.ToString());
        w.WriteEndObject();
        w.WriteString("type", "cosign container image signature");
        w.WriteEndObject();
        w.WriteNull("optional");
        w.WriteEndObject();
    });

    /// <summary>The signature of <paramref name="payload"/>: DER ECDSA or PKCS#1 v1.5 RSA, SHA-256.</summary>
    public byte[] Sign(byte[] payload) => CosignKeys.Sign(_key, payload);

    /// <summary>The cosign signature tag of <paramref name="digest"/>: <c>sha256-HEX.sig</c>.</summary>
    public static string TagFor(Digest digest) => $"{digest.Algorithm}-{digest.Hex}.sig";

    /// <summary>
    /// The signature image of one payload: an OCI manifest whose config lists the payload as its one layer and whose
    /// layer carries the signature annotation. Returns the manifest and its blobs (config, payload).
    /// </summary>
    public static (byte[] Manifest, IReadOnlyList<(Descriptor Descriptor, byte[] Bytes)> Blobs) SignatureImage(byte[] payload, byte[] signature)
    {
        var payloadDigest = Digest.Sha256(payload);
        byte[] config = Json.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("architecture", "");
            w.WriteStartObject("config");
            w.WriteEndObject();
            w.WriteString("created", "0001-01-01T00:00:00Z");
            w.WriteStartArray("history");
            w.WriteStartObject();
            w.WriteString("created", "0001-01-01T00:00:00Z");
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteString("os", "");
            w.WriteStartObject("rootfs");
            w.WriteString("type", "layers");
            w.WriteStartArray("diff_ids");
            w.WriteStringValue(payloadDigest.ToString());
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        });
        var configDescriptor = new Descriptor(MediaTypes.OciConfig, Digest.Sha256(config), config.Length);
        var layer = new Descriptor(PayloadMediaType, payloadDigest, payload.Length)
        {
            Annotations = new Dictionary<string, string> { [SignatureAnnotation] = Convert.ToBase64String(signature) },
        };
        var manifest = new ImageManifest(MediaTypes.OciManifest, configDescriptor, [layer]).ToBytes();
        return (manifest, [(configDescriptor, config), (layer with { Annotations = null }, payload)]);
    }

    public void Dispose() => _key.Dispose();
}
