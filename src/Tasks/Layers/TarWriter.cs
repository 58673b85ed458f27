using System.Buffers;
using Livrable.Diagnostics;

namespace Livrable.Layers;

/// <summary>
/// Writes a POSIX tar archive (ustar headers, PAX extended headers only where ustar cannot hold a value) whose bytes
/// depend only on the <see cref="TarHeader"/>s and contents given: nothing is read from the clock, the process or
/// the machine. <c>System.Formats.Tar</c>'s writer is not used because, in .NET 8, it names every PAX header
/// <c>PaxHeaders.&lt;pid&gt;/...</c> and adds atime and ctime records, so two runs never give the same bytes.
/// Content is streamed through one pooled buffer; no file is ever held in memory.
/// Call <see cref="FinishAsync"/> to write the end-of-archive marker; disposing alone does not.
/// </summary>
public sealed partial class TarWriter : IAsyncDisposable, IDisposable
{
    private const int BlockSize = 512;
    private const int BufferSize = 256 * 1024;
    // Below this much free room the buffer is flushed before reading content, so reads are never tiny.
    private const int MinimumRead = 64 * 1024;

    private readonly Stream _output;
    private readonly bool _leaveOpen;
    private byte[]? _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private int _used;
    private bool _finished;

    /// <summary>Writes the archive to <paramref name="output"/>.</summary>
    public TarWriter(Stream output, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite) throw new ArgumentException("The tar output must be writable.", nameof(output));
        _output = output;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Bytes of archive produced so far (buffered ones included).</summary>
    public long Position { get; private set; }

    /// <summary>When set, receives each entry's header as it is written (a reader's entry ordinals are its indexes).</summary>
    public List<TarHeader>? Headers { get; init; }

    /// <summary>
    /// Writes one entry: its header(s) and, for a regular file, exactly <see cref="TarHeader.Size"/> bytes read from
    /// <paramref name="content"/>. Throws <see cref="ArgumentException"/> for a header no tar can carry and
    /// <see cref="LivrableException"/> LIV4005 if the content is shorter or longer than the size (a file that changed
    /// while the layer was written).
    /// </summary>
    public async Task WriteEntryAsync(TarHeader header, Stream? content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(header);
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        if (_finished) throw new InvalidOperationException("The archive is finished; no entry can follow.");
        if (header.Size > 0 && content is null)
            throw new ArgumentException($"Entry '{header.Name}' has {header.Size} bytes of content but no stream to read them from.", nameof(content));
        cancellationToken.ThrowIfCancellationRequested();

        await AppendAsync(EncodeHeaders(header), cancellationToken).ConfigureAwait(false);
        Headers?.Add(header);
        if (header.Size == 0) return;

        await CopyContentAsync(header, content!, cancellationToken).ConfigureAwait(false);
        int padding = (int)(BlockSize - header.Size % BlockSize) % BlockSize;
        await AppendZerosAsync(padding, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes one regular file's entry whose <see cref="TarHeader.Size"/> bytes are those at <paramref name="offset"/>
    /// of the open file <paramref name="source"/>. Into a <see cref="FileStream"/> on Linux they are copied in the kernel
    /// (<c>Interop/Native.CopyFileRange</c>: no trip through this process's memory; extents shared where the file system
    /// can), else, and for whatever the kernel did not copy, read through the buffer as any content. LIV4005 when the
    /// source ends before the size.
    /// </summary>
    public async Task WriteEntryAsync(TarHeader header, Microsoft.Win32.SafeHandles.SafeFileHandle source, long offset, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(source);
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        if (_finished) throw new InvalidOperationException("The archive is finished; no entry can follow.");
        if (header.Type != TarTypeFlag.RegularFile)
            throw new ArgumentException($"Entry '{header.Name}' takes its bytes from a file but is not a regular file.", nameof(header));
        cancellationToken.ThrowIfCancellationRequested();

        await AppendAsync(EncodeHeaders(header), cancellationToken).ConfigureAwait(false);
        Headers?.Add(header);
        long copied = 0;
        if (_output is FileStream file && OperatingSystem.IsLinux() && header.Size > 0)
        {
            await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
            await file.FlushAsync(cancellationToken).ConfigureAwait(false);
            long at = file.Position;
            copied = Interop.Native.CopyFileRange(source, offset, file.SafeFileHandle, at, header.Size, cancellationToken);
            file.Position = at + copied;
            Position += copied;
            cancellationToken.ThrowIfCancellationRequested();
        }
        if (copied < header.Size)
        {
            var rest = header with { Size = header.Size - copied };
            await using var range = new Store.FileRangeStream(source, offset + copied, rest.Size);
            await CopyContentAsync(rest, range, cancellationToken).ConfigureAwait(false);
        }
        int padding = (int)(BlockSize - header.Size % BlockSize) % BlockSize;
        await AppendZerosAsync(padding, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes the end of the archive (two zero blocks) and flushes everything to the output.</summary>
    public async Task FinishAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        if (_finished) return;
        await AppendZerosAsync(2 * BlockSize, cancellationToken).ConfigureAwait(false);
        await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        _finished = true;
    }

    private async Task CopyContentAsync(TarHeader header, Stream content, CancellationToken cancellationToken)
    {
        long remaining = header.Size;
        while (remaining > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_buffer!.Length - _used < MinimumRead) await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
            int want = (int)Math.Min(remaining, _buffer.Length - _used);
            int n = await content.ReadAsync(_buffer.AsMemory(_used, want), cancellationToken).ConfigureAwait(false);
            if (n == 0)
                throw new LivrableException(DiagnosticCodes.LayerIo,
                    $"'{header.Name}' ended after {header.Size - remaining} of its {header.Size} bytes; was it changed while the layer was written?");
            _used += n;
            Position += n;
            remaining -= n;
        }
        var probe = new byte[1];
        if (await content.ReadAsync(probe, cancellationToken).ConfigureAwait(false) > 0)
            throw new LivrableException(DiagnosticCodes.LayerIo,
                $"'{header.Name}' has more than the {header.Size} bytes it had when the layer started; was it changed while the layer was written?");
    }

    private async Task AppendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        while (!bytes.IsEmpty)
        {
            if (_used == _buffer!.Length) await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
            int n = Math.Min(bytes.Length, _buffer.Length - _used);
            bytes.Span[..n].CopyTo(_buffer.AsSpan(_used));
            _used += n;
            Position += n;
            bytes = bytes[n..];
        }
    }

    private async Task AppendZerosAsync(int count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            if (_used == _buffer!.Length) await FlushBufferAsync(cancellationToken).ConfigureAwait(false);
            int n = Math.Min(count, _buffer.Length - _used);
            _buffer.AsSpan(_used, n).Clear();
            _used += n;
            Position += n;
            count -= n;
        }
    }

    private async Task FlushBufferAsync(CancellationToken cancellationToken)
    {
        if (_used == 0) return;
        await _output.WriteAsync(_buffer.AsMemory(0, _used), cancellationToken).ConfigureAwait(false);
        _used = 0;
    }

    /// <summary>Returns the buffer and closes the output unless told to leave it open. Unflushed bytes are dropped.</summary>
    public void Dispose()
    {
        if (_buffer is null) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
        if (!_leaveOpen) _output.Dispose();
    }

    /// <inheritdoc cref="Dispose"/>
    public async ValueTask DisposeAsync()
    {
        if (_buffer is null) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
        if (!_leaveOpen) await _output.DisposeAsync().ConfigureAwait(false);
    }
}
