using System.Security.Cryptography;
using Livrable.Diagnostics;

namespace Livrable.SupplyChain.Signing;

/// <summary>
/// cosign's key-pair signature scheme, written once for signing and verifying: PEM keys, EC P-256 or RSA, and the two
/// signature algorithms (ECDSA with SHA-256 as an ASN.1 DER sequence, RSA PKCS#1 v1.5 with SHA-256) over the payload's
/// bytes (https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md). Messages name the key's file, never
/// its content.
/// </summary>
internal static class CosignKeys
{
    /// <summary>The PEM text of the key at <paramref name="path"/>; LIV2400 naming <paramref name="property"/> when it cannot be read.</summary>
    public static string ReadPem(string path, string what, string property)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LivrableException(DiagnosticCodes.SigningKeyUnusable, $"The {what} '{path}' ({property}) cannot be read: {e.GetType().Name}.");
        }
    }

    /// <summary>
    /// The EC or RSA key the PEM holds (a private key or a public one, as the PEM's label says); null when it holds
    /// neither. The caller owns (and disposes) what it gets.
    /// </summary>
    public static AsymmetricAlgorithm? Import(string pem)
    {
        var ec = ECDsa.Create();
        try
        {
            ec.ImportFromPem(pem);
            return ec;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            ec.Dispose();
        }
        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(pem);
            return rsa;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            rsa.Dispose();
            return null;
        }
    }

    /// <summary>The signature of <paramref name="payload"/> with a private <paramref name="key"/>.</summary>
    public static byte[] Sign(AsymmetricAlgorithm key, byte[] payload) => key switch
    {
        ECDsa ec => ec.SignData(payload, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence),
        RSA rsa => rsa.SignData(payload, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
        _ => throw new InvalidOperationException("unknown key type"),
    };

    /// <summary>Whether <paramref name="signature"/> is <paramref name="payload"/>'s under <paramref name="key"/>; a malformed signature is false.</summary>
    public static bool Verify(AsymmetricAlgorithm key, byte[] payload, byte[] signature)
    {
        try
        {
            return key switch
            {
                ECDsa ec => ec.VerifyData(payload, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence),
                RSA rsa => rsa.VerifyData(payload, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
                _ => false,
            };
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}
