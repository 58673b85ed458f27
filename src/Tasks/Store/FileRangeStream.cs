using Microsoft.Win32.SafeHandles;

namespace Livrable.Store;

/// <summary>
/// <paramref name="length"/> bytes of the open file <paramref name="file"/> from <paramref name="offset"/>, read with
/// positioned reads (the file's own offset is never moved, so several ranges of one handle can be read); the file stays
/// open when the stream is disposed.
/// </summary>
internal sealed class FileRangeStream(SafeFileHandle file, long offset, long length) : ReadOnlyStreamBase
{
    private long _position = offset;
    private readonly long _end = offset + length;

    public override int Read(Span<byte> buffer)
    {
        if (_position == _end) return 0;
        int n = RandomAccess.Read(file, buffer[..(int)Math.Min(buffer.Length, _end - _position)], _position);
        _position += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_position == _end) return 0;
        int n = await RandomAccess.ReadAsync(file, buffer[..(int)Math.Min(buffer.Length, _end - _position)], _position, cancellationToken).ConfigureAwait(false);
        _position += n;
        return n;
    }
}
