using System.Buffers.Binary;
using System.IO.Compression;
using System.Threading.Channels;
using Livrable.Diagnostics;

namespace Livrable.Layers;

/// <summary>
/// A write-only stream that gzips what is written to it as ONE gzip member (RFC 1952), compressed on several cores the
/// way pigz does, whose bytes depend only on the input bytes and the compression level: never on the number of cores,
/// the thread timing or how the input was cut into writes. That is Livrable's reproducibility promise (the same layer
/// digest on any machine).
/// <para>
/// The input is cut into fixed blocks of <see cref="BlockSize"/> bytes. Each block is deflated on its own by one of a
/// bounded set of workers, with a fresh deflater, and ended with a sync flush (an empty stored block,
/// <c>00 00 FF FF</c>, RFC 1951 section 3.2.4), which leaves the stream byte-aligned and not final, so the blocks
/// concatenate into one raw deflate stream; only the last block is finished (BFINAL set). The header is fixed (no file
/// name, MTIME 0, XFL 0, OS 255 "unknown", so Windows and Linux agree; <see cref="GZipStream"/> would record the OS),
/// the trailer is the CRC-32 and the length modulo 2^32 of the whole input.
/// </para>
/// <para>
/// Memory is bounded whatever the layer size: at most <see cref="MaxBlocksInFlight"/> blocks (input and output
/// buffers) exist at once; a write waits for the oldest block to be compressed and written before it starts a new one.
/// Disposing finishes the member; until then the output is not a valid gzip file.
/// </para>
/// </summary>
public sealed class DeterministicGzipStream : Stream
{
    /// <summary>
    /// How much input each block holds: 1 MiB. Part of the output format (another size gives other bytes), so it is a
    /// constant, never tuned to the machine. Each block starts with an empty history (.NET's deflater cannot be primed
    /// with the previous block's last 32 KiB as pigz does), which costs about 32 KiB worth of weaker matches per block:
    /// under half a percent of size at 1 MiB, where pigz's 128 KiB blocks would cost a few percent without priming.
    /// Larger blocks would parallelize small layers less (a 4 MiB layer is 4 blocks) and hold more memory in flight.
    /// </summary>
    public const int BlockSize = 1 << 20;

    // ID1 ID2 CM=8 (deflate) FLG=0 MTIME=0 XFL=0 OS=255: https://www.rfc-editor.org/rfc/rfc1952#section-2.3
    private static readonly byte[] Header = [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xFF];

    // An empty final deflate block: one fixed-Huffman block holding only end-of-block (RFC 1951 section 3.2.6).
    // Ends the stream when the last block has no input (empty input, or an input that is a whole number of blocks):
    // DeflateStream's output for no input is not something to rely on (it has been nothing at all).
    private static readonly byte[] EmptyFinalBlock = [0x03, 0x00];

    // What a sync flush ends with: an empty stored block's LEN and NLEN (RFC 1951 section 3.2.4).
    private static readonly byte[] SyncFlushMarker = [0x00, 0x00, 0xFF, 0xFF];

    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly CompressionLevel _level;
    private readonly int _workers;
    private readonly Channel<Block> _work = Channel.CreateUnbounded<Block>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly List<Task> _workerTasks = [];
    private readonly Queue<Block> _inFlight = new();
    private readonly Stack<Block> _free = new();
    private Block? _current;
    private bool _headerWritten;
    private uint _crc;
    private long _length;
    private bool _finished;

    /// <summary>
    /// Gzips into <paramref name="inner"/> at <paramref name="level"/>, with <paramref name="workers"/> threads
    /// compressing (<see cref="Environment.ProcessorCount"/> when null); the bytes are the same for any number.
    /// </summary>
    public DeterministicGzipStream(Stream inner, CompressionLevel level = CompressionLevel.Optimal, bool leaveOpen = false, int? workers = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (!inner.CanWrite) throw new ArgumentException("The stream to gzip into must be writable.", nameof(inner));
        if (workers is < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "At least one worker is needed.");
        _inner = inner;
        _leaveOpen = leaveOpen;
        _level = level;
        _workers = workers ?? Math.Max(1, Environment.ProcessorCount);
        // Two per worker: while one block is being compressed the next is already queued, so no worker waits for the
        // writer, and the writer fills a block while the oldest is written out.
        MaxBlocksInFlight = 2 * _workers;
    }

    /// <summary>How many uncompressed bytes have been written.</summary>
    public long UncompressedLength => _length;

    /// <summary>How many threads compress blocks.</summary>
    public int Workers => _workers;

    /// <summary>The most blocks queued or being compressed at once (besides the one being filled): the memory bound.</summary>
    public int MaxBlocksInFlight { get; }

    /// <summary>How many blocks (each an input and an output buffer) this stream has allocated: at most <see cref="MaxBlocksInFlight"/> + 1.</summary>
    public int BlocksAllocated { get; private set; }

