using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text;
using Livrable.Images;
using Livrable.Layers;

namespace Livrable.Filesystem;

/// <summary>
/// The merged file tree of a chain of layers (a <see cref="FileTree"/> loaded from them), recorded in one file and
/// looked up in place: the file is mapped, its fixed-size records sorted by the UTF-8 bytes of their paths, and a lookup
/// is a binary search that makes an entry only for the path asked. A COPY of a few files over a stage whose layers the
/// step cache reused (pyapp's <c>COPY . .</c> over <c>RUN apt-get</c>'s 25,000 entries) so plans with a few dozen
/// lookups instead of loading 25,000 entries, whose allocation set off a full garbage collection in the build's
/// process (issue 14). The answers are the tree's own: the records are its entries, and <see cref="FileTree.Walk"/>
/// follows links through them as it does through a loaded tree.
/// </summary>
/// <remarks>
/// Named by the chain's ChainID (<see cref="ChainId"/>), which the file also holds and is checked against. Written
/// (<see cref="TryWrite"/>) only from a tree whose entries all come from the chain's layers (their bytes found by
/// <see cref="LayerLocation"/>, none by <see cref="FileEntry.Open"/>): a tree loaded from the layers' entry indexes or
/// blobs, never one holding a step's planned entries. Layout, little-endian: a header (magic, record count, layer
/// count, the chain id's place in the heap, the heap's offset and length), the records (<see cref="RecordSize"/>
/// bytes each: offsets into the heap, type, flags, the file capability's length, mode, owner, size, link, device, time,
/// location, hard-link group, the file capability's place in the heap; v2: v1 had no file capabilities; v3: the names of
/// one file with one record, <see cref="Layers.LinkedCapabilities"/>, which a v2 file may not give),
/// then the heap (UTF-8 strings and inline bytes). A file whose length or header disagrees reads as absent.
/// </remarks>
internal sealed class TreeSnapshot : ITreeLookup, IDisposable
{
    private static ReadOnlySpan<byte> Magic => "livrable-tree-v3"u8;
    private const int HeaderSize = 48;
    private const int RecordSize = 96;
    private const int StackLimit = 512;

    [Flags]
    private enum Has : byte { Time = 1, Link = 2, Location = 4, Inline = 8, NameIsPath = 16, Capability = 32 }

    /// <summary>The longest file capability a record holds (its length is one byte); a tree with a longer one is not recorded.</summary>
    private const int MaxCapability = byte.MaxValue;

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly SafeBuffer _buffer;
    private readonly ulong _origin;
    private readonly long _heap;
    private readonly IReadOnlyList<ILayer> _layers;
    private readonly Func<string, FileEntry?> _lookup;
    private readonly ConcurrentDictionary<int, FileEntry> _made = new();
    private readonly ConcurrentDictionary<int, HardLinkGroup> _groups = new();

    private TreeSnapshot(MemoryMappedFile file, MemoryMappedViewAccessor view, int count, long heap, IReadOnlyList<ILayer> layers)
    {
        _file = file;
        _view = view;
        _buffer = view.SafeMemoryMappedViewHandle;
        _origin = (ulong)view.PointerOffset;
        Count = count;
        _heap = heap;
        _layers = layers;
        _lookup = Find;
    }

    /// <summary>How many entries the tree has, the root included.</summary>
    public int Count { get; }

