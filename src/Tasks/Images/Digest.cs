using System.Security.Cryptography;
using Livrable.Diagnostics;

namespace Livrable.Images;

/// <summary>
/// A content digest, <c>algorithm:encoded</c>, as the OCI image spec defines it
/// (https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests).
/// Only sha256 and sha512 are accepted, with lowercase hex of exactly the right length, so a crafted digest
/// can never become a path like <c>blobs/sha256/../../x</c>.
/// </summary>
public readonly record struct Digest
{
    private Digest(string algorithm, string hex)
    {
        Algorithm = algorithm;
        Hex = hex;
    }

    /// <summary><c>sha256</c> or <c>sha512</c>.</summary>
    public string Algorithm { get; }

    /// <summary>The lowercase hex encoding.</summary>
    public string Hex { get; }

    /// <summary>Parses <paramref name="value"/> or throws LIV4003.</summary>
    public static Digest Parse(string value)
        => TryParse(value, out var digest)
            ? digest
            : throw new LivrableException(DiagnosticCodes.InvalidDigest,
                $"'{Truncate(value)}' is not a digest: expected sha256: followed by 64 lowercase hex digits (or sha512: and 128).");

    /// <summary>Parses <paramref name="value"/> without throwing.</summary>
    public static bool TryParse(string? value, out Digest digest)
    {
        digest = default;
        if (value is null) return false;
        int colon = value.IndexOf(':');
        if (colon <= 0) return false;
        string algorithm = value[..colon];
        string hex = value[(colon + 1)..];
        int expected = algorithm switch { "sha256" => 64, "sha512" => 128, _ => -1 };
        if (hex.Length != expected) return false;
        foreach (char c in hex)
            if (!(c is >= '0' and <= '9' or >= 'a' and <= 'f')) return false;
        digest = new Digest(algorithm, hex);
        return true;
    }

    /// <summary>The sha256 digest of <paramref name="bytes"/>.</summary>
    public static Digest Sha256(ReadOnlySpan<byte> bytes) => FromSha256Hash(SHA256.HashData(bytes));

    /// <summary>A sha256 digest from the 32 bytes of a finished hash.</summary>
    public static Digest FromSha256Hash(ReadOnlySpan<byte> hash)
    {
        if (hash.Length != 32) throw new ArgumentException("A sha256 hash is 32 bytes.", nameof(hash));
        return new Digest("sha256", Convert.ToHexString(hash).ToLowerInvariant());
    }

    /// <summary>A fresh hash of this digest's algorithm, to check bytes against it.</summary>
    public IncrementalHash CreateHash() => IncrementalHash.CreateHash(
        Algorithm == "sha512" ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);

    /// <summary>The digest of a finished hash of this digest's algorithm.</summary>
    public Digest WithHash(ReadOnlySpan<byte> hash) => new(Algorithm, Convert.ToHexString(hash).ToLowerInvariant());

    public override string ToString() => Algorithm is null ? "" : $"{Algorithm}:{Hex}";

    private static string Truncate(string? s) => s is null ? "(null)" : s.Length > 80 ? s[..80] + "..." : s;
}