    /// <summary>The most blocks that were in flight at once so far.</summary>
    public int PeakBlocksInFlight { get; private set; }

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
            var block = _current ??= TakeBlock(WaitSync);
            int n = Math.Min(buffer.Length, BlockSize - block.Length);
            buffer[..n].CopyTo(block.Input.AsSpan(block.Length));
            block.Length += n;
            buffer = buffer[n..];
            if (block.Length == BlockSize) Submit(final: false);
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
            if (_current is null)
            {
                // A free block, or one freed by writing out the oldest block in flight.
                if (_free.Count == 0 && _inFlight.Count >= MaxBlocksInFlight)
                    await WriteOldestAsync(cancellationToken).ConfigureAwait(false);
                _current = TakeBlock(wait: null);
            }
            var block = _current;
            int n = Math.Min(buffer.Length, BlockSize - block.Length);
            buffer.Span[..n].CopyTo(block.Input.AsSpan(block.Length));
            block.Length += n;
            buffer = buffer[n..];
            if (block.Length == BlockSize) Submit(final: false);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Does nothing: a flush would end a block early and change the bytes. The member ends at dispose.</summary>
    public override void Flush() { }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>A free block; when none is free and the bound is reached, <paramref name="wait"/> writes out the oldest first.</summary>
    private Block TakeBlock(Action? wait)
    {
        if (_free.Count == 0 && _inFlight.Count >= MaxBlocksInFlight) wait?.Invoke();
        if (_free.TryPop(out var block)) return block;
        BlocksAllocated++;
        return new Block();
    }

    private void WaitSync() => WriteOldestAsync(CancellationToken.None, sync: true).AsTask().GetAwaiter().GetResult();

    /// <summary>Queues the current block for a worker; starts a worker when fewer than <see cref="Workers"/> run.</summary>
    private void Submit(bool final)
    {
        var block = _current!;
        _current = null;
        block.Final = final;
        block.Done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _inFlight.Enqueue(block);
        PeakBlocksInFlight = Math.Max(PeakBlocksInFlight, _inFlight.Count);
        _work.Writer.TryWrite(block);
        if (_workerTasks.Count < _workers && _workerTasks.Count < _inFlight.Count)
            _workerTasks.Add(Task.Run(WorkAsync));
    }

    /// <summary>A worker: compresses queued blocks until the writer is done.</summary>
    private async Task WorkAsync()
    {
        await foreach (var block in _work.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                Compress(block);
                block.Done!.TrySetResult();
            }
            catch (Exception e)
            {
                block.Done!.TrySetException(e);
            }
        }
    }

    /// <summary>
    /// Deflates one block with a fresh deflater. <see cref="DeflateStream.Flush()"/> is a zlib <c>Z_SYNC_FLUSH</c>: it
    /// writes everything pending and ends with an empty stored block, byte-aligned; disposing then adds a final empty
    /// block (<c>Z_FINISH</c>), which is cut off again for every block but the last.
    /// </summary>
    private void Compress(Block block)
    {
        var output = block.Output;
        output.SetLength(0);
        if (block.Length == 0)
        {
            output.Write(EmptyFinalBlock); // only the last block can be empty
            return;
        }
        long flushed = -1;
        using (var deflate = new DeflateStream(output, _level, leaveOpen: true))
        {
            deflate.Write(block.Input, 0, block.Length);
            if (!block.Final)
            {
                deflate.Flush();
                flushed = output.Length;
            }
        }
        if (block.Final) return;
        output.SetLength(flushed);
        // A runtime whose Flush did not sync-flush would give blocks that do not concatenate: refuse, never write a corrupt layer.
        if (flushed < SyncFlushMarker.Length || !output.GetBuffer().AsSpan((int)flushed - SyncFlushMarker.Length, SyncFlushMarker.Length).SequenceEqual(SyncFlushMarker))
            throw new LivrableException(DiagnosticCodes.DeflateFlushUnsupported,
                "The runtime's DeflateStream.Flush() did not end a block with a sync flush, so parallel gzip blocks cannot be joined; this runtime is not supported.");
    }

    /// <summary>Waits for the oldest block in flight, writes its compressed bytes, and frees it.</summary>
    private async ValueTask WriteOldestAsync(CancellationToken cancellationToken, bool sync = false)
    {
        var block = _inFlight.Dequeue();
        try
        {
            if (sync) block.Done!.Task.GetAwaiter().GetResult();
            else await block.Done!.Task.ConfigureAwait(false);
            var bytes = block.Output.GetBuffer().AsMemory(0, (int)block.Output.Length);
            if (sync) _inner.Write(bytes.Span);
            else await _inner.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            block.Length = 0;
            _free.Push(block);
        }
    }

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
                _current ??= TakeBlock(WaitSync);
                Submit(final: true);
                while (_inFlight.Count > 0) WaitSync();
                _inner.Write(Trailer());
                _inner.Flush();
            }
            finally
            {
                StopWorkers().GetAwaiter().GetResult();
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
                if (_current is null)
                {
                    if (_free.Count == 0 && _inFlight.Count >= MaxBlocksInFlight) await WriteOldestAsync(CancellationToken.None).ConfigureAwait(false);
                    _current = TakeBlock(wait: null);
                }
                Submit(final: true);
                while (_inFlight.Count > 0) await WriteOldestAsync(CancellationToken.None).ConfigureAwait(false);
                await _inner.WriteAsync(Trailer()).ConfigureAwait(false);
                await _inner.FlushAsync().ConfigureAwait(false);
            }
            finally
            {
                await StopWorkers().ConfigureAwait(false);
                if (!_leaveOpen) await _inner.DisposeAsync().ConfigureAwait(false);
            }
        }
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Ends the workers; blocks still queued (after a failure) are compressed and dropped, which is bounded work.</summary>
    private Task StopWorkers()
    {
        _work.Writer.TryComplete();
        return Task.WhenAll(_workerTasks);
    }

    /// <summary>One block: its input, its compressed output, and when the output is ready. Reused once written out.</summary>
    private sealed class Block
    {
        public readonly byte[] Input = new byte[BlockSize];

        // Deflate of 1 MiB of incompressible input is at most a few hundred bytes larger; the stream grows if needed.
        public readonly MemoryStream Output = new(BlockSize + 4096);
        public int Length;
        public bool Final;
        public TaskCompletionSource? Done;
    }
}
