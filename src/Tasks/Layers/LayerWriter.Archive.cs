using System.IO.Compression;
using Livrable.Diagnostics;
using Formats = System.Formats.Tar;

namespace Livrable.Layers;

// TarLayerSpec: an existing tar re-written under a destination.
public static partial class LayerWriter
{
    /// <summary>
    /// Every entry of the tar, in its own order (a root filesystem tarball is already sorted, and reordering would
    /// break hard links that point back), placed under the destination. Types, modes, owners (numbers and names), link
    /// targets and device numbers are kept; times are clamped to the epoch. Reading is done with
    /// <c>System.Formats.Tar</c>, which reads ustar, PAX, GNU and v7; only writing needs Livrable's own writer.
    /// An entry that climbs above the root (<c>../x</c>) is LIV4004. Of the extended attributes (PAX
    /// <c>SCHILY.xattr.*</c> records) only file capabilities are kept, as their bytes (<see cref="FileCapability.FromRecord"/>):
    /// the same tar given to ADD in BuildKit gives a layer with those and no other (its untar sets them all, its
    /// differ carries <c>security.capability</c> only), every name of one file with the record of the last entry naming
    /// it (<see cref="LinkedCapabilities"/>). A file's header comes before the links that may change its record, so the
    /// tar is read twice through one open file: first its headers (data skipped by seeking in a plain tar, inflated and
    /// dropped in a gzip one), then to write the layer.
    /// </summary>
    private static async Task WriteArchiveAsync(TarLayerSpec spec, Context context)
    {
        if (!File.Exists(spec.TarPath))
            throw new LivrableException(DiagnosticCodes.InputNotFound, $"The tar file '{spec.TarPath}' does not exist.");
        string destination = LayerPath.FromImagePath(spec.Destination, "The destination of " + spec.TarPath);
        foreach (string ancestor in LayerPath.Ancestors(destination))
            await context.Tar.WriteEntryAsync(DirectoryHeader(ancestor, context), null, context.CancellationToken).ConfigureAwait(false);
        bool destinationWritten = destination.Length == 0;

        FileStream file;
        try
        {
            file = new FileStream(spec.TarPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LivrableException(DiagnosticCodes.LayerIo, $"Cannot read '{spec.TarPath}': {e.Message}", inner: e);
        }
        await using (file.ConfigureAwait(false))
        {
            var linked = await LinkedFilesAsync(file, spec.TarPath, context.CancellationToken).ConfigureAwait(false);
            file.Seek(0, SeekOrigin.Begin);
            var input = await OpenArchiveAsync(file, spec.TarPath, context.CancellationToken).ConfigureAwait(false);
            await using var inputScope = CloseArchiveAsync(input, file).ConfigureAwait(false);
            var reader = TarReading.OpenReader(input, leaveOpen: true, out var view);
            await using (reader.ConfigureAwait(false))
            {
                int ordinal = 0;
                while (await NextEntryAsync(reader, spec.TarPath, context.CancellationToken).ConfigureAwait(false) is { } entry)
                {
                    // Each entry's record as the first pass left it: the one its file has once the whole tar is read.
                    var linkedFile = linked is not null && ordinal < linked.Count ? linked[ordinal] : null;
                    ordinal++;
                    if (entry.EntryType == Formats.TarEntryType.GlobalExtendedAttributes) continue;
                    var header = ToHeader(entry, view.Capability, destination, spec.TarPath, context);
                    if (header is not null && linkedFile is { Linked: true } && !FileCapability.Same(header.Capability, linkedFile.Capability))
                        header = header with { Capability = linkedFile.Capability };
                    if (header is null)
                    {
                        // The archive's own root ("./"): it is the destination folder, with the archive's mode and owner.
                        if (!destinationWritten && entry.EntryType == Formats.TarEntryType.Directory)
                        {
                            await context.Tar.WriteEntryAsync(RootHeader(entry, destination, context), null, context.CancellationToken).ConfigureAwait(false);
                            destinationWritten = true;
                        }
                        continue;
                    }
                    if (!destinationWritten)
                    {
                        await context.Tar.WriteEntryAsync(DirectoryHeader(destination, context), null, context.CancellationToken).ConfigureAwait(false);
                        destinationWritten = true;
                    }
                    await WriteArchiveEntryAsync(header, entry, spec.TarPath, context).ConfigureAwait(false);
                }
            }
        }
        if (!destinationWritten)
            await context.Tar.WriteEntryAsync(DirectoryHeader(destination, context), null, context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The tar in <paramref name="file"/> from its start, gunzipped when it starts with gzip's magic bytes (the name is
    /// not trusted): the file itself (seekable: the reader skips data by seeking) or a gzip stream that leaves it open,
    /// for <see cref="CloseArchiveAsync"/>. Other compressions are recognised only to say so (LIV4012).
    /// </summary>
    private static async Task<Stream> OpenArchiveAsync(FileStream file, string path, CancellationToken cancellationToken)
    {
        var compression = await CompressionMagic.DetectAsync(file, cancellationToken).ConfigureAwait(false);
        file.Seek(0, SeekOrigin.Begin);
        return compression switch
        {
            BlobCompression.None => file,
            BlobCompression.Gzip => new GZipStream(file, CompressionMode.Decompress, leaveOpen: true),
            _ => throw new LivrableException(DiagnosticCodes.UnsupportedArchiveEntry,
                $"'{path}' is compressed with {CompressionMagic.Name(compression)}; a tar layer must be a plain or gzip-compressed tar."),
        };
    }

    /// <summary>What closes <paramref name="input"/> (<see cref="OpenArchiveAsync"/>) and leaves the file open.</summary>
    private static IAsyncDisposable CloseArchiveAsync(Stream input, FileStream file) => ReferenceEquals(input, file) ? NoDisposal.Instance : input;

    private sealed class NoDisposal : IAsyncDisposable
    {
        public static readonly NoDisposal Instance = new();
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>
    /// The first pass (<see cref="WriteArchiveAsync"/>): for each entry the reader yields, in order, the file it is a
    /// name of (<see cref="LinkedCapabilities"/>); null when no hard link names a file, so every entry keeps its own
    /// record. An entry the layer refuses is left to the second pass, which says so.
    /// </summary>
    private static async Task<List<LinkedCapabilities.LinkedFile?>?> LinkedFilesAsync(FileStream file, string path, CancellationToken cancellationToken)
    {
        var files = new List<LinkedCapabilities.LinkedFile?>();
        var linked = new LinkedCapabilities();
        bool anyLink = false;
        var input = await OpenArchiveAsync(file, path, cancellationToken).ConfigureAwait(false);
        await using (CloseArchiveAsync(input, file).ConfigureAwait(false))
        {
            var reader = TarReading.OpenReader(input, leaveOpen: true, out var view);
            await using (reader.ConfigureAwait(false))
            {
                while (await NextEntryAsync(reader, path, cancellationToken).ConfigureAwait(false) is { } entry)
                {
                    var type = TarReading.LayerType(entry.EntryType);
                    string? target = null;
                    if (type is null || !LayerPath.TryCleanArchiveName(entry.Name, out string name)
                        || (type == TarTypeFlag.HardLink && !LayerPath.TryCleanArchiveName(entry.LinkName, out target)))
                    {
                        files.Add(null);
                        continue;
                    }
                    var linkedFile = linked.Add(name, type.Value, target, FileCapability.FromRecord(type.Value, view.Capability));
                    anyLink |= linkedFile is { Linked: true };
                    files.Add(linkedFile);
                }
            }
        }
        return anyLink ? files : null;
    }

    private static async Task<Formats.TarEntry?> NextEntryAsync(Formats.TarReader reader, string path, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (TarReading.IsFormatError(e))
        {
            throw TarReading.NotATar(path, e);
        }
    }

    /// <summary>The entry as it goes into the layer; null for the archive's root itself.</summary>
    private static TarHeader? ToHeader(Formats.TarEntry entry, byte[]? capability, string destination, string archive, Context context)
    {
        var type = TarReading.LayerType(entry.EntryType) ?? throw new LivrableException(DiagnosticCodes.UnsupportedArchiveEntry,
            $"'{archive}' has the entry {TarReading.Shown(entry.Name)} of type {entry.EntryType}, which a layer cannot carry.");
        string path = Clean(entry.Name, "entry", entry.Name, archive);
        if (path.Length == 0)
        {
            if (type == TarTypeFlag.Directory) return null;
            throw new LivrableException(DiagnosticCodes.InvalidArchive, $"'{archive}' has a {entry.EntryType} entry named {TarReading.Shown(entry.Name)}, which is the root.");
        }
        path = LayerPath.Join(destination, path);
        string linkName = type switch
        {
            TarTypeFlag.SymbolicLink => entry.LinkName,
            // A hard link names another entry of the archive, which has moved under the destination with it.
            TarTypeFlag.HardLink => LayerPath.Join(destination, Clean(entry.LinkName, "hard link target", entry.Name, archive)),
            _ => "",
        };
        var posix = entry as Formats.PosixTarEntry;
        bool device = type is TarTypeFlag.CharacterDevice or TarTypeFlag.BlockDevice;
        return new TarHeader
        {
            Name = type == TarTypeFlag.Directory ? LayerPath.DirectoryName(path) : path,
            Type = type,
            Mode = (int)entry.Mode & FileModes.All,
            Uid = entry.Uid,
            Gid = entry.Gid,
            UserName = posix?.UserName ?? "",
            GroupName = posix?.GroupName ?? "",
            ModificationTime = Math.Min(entry.ModificationTime.ToUnixTimeSeconds(), context.Epoch),
            LinkName = linkName,
            DeviceMajor = device && posix is not null ? posix.DeviceMajor : 0,
            DeviceMinor = device && posix is not null ? posix.DeviceMinor : 0,
            Capability = FileCapability.FromRecord(type, capability),
        };
    }

    private static TarHeader RootHeader(Formats.TarEntry entry, string destination, Context context)
    {
        var posix = entry as Formats.PosixTarEntry;
        return DirectoryHeader(destination, context, entry.Uid, entry.Gid) with
        {
            Mode = (int)entry.Mode & FileModes.All,
            UserName = posix?.UserName ?? "",
            GroupName = posix?.GroupName ?? "",
            ModificationTime = Math.Min(entry.ModificationTime.ToUnixTimeSeconds(), context.Epoch),
        };
    }

    private static string Clean(string name, string what, string entry, string archive)
    {
        if (string.IsNullOrEmpty(name) || !LayerPath.TryCleanArchiveName(name, out string cleaned))
            throw new LivrableException(DiagnosticCodes.InvalidArchive,
                $"'{archive}' has the entry {TarReading.Shown(entry)} whose {what} {TarReading.Shown(name)} is outside the archive; it would be written outside the layer's folder.");
        return cleaned;
    }

    private static async Task WriteArchiveEntryAsync(TarHeader header, Formats.TarEntry entry, string archive, Context context)
    {
        if (header.Type != TarTypeFlag.RegularFile || entry.Length == 0)
        {
            await context.Tar.WriteEntryAsync(header, null, context.CancellationToken).ConfigureAwait(false);
            return;
        }
        var data = entry.DataStream
            ?? throw new LivrableException(DiagnosticCodes.InvalidArchive, $"'{archive}' has no data for {TarReading.Shown(entry.Name)}.");
        try
        {
            await context.Tar.WriteEntryAsync(header with { Size = entry.Length }, data, context.CancellationToken).ConfigureAwait(false);
        }
        // The writer's "content ended before its size" (LIV4005, no inner exception) means a truncated archive here.
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException
            || (e is LivrableException { Code: DiagnosticCodes.LayerIo } && e.InnerException is null))
        {
            throw new LivrableException(DiagnosticCodes.InvalidArchive, $"'{archive}' is truncated or corrupt in {TarReading.Shown(entry.Name)}: {e.Message}", inner: e);
        }
    }
}
