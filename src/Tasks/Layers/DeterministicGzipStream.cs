using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;

namespace Livrable.Layers;

/// <summary>
/// A write-only stream that gzips what is written to it as one gzip member (RFC 1952) whose header never depends on
/// the machine or the time: no file name, MTIME 0, XFL 0 and OS 255 ("unknown"). <see cref="GZipStream"/> is not used
/// because its header records the OS it ran on, so Windows and Linux would give different bytes for the same layer.
/// The compressed body is the runtime's raw deflate; the trailer is the CRC-32 and the length modulo 2^32.
/// Input reaches the deflater in fixed-size chunks whatever the writes were: zlib-ng (.NET 9 and later) gives different
/// bytes for the same input written in different pieces, and the pieces a tar arrives in depend on how its sources
/// were read. Disposing finishes the member; until then the output is not a valid gzip file.
/// </summary>
public sealed class DeterministicGzipStream : Stream
{
    // ID1 ID2 CM=8 (deflate) FLG=0 MTIME=0 XFL=0 OS=255: https://www.rfc-editor.org/rfc/rfc1952#section-2.3
    private static readonly byte[] Header = [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xFF];

    // An empty deflate stream: one final fixed-Huffman block holding only end-of-block (RFC 1951 section 3.2.6).
    // Written by hand for empty input, whose deflater is never created: DeflateStream's output for no input is not
    // something to rely on (it has been nothing at all).
    private static readonly byte[] EmptyDeflate = [0x03, 0x00];

    private const int ChunkSize = 128 * 1024;

    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly CompressionLevel _level;
    private DeflateStream? _deflate;
    private readonly byte[] _chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
    private int _chunkUsed;
    private bool _headerWritten;
    private uint _crc;
    private long _length;
    private bool _finished;

    /// <summary>Gzips into <paramref name="inner"/> at <paramref name="level"/>.</summary>
    public DeterministicGzipStream(Stream inner, CompressionLevel level = CompressionLevel.Optimal, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!inner.CanWrite) throw new ArgumentException("The stream to gzip into must be writable.", nameof(inner));
        _inner = inner;
        _leaveOpen = leaveOpen;
        _level = level;
    }

    /// <summary>The deflater, created with the first chunk, so that empty input never reaches it.</summary>
    private DeflateStream Deflate => _deflate ??= new DeflateStream(_inner, _level, leaveOpen: true);

    /// <summary>How many uncompressed bytes have been written.</summary>
    public long UncompressedLength => _length;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_finished;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        if (!_headerWritten)
        {
            _inner.Write(Header);
            _headerWritten = true;
        }
        _crc = Crc32.Append(_crc, buffer);
        _length += buffer.Length;
        while (!buffer.IsEmpty)
        {
            int n = Math.Min(buffer.Length, ChunkSize - _chunkUsed);
            buffer[..n].CopyTo(_chunk.AsSpan(_chunkUsed));
            _chunkUsed += n;
            buffer = buffer[n..];
            if (_chunkUsed == ChunkSize)
            {
                Deflate.Write(_chunk, 0, ChunkSize);
                _chunkUsed = 0;
            }
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        if (!_headerWritten)
        {
            await _inner.WriteAsync(Header, cancellationToken).ConfigureAwait(false);
            _headerWritten = true;
        }
        _crc = Crc32.Append(_crc, buffer.Span);
        _length += buffer.Length;
        while (!buffer.IsEmpty)
        {
            int n = Math.Min(buffer.Length, ChunkSize - _chunkUsed);
            buffer.Span[..n].CopyTo(_chunk.AsSpan(_chunkUsed));
            _chunkUsed += n;
            buffer = buffer[n..];
            if (_chunkUsed == ChunkSize)
            {
                await Deflate.WriteAsync(_chunk.AsMemory(0, ChunkSize), cancellationToken).ConfigureAwait(false);
                _chunkUsed = 0;
            }
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Does nothing: a deflate flush would add a sync block and change the bytes. The member ends at dispose.</summary>
    public override void Flush() { }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>The 8-byte trailer: CRC-32 then ISIZE (length modulo 2^32), both little-endian.</summary>
    private byte[] Trailer()
    {
        var trailer = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, _crc);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer.AsSpan(4), unchecked((uint)_length));
        return trailer;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_finished)
        {
            _finished = true;
            try
            {
                if (!_headerWritten) _inner.Write(Header);
                if (_chunkUsed > 0) Deflate.Write(_chunk, 0, _chunkUsed);
                if (_deflate is null) _inner.Write(EmptyDeflate);
                else _deflate.Dispose();
                _inner.Write(Trailer());
                _inner.Flush();
            }
            finally
            {
                ReturnChunk();
                if (!_leaveOpen) _inner.Dispose();
            }
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_finished)
        {
            _finished = true;
            try
            {
                if (!_headerWritten) await _inner.WriteAsync(Header).ConfigureAwait(false);
                if (_chunkUsed > 0) await Deflate.WriteAsync(_chunk.AsMemory(0, _chunkUsed)).ConfigureAwait(false);
                if (_deflate is null) await _inner.WriteAsync(EmptyDeflate).ConfigureAwait(false);
                else await _deflate.DisposeAsync().ConfigureAwait(false);
                await _inner.WriteAsync(Trailer()).ConfigureAwait(false);
                await _inner.FlushAsync().ConfigureAwait(false);
            }
            finally
            {
                ReturnChunk();
                if (!_leaveOpen) await _inner.DisposeAsync().ConfigureAwait(false);
            }
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Called once, when the member is finished; no write can follow.</summary>
    private void ReturnChunk() => ArrayPool<byte>.Shared.Return(_chunk);
}
