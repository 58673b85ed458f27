namespace Livrable.Store;

/// <summary>
/// The base of Livrable's read-only wrappers: it can be read forward and nothing else, so a subclass writes only its
/// reads (and, where it knows them, <see cref="Length"/> and <see cref="Position"/>).
/// </summary>
public abstract class ReadOnlyStreamBase : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Every subclass reads spans; the array overload above comes here.</summary>
    public abstract override int Read(Span<byte> buffer);

    /// <summary>Every subclass reads memory asynchronously; the array overload above comes here.</summary>
    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>
/// A read-only view of a stream that, disposed, disposes the stream and then <c>owned</c>: a decompressor that leaves
/// its input open, or an HTTP response whose body this is (so the connection goes back to the pool).
/// </summary>
internal sealed class OwningStream(Stream inner, IDisposable owned) : ReadOnlyStreamBase
{
    public override int Read(Span<byte> buffer) => inner.Read(buffer);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => inner.ReadAsync(buffer, cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            owned.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>A read-only view of a stream whose disposal leaves the stream open (so the rest of a blob can still be read).</summary>
internal sealed class NonDisposingStream(Stream inner) : ReadOnlyStreamBase
{
    public override bool CanRead => inner.CanRead;
    public override int Read(Span<byte> buffer) => inner.Read(buffer);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => inner.ReadAsync(buffer, cancellationToken);
}
