using System.Security.Cryptography;
using Livrable.Images;

namespace Livrable.Layers;

/// <summary>
/// A write-only pass-through that takes the sha256 and the byte count of everything written, so one pass over a layer
/// gives its diff id (hashing the tar before compression) and its digest and size (hashing after), with no temporary
/// copy. With no inner stream it only hashes and counts.
/// </summary>
public sealed class HashingStream : Stream
{
    private readonly Stream? _inner;
    private readonly bool _leaveOpen;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _length;
    private Digest? _digest;

    /// <summary>Hashes what is written and passes it on to <paramref name="inner"/> (null: passes it nowhere).</summary>
    public HashingStream(Stream? inner, bool leaveOpen = false)
    {
        _inner = inner;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Bytes written so far.</summary>
    public override long Length => _length;

    /// <summary>The sha256 digest of everything written; once asked for, no more bytes may be written.</summary>
    public Digest Digest => _digest ??= Digest.FromSha256Hash(_hash.GetHashAndReset());

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => _digest is null;
    public override long Position { get => _length; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Account(buffer);
        _inner?.Write(buffer);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Account(buffer.Span);
        return _inner?.WriteAsync(buffer, cancellationToken) ?? ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private void Account(ReadOnlySpan<byte> buffer)
    {
        if (_digest is not null) throw new InvalidOperationException("The digest was already taken; nothing more can be written.");
        _hash.AppendData(buffer);
        _length += buffer.Length;
    }

    public override void Flush() => _inner?.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => _inner?.FlushAsync(cancellationToken) ?? Task.CompletedTask;
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            if (!_leaveOpen) _inner?.Dispose();
        }
        base.Dispose(disposing);
    }
}
