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
    /// differ carries <c>security.capability</c> only).
    /// </summary>
    private static async Task WriteArchiveAsync(TarLayerSpec spec, Context context)
    {
        if (!File.Exists(spec.TarPath))
            throw new LivrableException(DiagnosticCodes.InputNotFound, $"The tar file '{spec.TarPath}' does not exist.");
        string destination = LayerPath.FromImagePath(spec.Destination, "The destination of " + spec.TarPath);
        foreach (string ancestor in LayerPath.Ancestors(destination))
            await context.Tar.WriteEntryAsync(DirectoryHeader(ancestor, context), null, context.CancellationToken).ConfigureAwait(false);
        bool destinationWritten = destination.Length == 0;

        Stream input;
        try
        {
            input = await OpenArchiveAsync(spec.TarPath, context.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LivrableException(DiagnosticCodes.LayerIo, $"Cannot read '{spec.TarPath}': {e.Message}", inner: e);
        }
        await using (input.ConfigureAwait(false))
        {
            var reader = TarReading.OpenReader(input, leaveOpen: true, out var view);
            await using (reader.ConfigureAwait(false))
            {
                while (await NextEntryAsync(reader, spec.TarPath, context.CancellationToken).ConfigureAwait(false) is { } entry)
                {
                    if (entry.EntryType == Formats.TarEntryType.GlobalExtendedAttributes) continue;
                    var header = ToHeader(entry, view.Capability, destination, spec.TarPath, context);
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
    /// Opens the tar, gunzipping it when it starts with gzip's magic bytes (the name is not trusted). Other
    /// compressions are recognised only to say so (LIV4012).
    /// </summary>
    private static async Task<Stream> OpenArchiveAsync(string path, CancellationToken cancellationToken)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        try
        {
            var compression = await CompressionMagic.DetectAsync(file, cancellationToken).ConfigureAwait(false);
            file.Seek(0, SeekOrigin.Begin);
            return compression switch
            {
                BlobCompression.None => file,
                BlobCompression.Gzip => new GZipStream(file, CompressionMode.Decompress, leaveOpen: false),
                _ => throw new LivrableException(DiagnosticCodes.UnsupportedArchiveEntry,
                    $"'{path}' is compressed with {CompressionMagic.Name(compression)}; a tar layer must be a plain or gzip-compressed tar."),
            };
        }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw;
        }
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
