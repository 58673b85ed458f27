using System.Globalization;
using System.Text;

namespace Livrable.Layers;

// The header encoding: ustar fields, and the PAX extended header that carries what they cannot.
// ustar: https://pubs.opengroup.org/onlinepubs/9799919799/utilities/pax.html#tag_20_94_13_06
// pax extended header records: same page, "pax Extended Header".
public sealed partial class TarWriter
{
    private const int NameSize = 100;
    private const int PrefixSize = 155;
    private const int OwnerNameSize = 32;
    private const long MaxOctal7 = 0x1FFFFF;          // 07777777: the 8-byte fields (mode, uid, gid, devices)
    private const long MaxOctal11 = 0x1FFFFFFFF;      // 077777777777: the 12-byte fields (size, mtime); 8 GiB - 1

    // Go's archive/tar names the extended header "<dir>/PaxHeaders.0/<base>": fixed, so the archive is reproducible,
    // and recognisable to a reader that does not know PAX and extracts it as a file.
    private const string PaxHeaderDirectory = "PaxHeaders.0";

    /// <summary>
    /// The header blocks of one entry: a PAX extended header ('x') with its records when some value does not fit
    /// ustar, then the ustar header. Records are sorted by key, so the bytes are stable.
    /// </summary>
    internal static byte[] EncodeHeaders(TarHeader header)
    {
        Validate(header);
        var pax = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var block = new byte[BlockSize];

        if (IsAscii(header.Name) && header.Name.Length <= NameSize)
            WriteString(block, 0, NameSize, header.Name);
        else if (TrySplitUstarPath(header.Name, out string prefix, out string name))
        {
            WriteString(block, 0, NameSize, name);
            WriteString(block, 345, PrefixSize, prefix);
        }
        else
        {
            pax["path"] = header.Name;
            WriteString(block, 0, NameSize, BestEffortAscii(header.Name, NameSize));
        }

        WriteOctal(block, 100, 8, header.Mode);
        WriteNumber(block, 108, 8, header.Uid, MaxOctal7, "uid", pax);
        WriteNumber(block, 116, 8, header.Gid, MaxOctal7, "gid", pax);
        WriteNumber(block, 124, 12, header.Size, MaxOctal11, "size", pax);
        WriteNumber(block, 136, 12, header.ModificationTime, MaxOctal11, "mtime", pax);
        block[156] = (byte)header.Type;
        WriteText(block, 157, NameSize, header.LinkName, "linkpath", pax);
        WriteMagic(block);
        WriteText(block, 265, OwnerNameSize, header.UserName, "uname", pax);
        WriteText(block, 297, OwnerNameSize, header.GroupName, "gname", pax);
        WriteOctal(block, 329, 8, header.DeviceMajor);
        WriteOctal(block, 337, 8, header.DeviceMinor);
        WriteChecksum(block);

        if (pax.Count == 0 && header.Capability is null) return block;

        byte[] records = EncodePaxRecords(pax, header.Capability);
        int padded = (records.Length + BlockSize - 1) / BlockSize * BlockSize;
        var result = new byte[BlockSize + padded + BlockSize];
        var paxBlock = result.AsSpan(0, BlockSize);
        WriteString(paxBlock, 0, NameSize, BestEffortAscii(PaxHeaderName(header.Name), NameSize).TrimEnd('/'));
        WriteOctal(paxBlock, 100, 8, 0);
        WriteOctal(paxBlock, 108, 8, 0);
        WriteOctal(paxBlock, 116, 8, 0);
        WriteOctal(paxBlock, 124, 12, records.Length);
        WriteOctal(paxBlock, 136, 12, 0);
        paxBlock[156] = (byte)'x';
        WriteMagic(paxBlock);
        WriteChecksum(paxBlock);
        records.CopyTo(result, BlockSize);
        block.CopyTo(result, BlockSize + padded);
        return result;
    }

    private static void Validate(TarHeader header)
    {
        if (string.IsNullOrEmpty(header.Name))
            throw new ArgumentException("A tar entry needs a name.", nameof(header));
        if (header.Name.Contains('\0') || header.LinkName.Contains('\0') || header.UserName.Contains('\0') || header.GroupName.Contains('\0'))
            throw new ArgumentException($"Entry '{header.Name.Replace("\0", "\\0")}' has a NUL character in a name.", nameof(header));
        if (header.Mode is < 0 or > FileModes.All)
            throw new ArgumentException($"Entry '{header.Name}' has mode {Convert.ToString(header.Mode, 8)}, outside 07777.", nameof(header));
        if (header.Uid < 0 || header.Gid < 0)
            throw new ArgumentException($"Entry '{header.Name}' has a negative uid or gid.", nameof(header));
        if (header.Size < 0 || (header.Size > 0 && header.Type != TarTypeFlag.RegularFile))
            throw new ArgumentException($"Entry '{header.Name}' of type {header.Type} cannot have {header.Size} bytes of content.", nameof(header));
        if (header.DeviceMajor is < 0 or > (int)MaxOctal7 || header.DeviceMinor is < 0 or > (int)MaxOctal7)
            throw new ArgumentException($"Entry '{header.Name}' has device numbers {header.DeviceMajor},{header.DeviceMinor} that ustar cannot hold.", nameof(header));
        if (header.Type is TarTypeFlag.SymbolicLink or TarTypeFlag.HardLink && header.LinkName.Length == 0)
            throw new ArgumentException($"Link '{header.Name}' has no target.", nameof(header));
    }