    /// <summary>
    /// The ChainID of <paramref name="layers"/> (base first), as the OCI image spec defines it
    /// (https://github.com/opencontainers/image-spec/blob/main/config.md#layer-chainid): the first layer's diff id, then
    /// <c>sha256(previous + " " + diff id)</c> for each next one. It names a stack of layers, so their merged tree.
    /// </summary>
    public static Digest ChainId(IReadOnlyList<ILayer> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0) return Digest.Sha256([]);
        var chain = layers[0].DiffId;
        for (int i = 1; i < layers.Count; i++) chain = Digest.Sha256(Encoding.UTF8.GetBytes($"{chain} {layers[i].DiffId}"));
        return chain;
    }

    /// <summary>The file's name for <paramref name="layers"/>: <c>&lt;chain id hex&gt;.tree</c>.</summary>
    public static string FileName(IReadOnlyList<ILayer> layers) => ChainId(layers).Hex + ".tree";

    public FileEntry? Get(string path)
    {
        string? resolved = FileTree.Walk(_lookup, path, followLast: false, makeDirectory: null);
        return resolved is null ? null : Find(resolved);
    }

    public FileEntry? Resolve(string path)
    {
        string? resolved = FileTree.Walk(_lookup, path, followLast: true, makeDirectory: null);
        return resolved is null ? null : Find(resolved);
    }

    public string RealPath(string path) => FileTree.Walk(_lookup, path, followLast: true, makeDirectory: static _ => { })!;

    public void Dispose()
    {
        _view.Dispose();
        _file.Dispose();
    }

    /// <summary>
    /// What a snapshot's heap starts with: the chain id and the boot that wrote it (<see cref="BootId.Stamp"/>). A
    /// snapshot is not flushed to disk, so it is trusted only within its boot (a crash that loses unflushed bytes
    /// reboots: <see cref="BootId"/>); null, so nothing written or trusted, where no boot id is told.
    /// </summary>
    private static string? Heading(IReadOnlyList<ILayer> layers) => BootId.Stamp is { } stamp ? $"{ChainId(layers)} {stamp}" : null;

    /// <summary>
    /// The snapshot at <paramref name="path"/> of the tree of <paramref name="layers"/>; null when there is none, or it
    /// is damaged, or it records another chain or another boot.
    /// </summary>
    public static TreeSnapshot? TryOpen(string path, IReadOnlyList<ILayer> layers)
    {
        MemoryMappedFile? file = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            long length = new FileInfo(path).Length;
            if (length < HeaderSize) return null;
            file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            Span<byte> header = stackalloc byte[HeaderSize];
            view.SafeMemoryMappedViewHandle.ReadSpan((ulong)view.PointerOffset, header);
            int count = BinaryPrimitives.ReadInt32LittleEndian(header[16..]);
            int layerCount = BinaryPrimitives.ReadInt32LittleEndian(header[20..]);
            int chainOffset = BinaryPrimitives.ReadInt32LittleEndian(header[24..]);
            int chainLength = BinaryPrimitives.ReadInt32LittleEndian(header[28..]);
            long heap = BinaryPrimitives.ReadInt64LittleEndian(header[32..]);
            long heapLength = BinaryPrimitives.ReadInt64LittleEndian(header[40..]);
            if (!header[..16].SequenceEqual(Magic) || count < 1 || layerCount != layers.Count
                || heap != HeaderSize + (long)count * RecordSize || heap + heapLength != length
                || chainOffset < 0 || chainLength < 0 || (long)chainOffset + chainLength > heapLength)
                return null;
            var snapshot = new TreeSnapshot(file, view, count, heap, layers);
            if (Heading(layers) is not { } heading || snapshot.HeapString(chainOffset, chainLength) != heading)
            {
                snapshot.Dispose();
                return null;
            }
            return snapshot;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            view?.Dispose();
            file?.Dispose();
            return null;
        }
    }

    /// <summary>The entry at the clean path <paramref name="path"/>, no link followed; null when the tree has none.</summary>
    private FileEntry? Find(string path)
    {
        int length = Encoding.UTF8.GetByteCount(path);
        byte[]? rented = length > StackLimit ? ArrayPool<byte>.Shared.Rent(length) : null;
        try
        {
            Span<byte> key = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
            Encoding.UTF8.GetBytes(path, key);
            int low = 0, high = Count - 1;
            while (low <= high)
            {
                int middle = low + (high - low) / 2;
                int order = ComparePath(middle, key);
                if (order == 0) return Made(middle, path);
                if (order < 0) low = middle + 1;
                else high = middle - 1;
            }
            return null;
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The order of record <paramref name="index"/>'s path against <paramref name="key"/> (UTF-8 bytes).</summary>
    private int ComparePath(int index, ReadOnlySpan<byte> key)
    {
        Span<byte> place = stackalloc byte[8];
        _buffer.ReadSpan(RecordAt(index), place);
        int offset = Int32(place, 0), length = Int32(place, 4);
        byte[]? rented = length > StackLimit ? ArrayPool<byte>.Shared.Rent(length) : null;
        try
        {
            Span<byte> path = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
            _buffer.ReadSpan(HeapAt(offset), path);
            return path.SequenceCompareTo(key);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private ulong RecordAt(int index) => _origin + HeaderSize + (ulong)index * RecordSize;

    private ulong HeapAt(int offset) => _origin + (ulong)_heap + (ulong)offset;

    private string HeapString(int offset, int length) => length == 0 ? "" : Encoding.UTF8.GetString(HeapBytes(offset, length));

    /// <summary>The heap's <paramref name="length"/> bytes at <paramref name="offset"/>: strings, inline file bytes, file capabilities.</summary>
    private byte[] HeapBytes(int offset, int length)
    {
        byte[] bytes = new byte[length];
        _buffer.ReadSpan(HeapAt(offset), bytes.AsSpan());
        return bytes;
    }

    /// <summary>Record <paramref name="index"/> as an entry (made once; later lookups get the same object).</summary>
    private FileEntry? Made(int index, string path)
    {
        if (_made.TryGetValue(index, out var made)) return made;
        Span<byte> r = stackalloc byte[RecordSize];
        _buffer.ReadSpan(RecordAt(index), r);
        // A query whose UTF-8 matches but whose text does not (an unpaired surrogate) is not the tree's path.
        string stored = HeapString(Int32(r, 0), Int32(r, 4));
        if (stored != path) return null;
        var type = (TarTypeFlag)r[8];
        var has = (Has)r[9];
        LayerLocation? location = null;
        if (has.HasFlag(Has.Location))
        {
            int layer = Int32(r, 64);
            if (layer < 0 || layer >= _layers.Count) throw new InvalidDataException($"A tree snapshot names layer {layer} of {_layers.Count}.");
            string name = has.HasFlag(Has.NameIsPath) ? stored : HeapString(Int32(r, 72), Int32(r, 76));
            byte[]? inline = has.HasFlag(Has.Inline) ? HeapBytes(Int32(r, 80), Int32(r, 84)) : null;
            location = new LayerLocation(_layers[layer], Int32(r, 68), name) { Inline = inline };
        }
        int group = Int32(r, 88);
        var entry = new FileEntry(stored, type, Int32(r, 12), Int64(r, 16), Int64(r, 24))
        {
            Size = Int64(r, 32),
            LinkTarget = has.HasFlag(Has.Link) ? HeapString(Int32(r, 40), Int32(r, 44)) : null,
            DeviceMajor = Int32(r, 48),
            DeviceMinor = Int32(r, 52),
            ModificationTime = has.HasFlag(Has.Time) ? new DateTimeOffset(Int64(r, 56), TimeSpan.Zero) : null,
            Location = location,
            HardLinks = group < 0 ? null : _groups.GetOrAdd(group, _ => new HardLinkGroup()),
            Capability = has.HasFlag(Has.Capability) ? HeapBytes(Int32(r, 92), r[10]) : null,
        };
        return _made.GetOrAdd(index, entry);
    }

    private static int Int32(ReadOnlySpan<byte> record, int at) => BinaryPrimitives.ReadInt32LittleEndian(record[at..]);

    private static long Int64(ReadOnlySpan<byte> record, int at) => BinaryPrimitives.ReadInt64LittleEndian(record[at..]);

    /// <summary>
    /// Records <paramref name="tree"/>, the merged tree of <paramref name="layers"/>, at <paramref name="path"/> (a
    /// temporary name, then renamed). False, and nothing written, when an entry's bytes are not in those layers (a
    /// step's planned entry), the heap would pass 2 GiB or no boot id is told. An I/O failure throws.
    /// </summary>
    public static bool TryWrite(string path, IReadOnlyList<ILayer> layers, FileTree tree)
    {
        var layerIndex = new Dictionary<ILayer, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < layers.Count; i++) layerIndex.TryAdd(layers[i], i);
        var groups = new Dictionary<HardLinkGroup, int>(ReferenceEqualityComparer.Instance);
        var records = new List<(byte[] Path, FileEntry Entry)>(tree.Count);
        foreach (var entry in tree.Entries)
        {
            if (entry.Open is not null) return false;
            if (entry.Location is { } location && !layerIndex.ContainsKey(location.Layer)) return false;
            if (entry.Capability is { Length: > MaxCapability }) return false;
            records.Add((Encoding.UTF8.GetBytes(entry.Path), entry));
        }
        records.Sort((a, b) => a.Path.AsSpan().SequenceCompareTo(b.Path));

        // The heap: each record's strings and bytes in record order, the chain id first.
        if (Heading(layers) is not { } heading) return false;
        byte[] chain = Encoding.UTF8.GetBytes(heading);
        long heapLength = chain.Length;
        var heapParts = new List<byte[]>(records.Count * 2) { chain };
        long Place(byte[] bytes)
        {
            long at = heapLength;
            heapParts.Add(bytes);
            heapLength += bytes.Length;
            return at;
        }

        string temp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Span<byte> header = stackalloc byte[HeaderSize];
                header.Clear();
                Magic.CopyTo(header);
                BinaryPrimitives.WriteInt32LittleEndian(header[16..], records.Count);
                BinaryPrimitives.WriteInt32LittleEndian(header[20..], layers.Count);
                BinaryPrimitives.WriteInt32LittleEndian(header[24..], 0);
                BinaryPrimitives.WriteInt32LittleEndian(header[28..], chain.Length);
                BinaryPrimitives.WriteInt64LittleEndian(header[32..], HeaderSize + (long)records.Count * RecordSize);
                file.Write(header);

                Span<byte> r = stackalloc byte[RecordSize];
                foreach (var (pathBytes, e) in records)
                {
                    r.Clear();
                    Has has = 0;
                    Put32(r, 0, Place(pathBytes));
                    Put32(r, 4, pathBytes.Length);
                    r[8] = (byte)e.Type;
                    BinaryPrimitives.WriteInt32LittleEndian(r[12..], e.Mode);
                    BinaryPrimitives.WriteInt64LittleEndian(r[16..], e.Uid);
                    BinaryPrimitives.WriteInt64LittleEndian(r[24..], e.Gid);
                    BinaryPrimitives.WriteInt64LittleEndian(r[32..], e.Size);
                    if (e.LinkTarget is { } link)
                    {
                        has |= Has.Link;
                        byte[] bytes = Encoding.UTF8.GetBytes(link);
                        Put32(r, 40, Place(bytes));
                        Put32(r, 44, bytes.Length);
                    }
                    BinaryPrimitives.WriteInt32LittleEndian(r[48..], e.DeviceMajor);
                    BinaryPrimitives.WriteInt32LittleEndian(r[52..], e.DeviceMinor);
                    if (e.ModificationTime is { } time)
                    {
                        has |= Has.Time;
                        BinaryPrimitives.WriteInt64LittleEndian(r[56..], time.UtcTicks);
                    }
                    BinaryPrimitives.WriteInt32LittleEndian(r[64..], -1);
                    if (e.Location is { } location)
                    {
                        has |= Has.Location;
                        BinaryPrimitives.WriteInt32LittleEndian(r[64..], layerIndex[location.Layer]);
                        BinaryPrimitives.WriteInt32LittleEndian(r[68..], location.Ordinal);
                        if (location.Name == e.Path)
                        {
                            has |= Has.NameIsPath;
                        }
                        else
                        {
                            byte[] name = Encoding.UTF8.GetBytes(location.Name);
                            Put32(r, 72, Place(name));
                            Put32(r, 76, name.Length);
                        }
                        if (location.Inline is { } inline)
                        {
                            has |= Has.Inline;
                            Put32(r, 80, Place(inline));
                            Put32(r, 84, inline.Length);
                        }
                    }
                    int group = -1;
                    if (e.HardLinks is { } hardLinks && !groups.TryGetValue(hardLinks, out group)) groups[hardLinks] = group = groups.Count;
                    BinaryPrimitives.WriteInt32LittleEndian(r[88..], group);
                    if (e.Capability is { } capability)
                    {
                        has |= Has.Capability;
                        r[10] = (byte)capability.Length;
                        Put32(r, 92, Place(capability));
                    }
                    r[9] = (byte)has;
                    file.Write(r);
                    if (heapLength > int.MaxValue) return false;
                }
                foreach (byte[] part in heapParts) file.Write(part);
                // The heap's length, now known, completes the header.
                file.Position = 40;
                Span<byte> tail = stackalloc byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(tail, heapLength);
                file.Write(tail);
            }
            File.Move(temp, path, overwrite: true);
            return true;
        }
        finally
        {
            try { File.Delete(temp); } catch (IOException) { }
        }
    }

    private static void Put32(Span<byte> record, int at, long value) => BinaryPrimitives.WriteInt32LittleEndian(record[at..], checked((int)value));
}
