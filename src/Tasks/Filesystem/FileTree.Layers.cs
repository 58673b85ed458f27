using System.Formats.Tar;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;

namespace Livrable.Filesystem;

// Reading layer blobs: the metadata pass of LoadAsync, and the content passes of MaterializeAsync.
public sealed partial class FileTree
{
    /// <summary>Files with these names keep their bytes in the tree (up to <see cref="InlineLimit"/>): --chown reads them.</summary>
    private static readonly HashSet<string> InlineNames = new(StringComparer.Ordinal) { "passwd", "group" };

    private const int InlineLimit = 1 << 20;

    /// <summary>
    /// Entries whose <see cref="FileEntry.Open"/> works, in the order given. An entry that already has one, or has no
    /// bytes (not a regular file, or empty), passes through; an entry of a base layer gets its bytes copied to a new file
    /// in <paramref name="tempDirectory"/>, reading each layer involved once, and stopping in it after the last file it
    /// needs. The caller owns the files (deleting the folder deletes them). The entries may come from any tree (and
    /// have been moved with <c>with</c>): each knows its layer.
    /// </summary>
    public async Task<IReadOnlyList<FileEntry>> MaterializeAsync(IReadOnlyList<FileEntry> entries, string tempDirectory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentException.ThrowIfNullOrEmpty(tempDirectory);
        var result = entries.ToArray();
        var byLayer = new Dictionary<ILayer, Dictionary<int, List<int>>>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < result.Length; i++)
        {
            var entry = result[i];
            if (entry.Open is not null || entry.Type != TarTypeFlag.RegularFile) continue;
            if (entry.Size == 0)
            {
                result[i] = entry with { Open = _ => Task.FromResult<Stream>(new MemoryStream([], writable: false)) };
                continue;
            }
            if (entry.Location is not { } location) continue;
            if (location.Inline is { } bytes)
            {
                result[i] = entry with { Open = _ => Task.FromResult<Stream>(new MemoryStream(bytes, writable: false)) };
                continue;
            }
            if (!byLayer.TryGetValue(location.Layer, out var wanted)) byLayer[location.Layer] = wanted = [];
            if (!wanted.TryGetValue(location.Ordinal, out var indexes)) wanted[location.Ordinal] = indexes = [];
            indexes.Add(i);
        }
        if (byLayer.Count == 0) return result;

