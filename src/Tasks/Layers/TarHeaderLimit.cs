using System.Buffers.Text;
using System.Text;
using Livrable.Diagnostics;

namespace Livrable.Layers;

/// <summary>
/// A read-only view of a tar that follows its headers as <see cref="System.Formats.Tar.TarReader"/> reads them and
/// refuses (LIV4060) a PAX extended header (<c>x</c>, <c>g</c>) or a GNU long name or long link (<c>L</c>, <c>K</c>)
/// whose data is over <see cref="TarReading.MaxMetadataBytes"/> before the reader allocates it: .NET reads such a header
/// whole into memory (up to 2 GiB, then a long name as a string), so a 1.5 GiB PAX header is an out-of-memory crash and
/// a 100 MB long name a 210 MB error line. Go's <c>archive/tar</c> has refused headers over 1 MiB since CVE-2022-2879.
/// </summary>
/// <remarks>
/// The view counts bytes: after each 512-byte header block it knows how many data and padding bytes follow (the size
/// field, or the <c>size</c> record of a preceding PAX header; none for the header-only types, as Go reads them). A
/// block whose checksum is wrong is not a header: the view stops following and the reader reports the bad tar. Seeking
/// forward over data (what the reader does on a seekable stream) is followed too.
/// </remarks>
internal sealed class TarHeaderLimit : Stream
{
    private const int Block = 512;

    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly long _max;
    private readonly byte[] _header = new byte[Block];
    private int _headerFill;
    private long _skip;
    private MemoryStream? _pax;
    private long _paxLeft;
    private long? _paxSize;
    private byte[]? _paxCapability;
    private bool _lost;

    private readonly bool _forwardOnly;

    /// <summary>
    /// A view of <paramref name="inner"/>; with <paramref name="forwardOnly"/> it is seen as not seekable, so the reader
    /// reads every byte through it and it follows every header (<see cref="Capability"/>): a reader that reads the data
    /// of every entry loses nothing by it.
    /// </summary>
    public TarHeaderLimit(Stream inner, bool leaveOpen, long max = TarReading.MaxMetadataBytes, bool forwardOnly = false)
    {
        _forwardOnly = forwardOnly;
        _inner = inner;
        _leaveOpen = leaveOpen;
        _max = max;
    }

    /// <summary>
    /// The raw bytes of the <c>SCHILY.xattr.security.capability</c> record (<see cref="FileCapability"/>) of the entry
    /// whose header was read last; null when it has none. <see cref="System.Formats.Tar.TarReader"/> gives PAX values
    /// as UTF-8 text, which replaces the binary value's invalid bytes, so the extraction takes it from here. Null too
    /// once the view stopped following the headers.
    /// </summary>
    public byte[]? Capability => _lost ? null : _capability;

    private byte[]? _capability;

    public override bool CanRead => true;
    public override bool CanSeek => !_forwardOnly && _inner.CanSeek;
    public override bool CanWrite => false;
    public override long Length => _inner.Length;

