using System.Formats.Tar;
using Livrable.Diagnostics;

namespace Livrable.Layers;

/// <summary>
/// What every reader of a tar through <see cref="TarReader"/> shares: a tar layer (<see cref="TarLayerSpec"/>), a layer
/// blob (<c>Filesystem/FileTree</c>), an ADD archive (<c>Filesystem/ArchiveExtraction</c>) and an
/// image tarball (<c>Sources/ArchiveImage</c>) agree on which entries are regular files and on what is not a tar.
/// </summary>
internal static class TarReading
{
    /// <summary>
    /// The largest PAX extended header and GNU long name or link a tar may have (1 MiB, Go's <c>maxSpecialFileSize</c>
    /// since CVE-2022-2879): a real one holds a few paths and times; larger is refused with LIV4060.
    /// </summary>
    public const long MaxMetadataBytes = 1 << 20;

    /// <summary>How many characters of an entry's name a message shows (<see cref="Shown"/>).</summary>
    public const int ShownNameLength = 256;

    /// <summary>
    /// A <see cref="TarReader"/> over <paramref name="stream"/> seen through <see cref="TarHeaderLimit"/>: every reader of
    /// a tar opens it here, so none allocates a hostile header's size (a test checks no other <c>new TarReader</c>).
    /// </summary>
    public static TarReader OpenReader(Stream stream, bool leaveOpen)
        => new(new TarHeaderLimit(stream, leaveOpen), leaveOpen: false);

    /// <summary>
    /// <see cref="OpenReader(Stream, bool)"/>, and the view it reads through, which also gives each entry's file
    /// capabilities as their bytes (<see cref="TarHeaderLimit.Capability"/>) once the reader has returned the entry. The
    /// view reads forward only (a seekable tar too), so that it sees every header.
    /// </summary>
    public static TarReader OpenReader(Stream stream, bool leaveOpen, out TarHeaderLimit view)
    {
        view = new TarHeaderLimit(stream, leaveOpen, forwardOnly: true);
        return new(view, leaveOpen: false);
    }

    /// <summary>
    /// An entry's name (or link target) as a message shows it: quoted, cut after <see cref="ShownNameLength"/>
    /// characters with the full length said, so that a long name never makes a long error line.
    /// </summary>
    public static string Shown(string? name)
    {
        name ??= "";
        return name.Length <= ShownNameLength ? $"'{name}'" : $"'{name[..ShownNameLength]}...' ({name.Length} characters)";
    }

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
