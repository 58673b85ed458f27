using System.Formats.Tar;
using Livrable.Diagnostics;
using Livrable.Layers;

namespace Livrable.Filesystem;

/// <summary>
/// ADD's automatic extraction of a local archive (BuildKit <c>solver/llbsolver/file/backend.go: isArchivePath</c>,
/// then moby's untar): a file is an archive when its bytes, plain or decompressed (gzip, bzip2, xz, zstd, told by the
/// magic bytes), start with a valid tar header. Its name never matters.
/// </summary>
public static class ArchiveExtraction
{
    private const int BlockSize = 512;

    /// <summary>
    /// Whether the content is a tar, plain or compressed: the first block, once decompressed, is a tar header whose
    /// checksum is right (as Go's tar reader requires; an empty tar is not an archive, as in BuildKit). Never throws for
    /// content that is not an archive; I/O errors of <paramref name="open"/> pass.
    /// </summary>
    public static async Task<bool> IsArchiveAsync(Func<CancellationToken, Task<Stream>> open, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(open);
        var raw = await open(cancellationToken).ConfigureAwait(false);
        await using (raw.ConfigureAwait(false))
        {
            var block = new byte[BlockSize];
            int n;
            try
            {
                var (stream, _) = await Decompression.OpenAsync(raw, cancellationToken).ConfigureAwait(false);
                await using (stream.ConfigureAwait(false))
                    n = await stream.ReadAtLeastAsync(block, BlockSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (Decompression.IsFormatError(e) || e is IOException)
            {
                return false;
            }
            return n == BlockSize && IsTarHeader(block);
        }
    }

    /// <summary>
    /// A ustar/GNU/v7 header block: not all zeros, and its checksum field (octal) equals the sum of its bytes with the
    /// field counted as spaces, unsigned or signed (old tars summed signed chars).
    /// </summary>
    internal static bool IsTarHeader(ReadOnlySpan<byte> block)
    {
        if (block.Length < BlockSize || !block[..BlockSize].ContainsAnyExcept((byte)0)) return false;
        var field = block.Slice(148, 8);
        long stored = 0;
        bool digits = false;
        foreach (byte b in field)
        {
            if (b is (byte)' ' or 0)
            {
                if (digits) break;
                continue;
            }
            if (b is < (byte)'0' or > (byte)'7') return false;
            stored = stored * 8 + (b - '0');
            digits = true;
        }
        if (!digits) return false;
        long unsigned = 0, signed = 0;
        for (int i = 0; i < BlockSize; i++)
        {
            byte b = i is >= 148 and < 156 ? (byte)' ' : block[i];
            unsigned += b;
            signed += (sbyte)b;
        }
        return stored == unsigned || stored == signed;
    }

    /// <summary>
    /// The archive's entries under <paramref name="destination"/> (an absolute path in the image), in archive order,
    /// a later entry replacing an earlier one of the same path. Names are cleaned; a leading <c>/</c> counts from the
    /// destination (as moby's untar does), and a name or hard link target that climbs above it with <c>..</c> is
    /// LIV4070. The archive's own root (<c>./</c>) is left out: the destination keeps its metadata. Modes, owners,
    /// link targets, device numbers and times are kept (the layer writer clamps the times), and so are file capabilities
    /// (<see cref="FileCapability.FromRecord"/>: BuildKit's untar sets every <c>SCHILY.xattr.*</c> record, its differ
    /// carries <c>security.capability</c> only), every name of one file with the record of the last entry naming it, as the
    /// untar leaves them (<see cref="LinkedCapabilities"/>). Hard links stay hard links
    /// (to an absolute path), and must point to an earlier entry. Regular files' bytes go to new files in
    /// <paramref name="tempDirectory"/>, which the caller owns. Reading more than <paramref name="maxBytes"/> of
    /// decompressed tar is LIV4073; a corrupt archive is LIV4004; an entry type a layer cannot carry is LIV4012; a
    /// <c>.wh.</c> name (a whiteout once in the layer) is LIV4203.
    /// </summary>
    public static async Task<IReadOnlyList<FileEntry>> ExtractAsync(Func<CancellationToken, Task<Stream>> open, string destination,
        string tempDirectory, long maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentException.ThrowIfNullOrEmpty(destination);
        ArgumentException.ThrowIfNullOrEmpty(tempDirectory);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        string root = ImagePath.Clean(destination);
        Directory.CreateDirectory(tempDirectory);

        var entries = new List<FileEntry>();
        // Beside each entry, the file it is a name of: its record is known once the whole archive is read.
        var files = new List<LinkedCapabilities.LinkedFile?>();
        var linked = new LinkedCapabilities();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var raw = await open(cancellationToken).ConfigureAwait(false);
        await using (raw.ConfigureAwait(false))
        {
            Stream decompressed;
            BlobCompression compression;
            try
            {
                (decompressed, compression) = await Decompression.OpenAsync(raw, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (Decompression.IsFormatError(e))
            {
                throw new LivrableException(DiagnosticCodes.InvalidArchive, $"The archive for {root} is corrupt: {e.Message}", inner: e);
            }
            var limited = new LimitedStream(decompressed, maxBytes, () => new LivrableException(DiagnosticCodes.ArchiveTooLarge,
                $"The archive for {root} decompresses to more than {maxBytes} bytes; it is refused as a possible decompression bomb."));
            await using (limited.ConfigureAwait(false))
            {
                var reader = TarReading.OpenReader(limited, leaveOpen: true, out var view);
                await using (reader.ConfigureAwait(false))
                {
                    while (await NextAsync(reader, root, compression, cancellationToken).ConfigureAwait(false) is { } tar)
                    {
                        var entry = await ToEntryAsync(tar, view.Capability, root, tempDirectory, index, entries, cancellationToken).ConfigureAwait(false);
                        if (entry is null) continue;
                        var file = linked.Add(entry.Path, entry.Type, entry.LinkTarget, entry.Capability);
                        if (index.TryGetValue(entry.Path, out int earlier))
                        {
                            entries[earlier] = entry;
                            files[earlier] = file;
                            continue;
                        }
                        index[entry.Path] = entries.Count;
                        entries.Add(entry);
                        files.Add(file);
                    }
                }
            }
        }
        LinkedCapabilities.Settle(entries, files);
        return entries;
    }

    private static async Task<TarEntry?> NextAsync(TarReader reader, string root, BlobCompression compression, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (Decompression.IsFormatError(e) && e is not LivrableException)
        {
            throw new LivrableException(DiagnosticCodes.InvalidArchive,
                $"The archive for {root} ({CompressionMagic.Name(compression)}) is not a valid tar: {e.Message}", inner: e);
        }
    }

    private static async Task<FileEntry?> ToEntryAsync(TarEntry tar, byte[]? capability, string root, string tempDirectory, Dictionary<string, int> index,
        List<FileEntry> entries, CancellationToken cancellationToken)
    {
        if (tar.EntryType == TarEntryType.GlobalExtendedAttributes) return null;
        var type = TarReading.LayerType(tar.EntryType) ?? throw new LivrableException(DiagnosticCodes.UnsupportedArchiveEntry,
            $"The archive for {root} has the entry {TarReading.Shown(tar.Name)} of type {tar.EntryType}, which a layer cannot carry.");
        string relative = Inside(tar.Name, tar.Name, "name", root);
        if (relative.Length == 0) return null;
        // In the layer ADD writes, a ".wh." name is a whiteout: the "file" would delete one of the layers below. The
        // archive is content to add, never a layer diff, so such a name is refused rather than given that meaning.
        if (relative.Split('/').Any(s => s.StartsWith(FileEntry.WhiteoutPrefix, StringComparison.Ordinal)))
            throw new LivrableException(DiagnosticCodes.ArchiveWhiteoutEntry,
                $"The archive for {root} has the entry {TarReading.Shown(tar.Name)}, whose name starts with '{FileEntry.WhiteoutPrefix}': in a layer it would be a whiteout deleting a file, not a file; it is refused.");
        string path = root == ImagePath.Root ? "/" + relative : root + "/" + relative;

        var posix = tar as PosixTarEntry;
        bool device = type is TarTypeFlag.CharacterDevice or TarTypeFlag.BlockDevice;
        var entry = new FileEntry(path, type, (int)tar.Mode & FileModes.All, tar.Uid, tar.Gid)
        {
            DeviceMajor = device && posix is not null ? posix.DeviceMajor : 0,
            DeviceMinor = device && posix is not null ? posix.DeviceMinor : 0,
            ModificationTime = tar.ModificationTime,
            Capability = FileCapability.FromRecord(type, capability),
        };
        switch (type)
        {
            case TarTypeFlag.SymbolicLink:
                return entry with { LinkTarget = tar.LinkName };
            case TarTypeFlag.HardLink:
                string target = Inside(tar.LinkName, tar.Name, "hard link target", root);
                string targetPath = root == ImagePath.Root ? "/" + target : root + "/" + target;
                if (target.Length == 0 || !index.TryGetValue(targetPath, out int at) || entries[at].Type == TarTypeFlag.Directory)
                    throw new LivrableException(DiagnosticCodes.InvalidArchive,
                        $"The archive for {root} has the hard link {TarReading.Shown(tar.Name)} to {TarReading.Shown(tar.LinkName)}, which is not an earlier file of the archive.");
                return entry with { LinkTarget = targetPath };
            case TarTypeFlag.RegularFile:
                if (tar.Length == 0) return entry with { Open = _ => Task.FromResult<Stream>(new MemoryStream([], writable: false)) };
                string file = Path.Combine(tempDirectory, $"archive-file-{Guid.NewGuid():N}");
                long size;
                try
                {
                    var output = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                    await using (output.ConfigureAwait(false))
                    {
                        if (tar.DataStream is { } data) await data.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
                        size = output.Length;
                    }
                }
                catch (Exception e) when (Decompression.IsFormatError(e) && e is not LivrableException)
                {
                    throw new LivrableException(DiagnosticCodes.InvalidArchive, $"The archive for {root} is truncated or corrupt in {TarReading.Shown(tar.Name)}: {e.Message}", inner: e);
                }
                if (size != tar.Length)
                    throw new LivrableException(DiagnosticCodes.InvalidArchive, $"The archive for {root} is truncated in {TarReading.Shown(tar.Name)}.");
                return entry with { Size = size, Open = _ => Task.FromResult<Stream>(FileTree.OpenRead(file)) };
            default:
                return entry;
        }
    }

    /// <summary>The name relative to the archive root, cleaned; LIV4070 when it climbs above it.</summary>
    private static string Inside(string name, string entry, string what, string root)
    {
        if (!LayerPath.TryCleanArchiveName(name, out string cleaned))
            throw new LivrableException(DiagnosticCodes.UnsafeArchivePath,
                $"The archive for {root} has the entry {TarReading.Shown(entry)} whose {what} {TarReading.Shown(name)} climbs out of the destination with '..'; it is refused.");
        return cleaned;
    }
}
