namespace Livrable.Layers;

/// <summary>
/// The typeflag byte of a ustar header, for the entry types a layer can hold
/// (https://pubs.opengroup.org/onlinepubs/9799919799/utilities/pax.html#tag_20_94_13_06). The extended header
/// ('x') is written by <see cref="TarWriter"/> itself, never asked for.
/// </summary>
public enum TarTypeFlag : byte
{
    RegularFile = (byte)'0',
    HardLink = (byte)'1',
    SymbolicLink = (byte)'2',
    CharacterDevice = (byte)'3',
    BlockDevice = (byte)'4',
    Directory = (byte)'5',
    Fifo = (byte)'6',
}
