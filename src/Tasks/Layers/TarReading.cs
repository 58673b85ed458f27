using System.Formats.Tar;
using Livrable.Diagnostics;

namespace Livrable.Layers;

/// <summary>
/// What every reader of a tar through <see cref="TarReader"/> shares: a tar layer (<see cref="Build.TarLayerSpec"/>), a layer
/// blob (<c>Filesystem/FileTree</c>), an ADD archive (<c>Filesystem/ArchiveExtraction</c>) and an
/// image tarball (<c>Sources/ArchiveImage</c>) agree on which entries are regular files and on what is not a tar.
/// </summary>
internal static class TarReading
{
    /// <summary>Whether the entry holds a file's bytes: ustar/PAX/GNU '0', v7's NUL, and contiguous '7' read as regular.</summary>
    public static bool IsRegularFile(TarEntryType type)
        => type is TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile;

    /// <summary>
    /// The ustar typeflag a layer gives an entry of <paramref name="type"/> (regular files as <see cref="IsRegularFile"/>
    /// says); null for a type a layer cannot carry, and for a global PAX header, which each reader skips or refuses.
    /// </summary>
    public static TarTypeFlag? LayerType(TarEntryType type) => type switch
    {
        _ when IsRegularFile(type) => TarTypeFlag.RegularFile,
        TarEntryType.Directory => TarTypeFlag.Directory,
        TarEntryType.SymbolicLink => TarTypeFlag.SymbolicLink,
        TarEntryType.HardLink => TarTypeFlag.HardLink,
        TarEntryType.CharacterDevice => TarTypeFlag.CharacterDevice,
        TarEntryType.BlockDevice => TarTypeFlag.BlockDevice,
        TarEntryType.Fifo => TarTypeFlag.Fifo,
        _ => null,
    };

    /// <summary>
    /// Whether <see cref="TarReader"/> threw because the bytes are not a valid tar (a bad checksum or number field, a
    /// truncated header), rather than for an I/O failure.
    /// </summary>
    public static bool IsFormatError(Exception e)
        => e is InvalidDataException or FormatException or EndOfStreamException or ArgumentException;

    /// <summary>LIV4004 for the tar at <paramref name="path"/>, with the reader's reason.</summary>
    public static LivrableException NotATar(string path, Exception e)
        => new(DiagnosticCodes.InvalidArchive, $"'{path}' is not a valid tar: {e.Message}", inner: e);
}
