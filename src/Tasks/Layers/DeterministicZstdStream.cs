using System.IO.Compression;
using SharpCompress.Compressors.ZStandard;
using SharpCompress.Compressors.ZStandard.Unsafe;

namespace Livrable.Layers;

/// <summary>
/// A write-only stream that compresses what is written to it as one zstd frame (RFC 8878) with a content checksum,
/// using zstd's own multi-threaded mode (SharpCompress's port of libzstd, ZstdSharp) on
/// <see cref="Environment.ProcessorCount"/> workers. Its bytes depend only on the input and the level: zstd cuts the
/// input into jobs of a size set by the level, never by the worker count or the write sizes, so one worker and eight
/// give the same frame (the tests check 1, 2 and 8 workers and several write sizes). Single-threaded mode
/// (<c>nbWorkers = 0</c>) gives other bytes, so it is never used, even on one core.
/// Flushes are ignored: a zstd flush ends a block early and changes the bytes. Disposing ends the frame.
/// </summary>
public sealed class DeterministicZstdStream : Stream
{
    private readonly Compressor _compressor;
    private readonly CompressionStream _zstd;
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private bool _finished;

    /// <summary>Compresses into <paramref name="inner"/> at <paramref name="level"/>, on <paramref name="workers"/> threads (all cores when null).</summary>
    public DeterministicZstdStream(Stream inner, CompressionLevel level = CompressionLevel.Optimal, bool leaveOpen = false, int? workers = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (workers is < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "At least one worker is needed.");
        _inner = inner;
        _leaveOpen = leaveOpen;
        _compressor = new Compressor(Level(level));
        _compressor.SetParameter(ZSTD_cParameter.ZSTD_c_nbWorkers, workers ?? Math.Max(1, Environment.ProcessorCount));
        _compressor.SetParameter(ZSTD_cParameter.ZSTD_c_checksumFlag, 1);
        _zstd = new CompressionStream(inner, _compressor, 1 << 17, preserveCompressor: true, leaveOpen: true);
        // zstd writes a one-shot frame (content size known, single segment) when its first call already ends the
        // frame, that is when nothing was written before dispose, and a streaming frame otherwise: so no input and
        // one empty write would give different bytes. An empty write first makes every frame a streaming one.
        _zstd.Write(ReadOnlySpan<byte>.Empty);
    }

    /// <summary>
    /// zstd's level for a .NET level: 3 (zstd's default) for Optimal, 1 for Fastest and NoCompression, 19 (the highest
    /// without --ultra's memory) for SmallestSize.
    /// </summary>
    public static int Level(CompressionLevel level) => level switch
    {
        CompressionLevel.Fastest or CompressionLevel.NoCompression => 1,
        CompressionLevel.SmallestSize => 19,
        _ => 3,
    };

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_finished;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        _zstd.Write(buffer);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        return _zstd.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Does nothing: a zstd flush would end a block early and change the bytes. The frame ends at dispose.</summary>
    public override void Flush() { }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_finished)
        {
            _finished = true;
            try
            {
                _zstd.Dispose();
                _inner.Flush();
            }
            finally
            {
                _compressor.Dispose();
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
                await _zstd.DisposeAsync().ConfigureAwait(false);
                await _inner.FlushAsync().ConfigureAwait(false);
            }
            finally
            {
                _compressor.Dispose();
                if (!_leaveOpen) await _inner.DisposeAsync().ConfigureAwait(false);
            }
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
