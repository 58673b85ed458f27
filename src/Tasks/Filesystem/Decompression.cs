using Livrable.Layers;
using Livrable.Store;
using System.IO.Compression;
using SharpCompress.Compressors.BZip2;
using SharpCompress.Compressors.Xz;
using SharpCompress.Compressors.ZStandard;

namespace Livrable.Filesystem;

/// <summary>
/// Sniffs a stream's compression from its magic bytes and opens the decompressed bytes: gzip with the base library,
/// bzip2, xz and zstd with SharpCompress. Concatenated members (pigz, pbzip2, multi-frame zstd) are read through.
/// </summary>
internal static class Decompression
{
    /// <summary>
    /// How many decompressed bytes a base layer may hold (16 GiB, ADD's limit too): past it the layer is refused as
    /// a decompression bomb (LIV4202) before it fills the disk. Deflate reaches about 1000:1, so a 16 MiB blob of
    /// zeros is enough to pass it; no real layer comes close.
    /// </summary>
    public const long DefaultMaxBytes = 16L << 30;

    /// <summary>
    /// Reads the magic bytes of <paramref name="raw"/> and returns a stream of its decompressed bytes, which owns
    /// <paramref name="raw"/>. A stream with no known magic is returned as it is (with its first bytes put back).
    /// </summary>
    public static async Task<(Stream Stream, BlobCompression Compression)> OpenAsync(Stream raw, CancellationToken cancellationToken)
    {
        var head = new byte[CompressionMagic.Length];
        int n = await raw.ReadAtLeastAsync(head, CompressionMagic.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        var compression = CompressionMagic.Detect(head.AsSpan(0, n));
        Stream replay = new PrefixedStream(head.AsMemory(0, n), raw);
        Stream result = compression switch
        {
            BlobCompression.Gzip => new GZipStream(replay, CompressionMode.Decompress, leaveOpen: false),
            BlobCompression.Bzip2 or BlobCompression.Xz or BlobCompression.Zstd => OpenWithSharpCompress(replay, compression),
            _ => replay,
        };
        return (result, compression);
    }

    /// <summary>
    /// bzip2, xz and zstd: in a method of their own, so that compiling <see cref="OpenAsync"/> for the common gzip layer
    /// does not load SharpCompress (an assembly load and its types on every cold build's first tree).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static Stream OpenWithSharpCompress(Stream replay, BlobCompression compression) => compression switch
    {
        BlobCompression.Bzip2 => BZip2Stream.Create(replay, SharpCompress.Compressors.CompressionMode.Decompress,
            decompressConcatenated: true, leaveOpen: false, tolerateTruncatedStream: false),
        BlobCompression.Xz => new OwningStream(new XZStream(replay), replay),
        _ => new DecompressionStream(replay, leaveOpen: false),
    };

    /// <summary>Whether an exception comes from corrupt compressed bytes rather than from I/O.</summary>
    /// <remarks>A tar reader's format errors (<see cref="TarReading.IsFormatError"/>) and the decompressors' own.</remarks>
    public static bool IsFormatError(Exception e)
        => TarReading.IsFormatError(e) || e is InvalidOperationException or SharpCompress.Common.SharpCompressException or ZstdException;
}

/// <summary>Reads a few bytes already taken from a stream, then the rest of the stream; disposing disposes the stream.</summary>
/// <remarks>Its <see cref="Position"/> is the count of bytes read, which SharpCompress's xz reader needs for block padding.</remarks>
internal sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner) : ReadOnlyStreamBase
{
    private ReadOnlyMemory<byte> _prefix = prefix;
    private long _read;

    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(Span<byte> buffer)
    {
        int n;
        if (_prefix.IsEmpty) n = inner.Read(buffer);
        else
        {
            n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
        }
        _read += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n;
        if (_prefix.IsEmpty) n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        else
        {
            n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer.Span);
            _prefix = _prefix[n..];
        }
        _read += n;
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>Counts the bytes read through it and fails past a limit: the cap against decompression bombs.</summary>
internal sealed class LimitedStream(Stream inner, long limit, Func<Exception> tooLarge) : ReadOnlyStreamBase
{
    public long BytesRead { get; private set; }

    public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

    private int Count(int n)
    {
        BytesRead += n;
        if (BytesRead > limit) throw tooLarge();
        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
