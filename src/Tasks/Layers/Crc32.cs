namespace Livrable.Layers;

/// <summary>
/// The CRC-32 of gzip's trailer (ISO 3309 / ITU-T V.42, reflected polynomial 0xEDB88320, as RFC 1952 section 8
/// gives it), computed slicing-by-8. Written here because <c>System.IO.Hashing</c> is a package Livrable does not take.
/// </summary>
public static class Crc32
{
    private const uint Polynomial = 0xEDB88320u;

    // Table[k][b] is the CRC of byte b followed by k zero bytes, so eight bytes fold in with eight lookups.
    private static readonly uint[][] Table = BuildTable();

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>
    /// Continues <paramref name="crc"/> (the CRC-32 of what came before, 0 at the start) over <paramref name="data"/>.
    /// </summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        uint[] t0 = Table[0], t1 = Table[1], t2 = Table[2], t3 = Table[3];
        uint[] t4 = Table[4], t5 = Table[5], t6 = Table[6], t7 = Table[7];
        uint c = ~crc;
        while (data.Length >= 8)
        {
            uint one = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(data) ^ c;
            uint two = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            c = t7[one & 0xFF] ^ t6[(one >> 8) & 0xFF] ^ t5[(one >> 16) & 0xFF] ^ t4[one >> 24]
              ^ t3[two & 0xFF] ^ t2[(two >> 8) & 0xFF] ^ t1[(two >> 16) & 0xFF] ^ t0[two >> 24];
            data = data[8..];
        }
        foreach (byte b in data)
            c = t0[(c ^ b) & 0xFF] ^ (c >> 8);
        return ~c;
    }

    private static uint[][] BuildTable()
    {
        var table = new uint[8][];
        for (int k = 0; k < 8; k++) table[k] = new uint[256];
        for (uint b = 0; b < 256; b++)
        {
            uint c = b;
            for (int bit = 0; bit < 8; bit++)
                c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            table[0][b] = c;
        }
        for (int b = 0; b < 256; b++)
            for (int k = 1; k < 8; k++)
                table[k][b] = table[0][table[k - 1][b] & 0xFF] ^ (table[k - 1][b] >> 8);
        return table;
    }
}
