using System.Security.Cryptography;
using Livrable.Diagnostics;
using Livrable.Images;

namespace Livrable.Store;

/// <summary>
/// A read-only stream that hashes and counts what passes through and, at the end, checks both against the
/// descriptor: more bytes than the size, fewer, or another digest is LIV4001. So no caller can use a blob that was
/// not what its descriptor promised, whatever the source (registry, tarball, layout, store).
/// </summary>
public sealed class VerifyingStream : ReadOnlyStreamBase
{
    private readonly Stream _inner;
    private readonly Digest _expected;
    private readonly long _size;
    private readonly string _what;
    private readonly IncrementalHash _hash;
    private long _read;
    private bool _verified;
    private readonly bool _showActual;

    private readonly Func<string, LivrableException>? _onMismatch;

    /// <summary>
    /// Checks <paramref name="inner"/> against <paramref name="expected"/> and <paramref name="size"/>.
    /// </summary>
    /// <param name="inner">The bytes to check, owned (disposed with this stream).</param>
    /// <param name="expected">The descriptor's digest.</param>
    /// <param name="size">The descriptor's size.</param>
    /// <param name="what">The blob as messages name it.</param>
    /// <param name="onMismatch">
    /// What a mismatch is reported as, given the usual message (the store evicts its damaged copy and says what to do);
    /// LIV4001 with that message when null.
    /// </param>
    /// <param name="showActual">
    /// Whether the message names the digest the bytes have: not for a file that may not be what it claims, whose
    /// hash should not be told.
    /// </param>
    public VerifyingStream(Stream inner, Digest expected, long size, string what, Func<string, LivrableException>? onMismatch = null, bool showActual = true)
    {
        _showActual = showActual;
        _inner = inner;
        _expected = expected;
        _size = size;
        _what = what;
        _onMismatch = onMismatch;
        _hash = expected.CreateHash();
    }

    /// <summary>
    /// Whether this stream, not read from yet, checks exactly <paramref name="digest"/> and <paramref name="size"/>:
    /// then whoever copies it to its end has those checked (a mismatch throws from the last read) and need not hash
    /// the bytes again (<see cref="BlobStore.PutAsync(Stream, Digest?, long?, CancellationToken)"/>).
    /// </summary>
    internal bool ChecksFromStart(Digest digest, long size) => _read == 0 && !_verified && digest == _expected && size == _size;

    /// <summary>Whether the end was reached and the bytes had the size and digest expected.</summary>
    internal bool Verified => _verified;

    private LivrableException Mismatch(string message)
        => _onMismatch?.Invoke(message) ?? new LivrableException(DiagnosticCodes.DigestMismatch, message);

    public override long Length => _size;
    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(Span<byte> buffer)
    {
        int n = _inner.Read(LimitTo(buffer));
        return Account(buffer[..n], n == 0 && buffer.Length > 0);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await _inner.ReadAsync(LimitTo(buffer), cancellationToken).ConfigureAwait(false);
        return Account(buffer.Span[..n], n == 0 && buffer.Length > 0);
    }

    /// <summary>Never asks the source for more than one byte past the promised size, so an endless body is caught at once.</summary>
    private Span<byte> LimitTo(Span<byte> buffer) => buffer[..(int)Math.Min(buffer.Length, _size - _read + 1)];

    private Memory<byte> LimitTo(Memory<byte> buffer) => buffer[..(int)Math.Min(buffer.Length, _size - _read + 1)];

    private int Account(ReadOnlySpan<byte> data, bool end)
    {
        _read += data.Length;
        if (_read > _size)
            throw Mismatch($"{_what} ({_expected}) is longer than the {_size} bytes its descriptor gives.");
        _hash.AppendData(data);
        if (end) Verify();
        return data.Length;
    }

    private void Verify()
    {
        if (_verified) return;
        _verified = true;
        if (_read != _size)
            throw Mismatch($"{_what} ({_expected}) ended after {_read} bytes; its descriptor gives {_size}.");
        var actual = _expected.WithHash(_hash.GetHashAndReset());
        if (actual != _expected)
            throw Mismatch(_showActual
                ? $"{_what} has digest {actual}, not the {_expected} its descriptor gives."
                : $"{_what} does not have the digest {_expected} its descriptor gives.");
    }

    /// <summary>Reads to the end (so the check runs) and discards the bytes.</summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[81920];
        while (await ReadAsync(buffer, cancellationToken).ConfigureAwait(false) > 0) { }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }
}