        Directory.CreateDirectory(tempDirectory);
        foreach (var (layer, wanted) in byLayer)
        {
            await ForEachEntryAsync(layer, Decompression.DefaultMaxBytes, async (ordinal, entry, _, ct) =>
            {
                if (!wanted.Remove(ordinal, out var indexes)) return wanted.Count > 0;
                var first = result[indexes[0]];
                string name = ImagePath.Clean(entry.Name);
                if (name != first.Location!.Name)
                    throw new LivrableException(DiagnosticCodes.InvalidArchive,
                        $"Layer {layer.Descriptor.Digest} has {TarReading.Shown(entry.Name)} where {TarReading.Shown(first.Location.Name)} was read before; the blob changed.");
                string file = Path.Combine(tempDirectory, $"layer-file-{Guid.NewGuid():N}");
                long size = await CopyToFileAsync(entry.DataStream, file, ct).ConfigureAwait(false);
                if (size != first.Size)
                    throw new LivrableException(DiagnosticCodes.InvalidArchive,
                        $"Layer {layer.Descriptor.Digest} has {size} bytes for {TarReading.Shown(entry.Name)}, not the {first.Size} read before; the blob changed.");
                foreach (int i in indexes) result[i] = result[i] with { Open = _ => Task.FromResult<Stream>(OpenRead(file)) };
                return wanted.Count > 0;
            }, cancellationToken).ConfigureAwait(false);
            if (wanted.Count > 0)
                throw new LivrableException(DiagnosticCodes.InvalidArchive,
                    $"Layer {layer.Descriptor.Digest} ended before the entry {TarReading.Shown(result[wanted.First().Value[0]].Location!.Name)} read before; the blob changed.");
        }
        return result;
    }

    /// <summary>
    /// The bytes of a small regular file of the tree (at most 1 MiB), for lookups such as /etc/passwd; null when it is
    /// not a regular file. Bytes of a base layer come from the tree when it kept them, else from one read of the layer.
    /// </summary>
    internal static async Task<byte[]?> ReadSmallFileAsync(FileEntry entry, CancellationToken cancellationToken)
    {
        if (entry.Type != TarTypeFlag.RegularFile || entry.Size > InlineLimit) return null;
        if (entry.Size == 0) return [];
        if (entry.Location?.Inline is { } inline) return inline;
        if (entry.Open is { } open)
        {
            var stream = await open(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var copy = new MemoryStream();
                await stream.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
                return copy.ToArray();
            }
        }
        if (entry.Location is not { } location) return null;
        byte[]? bytes = null;
        await ForEachEntryAsync(location.Layer, Decompression.DefaultMaxBytes, async (ordinal, tar, _, ct) =>
        {
            if (ordinal != location.Ordinal) return true;
            bytes = await ReadAllAsync(tar.DataStream, ct).ConfigureAwait(false);
            return false;
        }, cancellationToken).ConfigureAwait(false);
        return bytes;
    }

    /// <summary>
    /// One layer's entries as the tree applies them, in tar order, with where each regular file's bytes are; the names of
    /// one file with one capability record, as dockerd's layer store leaves them (<see cref="LinkedCapabilities.Apply"/>).
    /// </summary>
    private static async Task<List<FileEntry>> ReadLayerAsync(ILayer layer, long maxBytes, CancellationToken cancellationToken)
    {
        var entries = new List<FileEntry>();
        await ForEachEntryAsync(layer, maxBytes, async (ordinal, tar, capability, ct) =>
        {
            var entry = ToFileEntry(tar, capability, layer);
            if (entry is null) return true;
            if (entry.Type == TarTypeFlag.RegularFile)
            {
                var location = new LayerLocation(layer, ordinal, entry.Path);
                if (InlineNames.Contains(entry.Name) && entry.Size <= InlineLimit)
                    location = location with { Inline = await ReadAllAsync(tar.DataStream, ct).ConfigureAwait(false) };
                entry = entry with { Location = location };
            }
            entries.Add(entry);
            return true;
        }, cancellationToken).ConfigureAwait(false);
        LinkedCapabilities.Apply(entries);
        return entries;
    }

    /// <summary>
    /// The entries <see cref="ReadLayerAsync(ILayer, long, CancellationToken)"/> would read from <paramref name="layer"/>,
    /// known without reading it: from the <paramref name="headers"/> its writer wrote, in order (one reader entry each),
    /// the small files the tree keeps whole read by <paramref name="inline"/> (null: read from the blob when needed).
    /// </summary>
    internal static List<FileEntry> EntriesWritten(ILayer layer, IReadOnlyList<TarHeader> headers, Func<string, byte[]?> inline)
    {
        var entries = new List<FileEntry>(headers.Count);
        for (int ordinal = 0; ordinal < headers.Count; ordinal++)
        {
            var header = headers[ordinal];
            var entry = Entry(header.Name, header.Type, header.Mode, header.Uid, header.Gid, header.Size, header.LinkName,
                header.DeviceMajor, header.DeviceMinor, DateTimeOffset.FromUnixTimeSeconds(header.ModificationTime), header.Capability, layer);
            if (entry.Type == TarTypeFlag.RegularFile)
            {
                var location = new LayerLocation(layer, ordinal, entry.Path);
                if (InlineNames.Contains(entry.Name) && entry.Size <= InlineLimit) location = location with { Inline = inline(entry.Path) };
                entry = entry with { Location = location };
            }
            entries.Add(entry);
        }
        LinkedCapabilities.Apply(entries);
        return entries;
    }

    private static FileEntry? ToFileEntry(TarEntry tar, byte[]? capability, ILayer layer)
    {
        if (tar.EntryType == TarEntryType.GlobalExtendedAttributes) return null;
        var type = TarReading.LayerType(tar.EntryType) ?? throw new LivrableException(DiagnosticCodes.UnsupportedArchiveEntry,
            $"Layer {layer.Descriptor.Digest} has the entry {TarReading.Shown(tar.Name)} of type {tar.EntryType}, which a layer cannot carry.");
        var posix = tar as PosixTarEntry;
        return Entry(tar.Name, type, (int)tar.Mode, tar.Uid, tar.Gid, tar.Length, tar.LinkName,
            posix?.DeviceMajor ?? 0, posix?.DeviceMinor ?? 0, tar.ModificationTime, capability, layer);
    }

    /// <summary>
    /// One tar entry as the tree holds it, from a read tar entry or from a header written (the one rule for both); its
    /// file capabilities kept (<see cref="FileCapability.FromRecord"/>), so a <c>COPY --from</c> of a base image's
    /// <c>/bin/ping</c> carries them as BuildKit's copy does.
    /// </summary>
    private static FileEntry Entry(string name, TarTypeFlag type, int mode, long uid, long gid, long length, string linkName,
        int deviceMajor, int deviceMinor, DateTimeOffset modificationTime, byte[]? capability, ILayer layer)
    {
        string path = ImagePath.Clean(name);
        if (!FileEntry.IsValidWhiteoutName(ImagePath.Name(path)))
            throw new LivrableException(DiagnosticCodes.InvalidWhiteout,
                $"Layer {layer.Descriptor.Digest} has the whiteout {TarReading.Shown(name)}, which names no file (only its folder or the folder's parent); it is refused.");
        bool device = type is TarTypeFlag.CharacterDevice or TarTypeFlag.BlockDevice;
        return new FileEntry(path, type, mode & FileModes.All, uid, gid)
        {
            Size = type == TarTypeFlag.RegularFile ? length : 0,
            LinkTarget = type switch
            {
                TarTypeFlag.SymbolicLink => linkName,
                TarTypeFlag.HardLink => ImagePath.Clean(linkName),
                _ => null,
            },
            DeviceMajor = device ? deviceMajor : 0,
            DeviceMinor = device ? deviceMinor : 0,
            ModificationTime = modificationTime,
            Capability = FileCapability.FromRecord(type, capability),
        };
    }

    /// <summary>
    /// Reads a layer blob's tar entries in order, calling <paramref name="visit"/> with each one's position (every entry
    /// the reader yields counts) and its <c>security.capability</c> record's bytes until it returns false. The rest of the blob is then read without decompressing it, so
    /// the store's digest check at its end still runs. More than <paramref name="maxBytes"/> of decompressed tar is
    /// LIV4202 (skipping a file's bytes reads them too, so a bomb is caught even when nothing is kept).
    /// </summary>
    private static async Task ForEachEntryAsync(ILayer layer, long maxBytes, Func<int, TarEntry, byte[]?, CancellationToken, Task<bool>> visit,
        CancellationToken cancellationToken)
    {
        var raw = await layer.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (raw.ConfigureAwait(false))
        {
            var (decompressed, compression) = await Decompression.OpenAsync(new NonDisposingStream(raw), cancellationToken).ConfigureAwait(false);
            var stream = new LimitedStream(decompressed, maxBytes, () => new LivrableException(DiagnosticCodes.LayerTooLarge,
                $"Layer {layer.Descriptor.Digest} decompresses to more than {maxBytes} bytes; it is refused as a possible decompression bomb."));
            await using (stream.ConfigureAwait(false))
            {
                var reader = TarReading.OpenReader(stream, leaveOpen: true, out var view);
                await using (reader.ConfigureAwait(false))
                {
                    int ordinal = 0;
                    while (true)
                    {
                        TarEntry? entry;
                        try
                        {
                            entry = await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
                        }
                        catch (Exception e) when (Decompression.IsFormatError(e))
                        {
                            throw new LivrableException(DiagnosticCodes.InvalidArchive,
                                $"Layer {layer.Descriptor.Digest} ({CompressionMagic.Name(compression)}) is not a valid tar: {e.Message}", inner: e);
                        }
                        if (entry is null) break;
                        bool more;
                        try
                        {
                            more = await visit(ordinal++, entry, view.Capability, cancellationToken).ConfigureAwait(false);
                        }
                        catch (Exception e) when (Decompression.IsFormatError(e) && e is not LivrableException)
                        {
                            throw new LivrableException(DiagnosticCodes.InvalidArchive,
                                $"Layer {layer.Descriptor.Digest} is truncated or corrupt in {TarReading.Shown(entry.Name)}: {e.Message}", inner: e);
                        }
                        if (!more) break;
                    }
                }
            }
            await raw.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<byte[]> ReadAllAsync(Stream? data, CancellationToken cancellationToken)
    {
        if (data is null) return [];
        var copy = new MemoryStream();
        await data.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
        return copy.ToArray();
    }

    private static async Task<long> CopyToFileAsync(Stream? data, string path, CancellationToken cancellationToken)
    {
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await using (file.ConfigureAwait(false))
        {
            if (data is not null) await data.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
            return file.Length;
        }
    }

    internal static FileStream OpenRead(string path)
        => new(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
}