    public override long Position
    {
        get => _inner.Position;
        set => Seek(value, SeekOrigin.Begin);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = _inner.Read(buffer);
        Follow(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Follow(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override long Seek(long offset, SeekOrigin origin)
    {
        long from = _inner.Position;
        long to = _inner.Seek(offset, origin);
        long moved = to - from;
        if (_lost || moved == 0) return to;
        // The reader only skips data it does not want; anything else and the view no longer knows where headers are.
        if (moved < 0 || moved > _skip || _headerFill != 0)
        {
            _lost = true;
            return to;
        }
        _skip -= moved;
        if (_pax is not null)
        {
            // A PAX header's records skipped unread: its size record (if any) is unknown, so stop following.
            _lost = true;
        }
        return to;
    }

    private void Follow(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0 && !_lost)
        {
            if (_skip > 0)
            {
                int n = (int)Math.Min(_skip, data.Length);
                if (_pax is not null)
                {
                    int take = (int)Math.Min(_paxLeft, n);
                    _pax.Write(data[..take]);
                    _paxLeft -= take;
                    if (_paxLeft == 0)
                    {
                        (_paxSize, _paxCapability) = ReadPax(_pax.GetBuffer().AsSpan(0, (int)_pax.Length));
                        _pax = null;
                    }
                }
                _skip -= n;
                data = data[n..];
                continue;
            }
            int copy = Math.Min(Block - _headerFill, data.Length);
            data[..copy].CopyTo(_header.AsSpan(_headerFill));
            _headerFill += copy;
            data = data[copy..];
            if (_headerFill == Block)
            {
                _headerFill = 0;
                OnHeader();
            }
        }
    }

    private void OnHeader()
    {
        var block = _header.AsSpan();
        if (!block.ContainsAnyExcept((byte)0)) return; // an end-of-archive block
        if (!ChecksumMatches(block) || ParseNumber(block.Slice(124, 12)) is not { } size || size < 0)
        {
            _lost = true; // not a header: the reader says why
            return;
        }
        byte type = block[156];
        if (type is (byte)'x' or (byte)'g' or (byte)'L' or (byte)'K')
        {
            if (size > _max) throw TooLarge(type, size, _max);
            if (type == (byte)'x' && size > 0)
            {
                _pax = new MemoryStream((int)size);
                _paxLeft = size;
            }
            _skip = Padded(size);
            return;
        }
        long data = _paxSize ?? size;
        _paxSize = null;
        _capability = _paxCapability;
        _paxCapability = null;
        // Links, devices, folders and FIFOs have no data whatever their size field says (Go's isHeaderOnlyType).
        if (type is (byte)'1' or (byte)'2' or (byte)'3' or (byte)'4' or (byte)'5' or (byte)'6') data = 0;
        _skip = Padded(data);
    }

    private static long Padded(long size) => size > long.MaxValue - Block ? long.MaxValue : (size + Block - 1) / Block * Block;

    /// <summary>LIV4060 for a metadata header of <paramref name="size"/> bytes.</summary>
    internal static LivrableException TooLarge(byte type, long size, long max)
    {
        string what = type switch
        {
            (byte)'x' => "a PAX extended header",
            (byte)'g' => "a PAX global header",
            (byte)'L' => "a GNU long name",
            _ => "a GNU long link name",
        };
        return new LivrableException(DiagnosticCodes.TarHeaderTooLarge,
            $"The tar has {what} of {size} bytes; Livrable reads these headers up to {max} bytes (as Go does since CVE-2022-2879), so the tar is refused.");
    }

    /// <summary>The ustar checksum: the header's bytes summed with the checksum field read as spaces (signed sums accepted too, as readers do).</summary>
    private static bool ChecksumMatches(ReadOnlySpan<byte> block)
    {
        if (ParseNumber(block.Slice(148, 8)) is not { } stored) return false;
        long unsigned = 0, signed = 0;
        for (int i = 0; i < Block; i++)
        {
            byte b = i is >= 148 and < 156 ? (byte)' ' : block[i];
            unsigned += b;
            signed += (sbyte)b;
        }
        return stored == unsigned || stored == signed;
    }

    /// <summary>A numeric field: octal ASCII (spaces and NULs around it), or GNU's base-256 when the high bit is set.</summary>
    private static long? ParseNumber(ReadOnlySpan<byte> field)
    {
        if (field.Length > 0 && (field[0] & 0x80) != 0)
        {
            if ((field[0] & 0x40) != 0) return null; // negative
            long value = field[0] & 0x3F;
            foreach (byte b in field[1..])
            {
                if (value > (long.MaxValue >> 8)) return long.MaxValue;
                value = (value << 8) | b;
            }
            return value;
        }
        var trimmed = field.Trim((byte)0).Trim((byte)' ').Trim((byte)0);
        if (trimmed.Length == 0) return 0;
        long result = 0;
        foreach (byte b in trimmed)
        {
            if (b is < (byte)'0' or > (byte)'7') return null;
            if (result > (long.MaxValue >> 3)) return long.MaxValue;
            result = (result << 3) | (long)(b - '0');
        }
        return result;
    }

    /// <summary>The <c>size</c> and the file capability records of PAX records (<c>"%d %s=%s\n"</c>), or null.</summary>
    private static (long? Size, byte[]? Capability) ReadPax(ReadOnlySpan<byte> records)
    {
        long? size = null;
        byte[]? capability = null;
        while (records.Length > 0)
        {
            int space = records.IndexOf((byte)' ');
            if (space <= 0 || !Utf8Parser.TryParse(records[..space], out int length, out int used) || used != space
                || length <= space || length > records.Length)
                return (size, capability); // malformed: the reader reports it
            var record = records[(space + 1)..length];
            records = records[length..];
            if (record.Length > 0 && record[^1] == (byte)'\n') record = record[..^1];
            int equals = record.IndexOf((byte)'=');
            if (equals < 0) continue;
            if (record[..equals].SequenceEqual("size"u8)
                && long.TryParse(Encoding.ASCII.GetString(record[(equals + 1)..]), System.Globalization.NumberStyles.None,
                    System.Globalization.CultureInfo.InvariantCulture, out long value))
                size = value;
            else if (record[..equals].SequenceEqual(PaxCapability))
                capability = record[(equals + 1)..].ToArray();
        }
        return (size, capability);
    }

    private static ReadOnlySpan<byte> PaxCapability => "SCHILY.xattr.security.capability"u8;

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_leaveOpen) _inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_leaveOpen) await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