    /// <summary>
    /// Splits an ASCII path longer than 100 bytes into ustar's prefix (up to 155) and name (up to 100) at a '/',
    /// as Go's archive/tar does, so that most long paths need no PAX header.
    /// </summary>
    private static bool TrySplitUstarPath(string path, out string prefix, out string name)
    {
        prefix = name = "";
        if (path.Length <= NameSize || !IsAscii(path)) return false;
        int length = path.Length;
        if (length > PrefixSize + 1) length = PrefixSize + 1;
        else if (path[length - 1] == '/') length--;
        int i = path.LastIndexOf('/', length - 1);
        if (i <= 0) return false;
        int nameLength = path.Length - i - 1;
        if (nameLength == 0 || nameLength > NameSize || i > PrefixSize) return false;
        prefix = path[..i];
        name = path[(i + 1)..];
        return true;
    }

    private static string PaxHeaderName(string name)
    {
        string trimmed = name.TrimEnd('/');
        int slash = trimmed.LastIndexOf('/');
        string dir = trimmed[..(slash + 1)];
        string file = trimmed[(slash + 1)..];
        return $"{dir}{PaxHeaderDirectory}/{file}";
    }

    /// <summary>
    /// Records <c>"%d %s=%s\n"</c>, where the length counts the whole record, its own digits included, sorted by key
    /// (as Go's archive/tar writes them). A file capability's value is binary and goes as its bytes
    /// (<see cref="FileCapability.PaxRecord"/>), as Go writes an xattr record.
    /// </summary>
    private static byte[] EncodePaxRecords(SortedDictionary<string, string> pax, byte[]? capability)
    {
        var records = pax.Select(r => (Key: r.Key, Value: Encoding.UTF8.GetBytes(r.Value))).ToList();
        if (capability is not null) records.Add((FileCapability.PaxRecord, capability));
        records.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        var output = new MemoryStream();
        foreach (var (key, value) in records)
        {
            int body = Encoding.UTF8.GetByteCount(key) + value.Length + 3; // ' ', '=', '\n'
            int length = body + 1;
            while (length != body + Digits(length)) length = body + Digits(length);
            output.Write(Encoding.UTF8.GetBytes($"{length.ToString(CultureInfo.InvariantCulture)} {key}="));
            output.Write(value);
            output.WriteByte((byte)'\n');
        }
        return output.ToArray();
    }

    private static int Digits(int n) => n.ToString(CultureInfo.InvariantCulture).Length;

    /// <summary>A number in its octal field, or 0 there and the exact value as a PAX record when it does not fit.</summary>
    private static void WriteNumber(Span<byte> block, int offset, int size, long value, long max, string key, SortedDictionary<string, string> pax)
    {
        if (value >= 0 && value <= max)
        {
            WriteOctal(block, offset, size, value);
            return;
        }
        pax[key] = value.ToString(CultureInfo.InvariantCulture);
        WriteOctal(block, offset, size, 0);
    }

    /// <summary>A string in its field, or an ASCII stand-in there and the exact value as a PAX record.</summary>
    private static void WriteText(Span<byte> block, int offset, int size, string value, string key, SortedDictionary<string, string> pax)
    {
        if (IsAscii(value) && value.Length <= size)
        {
            WriteString(block, offset, size, value);
            return;
        }
        pax[key] = value;
        WriteString(block, offset, size, BestEffortAscii(value, size));
    }

    /// <summary>Zero-padded octal digits filling the field but its last byte, which stays NUL (<c>0000644\0</c>).</summary>
    private static void WriteOctal(Span<byte> block, int offset, int size, long value)
    {
        var field = block.Slice(offset, size);
        field[^1] = 0;
        for (int i = size - 2; i >= 0; i--)
        {
            field[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }
        if (value != 0) throw new InvalidOperationException("A value was written to an octal field too small for it.");
    }

    private static void WriteString(Span<byte> block, int offset, int size, string value)
    {
        int n = Encoding.ASCII.GetBytes(value, block.Slice(offset, size));
        block.Slice(offset + n, size - n).Clear();
    }

    private static void WriteMagic(Span<byte> block)
    {
        "ustar\0"u8.CopyTo(block[257..]);
        "00"u8.CopyTo(block[263..]);
    }

    /// <summary>The sum of the header's bytes with the checksum field as spaces: six octal digits, NUL, space.</summary>
    private static void WriteChecksum(Span<byte> block)
    {
        block.Slice(148, 8).Fill((byte)' ');
        int sum = 0;
        foreach (byte b in block) sum += b;
        WriteOctal(block, 148, 7, sum);
        block[155] = (byte)' ';
    }

    private static bool IsAscii(string s)
    {
        foreach (char c in s)
            if (c >= 0x80) return false;
        return true;
    }

    /// <summary>The value without its non-ASCII characters, cut to the field: what a reader without PAX sees.</summary>
    private static string BestEffortAscii(string value, int size)
    {
        var ascii = new StringBuilder(Math.Min(value.Length, size));
        foreach (char c in value)
        {
            if (ascii.Length == size) break;
            if (c < 0x80 && c != 0) ascii.Append(c);
        }
        return ascii.ToString();
    }
}
