namespace Livrable.Layers;

/// <summary>How a layer blob or a tar file is compressed, as its first bytes show it; a file's name is never trusted.</summary>
internal enum BlobCompression
{
    /// <summary>No known magic: a plain tar, or something that is not one.</summary>
    None,

    /// <summary><c>1F 8B</c> (RFC 1952).</summary>
    Gzip,

    /// <summary><c>28 B5 2F FD</c> (RFC 8878).</summary>
    Zstd,

    /// <summary><c>BZh</c>.</summary>
    Bzip2,

    /// <summary><c>FD 37 7A 58 5A 00</c>.</summary>
    Xz,
}

/// <summary>Reads <see cref="BlobCompression"/> from the magic bytes at the start of a blob or file.</summary>
internal static class CompressionMagic
{
    /// <summary>How many leading bytes <see cref="Detect(ReadOnlySpan{byte})"/> looks at, at most (xz's magic).</summary>
    public const int Length = 6;

    /// <summary>The compression whose magic <paramref name="head"/> starts with; <see cref="BlobCompression.None"/> when none does.</summary>
    public static BlobCompression Detect(ReadOnlySpan<byte> head)
        => head.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B]) ? BlobCompression.Gzip
            : head.StartsWith((ReadOnlySpan<byte>)[0x28, 0xB5, 0x2F, 0xFD]) ? BlobCompression.Zstd
            : head.StartsWith("BZh"u8) ? BlobCompression.Bzip2
            : head.StartsWith((ReadOnlySpan<byte>)[0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0]) ? BlobCompression.Xz
            : BlobCompression.None;

    /// <summary>Reads the first bytes of <paramref name="stream"/> (from where it is) and tells their compression; the stream is left after them.</summary>
    public static BlobCompression Detect(Stream stream)
    {
        Span<byte> head = stackalloc byte[Length];
        int n = stream.ReadAtLeast(head, Length, throwOnEndOfStream: false);
        return Detect(head[..n]);
    }

    /// <inheritdoc cref="Detect(Stream)"/>
    public static async Task<BlobCompression> DetectAsync(Stream stream, CancellationToken cancellationToken)
    {
        var head = new byte[Length];
        int n = await stream.ReadAtLeastAsync(head, Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        return Detect(head.AsSpan(0, n));
    }

    /// <summary>The tool's name for a compression, for messages (<c>gzip</c>, <c>zstd</c>, <c>bzip2</c>, <c>xz</c>).</summary>
    public static string Name(BlobCompression compression) => compression switch
    {
        BlobCompression.Gzip => "gzip",
        BlobCompression.Zstd => "zstd",
        BlobCompression.Bzip2 => "bzip2",
        BlobCompression.Xz => "xz",
        _ => "no compression",
    };
}
