using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;

namespace Livrable.Build.Cache;

/// <summary>
/// The sha256 of files' contents without reading the files that did not change: an index per folder (a build
/// context), <c>&lt;state&gt;/cache/files/&lt;sha256 of the folder's full path&gt;.index</c>, keyed by the file's full
/// path and what <c>statx</c> says of it (size, modification and change times in nanoseconds, device, inode, mode),
/// as git's index does. The change time catches a content edit whose size and modification time were put back
/// (<c>touch -r</c>), since no system call sets it. Loaded once per build, written once at its end to a temporary
/// name and renamed.
/// </summary>
/// <remarks>
/// The file (format v2, <see cref="Magic"/>) is read whole and looked up where it lies: a table of fixed-size records
/// (size, times, device, inode, mode, where the path is, sha256) and the paths, relative to the folder, as UTF-16, with
/// an open-addressing table of record numbers built at load. An unchanged build of a 20,000-file context made a
/// string, a record, a digest array and a dictionary node per file from format v1 (issue 14: 5 MB and a collection
/// on the task's critical path); now one array. A v1 index (<see cref="MagicV1"/>) is read as before and written back
/// as v2 at the end of the build; an older Livrable meets a v2 index as an unknown one and starts empty.
/// </remarks>
/// <remarks>
/// The racy window (<see cref="RacyWindow"/>): a file modified or changed within 2 s of being hashed is
/// hashed but not recorded, because a write right after the hash could keep the same times (git's "racily clean"
/// problem); the next build hashes it again. Without <c>statx</c> (Windows, macOS) nothing is recorded and every file
/// is read.
/// <para>
/// Files are hashed whole, however large, as BuildKit's content hash does: a 50 GiB file (sparse or not) in a copied
/// folder is read once, at disk speed, and then found in the index by the next builds. There is no size cap (the file is
/// the user's own input); a file over <see cref="ProgressBytes"/> logs a line every <see cref="ProgressInterval"/> while
/// it is read, so a long hash is visible. FIFOs, sockets and devices are never opened (a FIFO would block the build
/// until something writes to it): their digest is that of their kind and device numbers (<see cref="SpecialDigest"/>).
/// </para>
/// </remarks>
internal sealed class FileDigests
{
    /// <summary>The first format: per file its full path (BinaryWriter string) and fields, read into a dictionary.</summary>
    private const string MagicV1 = "livrable-file-digests-v1";

    /// <summary>The format written (see the remarks): header, records, paths.</summary>
    private const string Magic = "livrable-file-digests-v2";

    /// <summary>The header's bytes: the magic as a BinaryWriter string (25), padding to 28, the count and the paths' length in chars.</summary>
    private const int HeaderSize = 36;

    /// <summary>
    /// One record's bytes, little-endian: size, modification time, change time (ns), device, inode (8 each), mode, the
    /// path's first char and length in chars (4 each), sha256 (32).
    /// </summary>
    private const int RecordSize = 84;

    private const int ShaAt = 52;

    private readonly string _path;
    private readonly string _tempDirectory;

    /// <summary>The folder's full path and a separator: what a path the index keeps relative to it starts with.</summary>
    private readonly string _prefix;

    private readonly ILogger _logger;

    /// <summary>The index as read (format v2), and where its records and paths are; empty when there was none.</summary>
    private byte[] _data = [];
    private int _count;
    private int _pathsAt;
    private string? _pathsSwapped; // the paths on a big-endian machine, where the file's UTF-16LE is not a char span

    /// <summary>Record number + 1 by path hash (open addressing, linear probing); 0 is a free slot.</summary>
    private int[] _slots = [0];

    /// <summary>
    /// This build looked the loaded record up (it is kept by <see cref="Save"/> without asking whether the file still
    /// exists); a flag per record, not a set of paths, so that a lookup writes nothing shared (issue 14).
    /// </summary>
    private bool[] _seen = [];

    /// <summary>What this build recorded, by full path: it wins over a loaded record of the same path.</summary>
    private readonly ConcurrentDictionary<string, Entry> _recorded = new(StringComparer.Ordinal);
    private int _recordedCount;
    private bool _changed;

    /// <summary>One file's record made by this build.</summary>
    private sealed record Entry(long Size, long ModificationTime, long ChangeTime, ulong Device, ulong Inode, int Mode, byte[] Sha256);

    private FileDigests(string path, string tempDirectory, string folder, ILogger logger)
    {
        _path = path;
        _tempDirectory = tempDirectory;
        _prefix = Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar;
        _logger = logger;
    }

    /// <summary>
    /// How recent a file's modification or change time may be for its digest (or a layer of it, <see cref="LayerSpecStep"/>)
    /// to be recorded. A file written within the file system's timestamp granularity of being read could change again
    /// without its times changing (git's "racily clean" problem), so it is read, and used, but not recorded.
    /// </summary>
    public static readonly TimeSpan RacyWindow = TimeSpan.FromSeconds(2);

    /// <summary>Files larger than this report their hashing progress (1 GiB: a few seconds on a fast disk).</summary>
    public static long ProgressBytes { get; internal set; } = 1L << 30;

    /// <summary>How often a large file's hashing reports its progress.</summary>
    public static TimeSpan ProgressInterval { get; internal set; } = TimeSpan.FromSeconds(10);

    /// <summary>How many files were read (hashed) rather than found in the index, for the log and the tests.</summary>
    public int FilesHashed => _hashed;
    private int _hashed;

    /// <summary>How many files the index held when it was read (the detailed log's count).</summary>
    public int Loaded => _count;

    /// <summary>The index of <paramref name="folder"/> in the state folder <paramref name="stateDirectory"/>; empty when missing or unreadable.</summary>
    public static FileDigests Open(string stateDirectory, string folder, ILogger? logger = null)
    {
        string full = Path.GetFullPath(folder);
        string name = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(full))).ToLowerInvariant();
        var digests = new FileDigests(Path.Combine(StateLayout.Records(stateDirectory, CacheRecordKind.Files), name + ".index"), StateLayout.Temp(stateDirectory),
            full, logger ?? NullLogger.Instance);
        digests.Load();
        return digests;
    }

    /// <summary>
    /// The sha256 of the regular file at <paramref name="fullPath"/>, from the index when its status is unchanged; for a
    /// FIFO, socket or device, <see cref="SpecialDigest"/> (the file is not opened).
    /// </summary>
    public Digest DigestOf(string fullPath) => DigestOf(fullPath, out _);

    /// <summary>
    /// <see cref="DigestOf(string)"/>, and the file's <c>statx</c> status as it was looked up (null without statx), so a
    /// caller that needs more of it (the link count) asks the file system once.
    /// </summary>
    public Digest DigestOf(string fullPath, out UnixFileStatus? status) => DigestOf(fullPath, null, out status);

    /// <summary>
    /// <see cref="DigestOf(string, out UnixFileStatus?)"/> with the status the context's walk already read
    /// (<paramref name="known"/>, <c>Context/ContextEntry.Status</c>): the lookup asks the file system nothing more for
    /// a file the index knows (one <c>statx</c> per context file, issue 14). A file that changed since the walk is
    /// taken as the walk saw it, as it would have been had the lookup run then; one read here is recorded only if its
    /// status after the read is still <paramref name="known"/> (<see cref="Record"/>).
    /// </summary>
    public Digest DigestOf(string fullPath, UnixFileStatus? known, out UnixFileStatus? status)
        => Digest.FromSha256Hash(Sha256Of(fullPath, known, out status).Span);

    /// <summary>
    /// The 32 bytes of <see cref="DigestOf(string, UnixFileStatus?, out UnixFileStatus?)"/>, for a caller that writes
    /// them itself (the step key of a context source: no digest string per file, issue 14). The index's own bytes when
    /// the file is known.
    /// </summary>
    public ReadOnlyMemory<byte> Sha256Of(string fullPath, UnixFileStatus? known, out UnixFileStatus? status)
    {
        if (Sha256Known(fullPath, known, out status) is { } found) return found;

        byte[] hash;
        using (var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan))
            hash = stream.Length > ProgressBytes ? HashReporting(stream, fullPath) : SHA256.HashData(stream);
        Interlocked.Increment(ref _hashed);
        if (status is { } before) Record(fullPath, before, hash);
        return hash;
    }

    /// <summary>
    /// <see cref="Sha256Of"/> without reading the file: its sha256 when the index knows the file with this status (or it
    /// is a FIFO, socket or device), null when it would have to be read. What a step's key can be made of before the
    /// step starts (issue 14).
    /// </summary>
    public ReadOnlyMemory<byte>? Sha256Known(string fullPath, UnixFileStatus? known, out UnixFileStatus? status)
    {
        int index = Find(fullPath);
        if (index >= 0) _seen[index] = true;
        status = known ?? UnixFileStatus.TryRead(fullPath);
        if (status is { Kind: not (UnixFileKind.RegularFile or UnixFileKind.Directory or UnixFileKind.SymbolicLink) } special)
            return SpecialSha256(special);
        if (status is not { } s) return null;
        if (Volatile.Read(ref _recordedCount) > 0 && _recorded.TryGetValue(fullPath, out var recorded) && Same(recorded, s)) return recorded.Sha256;
        // Typed: a bare null would become an empty Memory (byte[]'s conversion), a digest of nothing.
        if (index >= 0 && Same(index, s)) return new ReadOnlyMemory<byte>(_data, HeaderSize + index * RecordSize + ShaAt, 32);
        return null;
    }

    /// <summary>
    /// Records the sha256 of the file at <paramref name="fullPath"/>, read whole while it had the status
    /// <paramref name="before"/> (by <see cref="DigestOf(string)"/>, or by the layer write that read it for the step's key,
    /// <c>Dockerfile/ContextReads</c>), unless its status changed since or is within the racy window.
    /// </summary>
    public void Record(string fullPath, UnixFileStatus before, byte[] hash)
    {
        int index = Find(fullPath);
        if (index >= 0) _seen[index] = true;
        // Statted again after reading: what the index records must describe the bytes that were hashed.
        if (UnixFileStatus.TryRead(fullPath) is { } after && before == after)
        {
            long now = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
            long racy = RacyWindow.Ticks * 100;
            if (now - after.ModificationTime >= racy && now - after.ChangeTime >= racy)
            {
                _recorded[fullPath] = new Entry(after.Size, after.ModificationTime, after.ChangeTime, after.Device, after.Inode, after.Mode, hash);
                Interlocked.Increment(ref _recordedCount);
                _changed = true;
            }
        }
    }

    /// <summary>
    /// What stands for the content of a FIFO, socket or device: the sha256 of its kind and device numbers, so that the
    /// step's key changes when the node does, without reading it.
    /// </summary>
    internal static Digest SpecialDigest(UnixFileStatus status) => Digest.FromSha256Hash(SpecialSha256(status));

    private static byte[] SpecialSha256(UnixFileStatus status)
        => SHA256.HashData(Encoding.ASCII.GetBytes($"{status.Kind} {status.DeviceMajor}:{status.DeviceMinor}"));

    /// <summary>Hashes a large file, logging how far it got every <see cref="ProgressInterval"/>.</summary>
    private byte[] HashReporting(Stream stream, string fullPath)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long total = stream.Length, done = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var next = ProgressInterval;
        _logger.Info($"  hashing {fullPath} ({Units.Bytes(total)}) for the cache key");
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            done += n;
            if (clock.Elapsed >= next)
            {
                next = clock.Elapsed + ProgressInterval;
                _logger.Info($"  hashing {fullPath}: {Units.Bytes(done)} of {Units.Bytes(total)} ({done * 100 / Math.Max(1, total)}%)");
            }
        }
        return hash.GetHashAndReset();
    }

    private static bool Same(Entry entry, UnixFileStatus status)
        => entry.Size == status.Size && entry.ModificationTime == status.ModificationTime && entry.ChangeTime == status.ChangeTime
           && entry.Device == status.Device && entry.Inode == status.Inode && entry.Mode == status.Mode;

    /// <summary>Whether loaded record <paramref name="index"/> describes <paramref name="status"/> (the same fields as <see cref="Same(Entry, UnixFileStatus)"/>).</summary>
    private bool Same(int index, UnixFileStatus status)
    {
        var r = RecordOf(index);
        return BinaryPrimitives.ReadInt64LittleEndian(r) == status.Size && BinaryPrimitives.ReadInt64LittleEndian(r[8..]) == status.ModificationTime
            && BinaryPrimitives.ReadInt64LittleEndian(r[16..]) == status.ChangeTime && BinaryPrimitives.ReadUInt64LittleEndian(r[24..]) == status.Device
            && BinaryPrimitives.ReadUInt64LittleEndian(r[32..]) == status.Inode && BinaryPrimitives.ReadInt32LittleEndian(r[40..]) == status.Mode;
    }

    private ReadOnlySpan<byte> RecordOf(int index) => _data.AsSpan(HeaderSize + index * RecordSize, RecordSize);

    /// <summary>Loaded record <paramref name="index"/>'s path as the index keeps it (<see cref="KeyOf"/>).</summary>
    private ReadOnlySpan<char> PathOf(int index)
    {
        var r = RecordOf(index);
        int start = BinaryPrimitives.ReadInt32LittleEndian(r[44..]), length = BinaryPrimitives.ReadInt32LittleEndian(r[48..]);
        return _pathsSwapped is { } swapped ? swapped.AsSpan(start, length)
            : MemoryMarshal.Cast<byte, char>(_data.AsSpan(_pathsAt + 2 * start, 2 * length));
    }

    /// <summary>A full path as the index keeps it: relative to the folder when inside it (no leading separator), else whole.</summary>
    private ReadOnlySpan<char> KeyOf(string fullPath)
        => fullPath.Length > _prefix.Length && fullPath.StartsWith(_prefix, StringComparison.Ordinal) ? fullPath.AsSpan(_prefix.Length) : fullPath;

    private string FullPathOf(ReadOnlySpan<char> key)
        => key.Length > 0 && (key[0] == Path.DirectorySeparatorChar || Path.IsPathRooted(key)) ? key.ToString() : string.Concat(_prefix, key);

    /// <summary>The loaded record of <paramref name="fullPath"/>, or -1.</summary>
    private int Find(string fullPath)
    {
        if (_count == 0) return -1;
        var key = KeyOf(fullPath);
        int mask = _slots.Length - 1;
        for (int slot = string.GetHashCode(key) & mask; ; slot = (slot + 1) & mask)
        {
            int found = _slots[slot] - 1;
            if (found < 0) return -1;
            if (key.SequenceEqual(PathOf(found))) return found;
        }
    }

    /// <summary>
    /// Writes the index when it changed: the entries this build used, and the others whose file still exists. A
    /// failure only costs the next build a re-read.
    /// </summary>
    public void Save()
    {
        if (!_changed) return;
        string temp = Path.Combine(_tempDirectory, $"file-digests-{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            Directory.CreateDirectory(_tempDirectory);
            var keep = new List<(string Key, Entry Entry)>();
            for (int i = 0; i < _count; i++)
            {
                string key = PathOf(i).ToString(), full = FullPathOf(key);
                if (_recorded.ContainsKey(full) || !(_seen[i] || File.Exists(full))) continue;
                var r = RecordOf(i);
                keep.Add((key, new Entry(BinaryPrimitives.ReadInt64LittleEndian(r), BinaryPrimitives.ReadInt64LittleEndian(r[8..]),
                    BinaryPrimitives.ReadInt64LittleEndian(r[16..]), BinaryPrimitives.ReadUInt64LittleEndian(r[24..]), BinaryPrimitives.ReadUInt64LittleEndian(r[32..]),
                    BinaryPrimitives.ReadInt32LittleEndian(r[40..]), r.Slice(ShaAt, 32).ToArray())));
            }
            foreach (var (full, entry) in _recorded) keep.Add((KeyOf(full).ToString(), entry));
            keep.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
            File.WriteAllBytes(temp, Encode(keep));
            File.Move(temp, _path, overwrite: true);
            _changed = false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { }
        }
    }

    /// <summary>The bytes of a v2 index of <paramref name="entries"/> (keys as <see cref="KeyOf"/> makes them).</summary>
    private static byte[] Encode(List<(string Key, Entry Entry)> entries)
    {
        long chars = 0;
        foreach (var (key, _) in entries) chars += key.Length;
        long total = HeaderSize + (long)entries.Count * RecordSize + 2 * chars;
        if (total > Array.MaxLength) throw new IOException("The file digest index would be too large.");
        var data = new byte[total];
        var header = data.AsSpan();
        header[0] = (byte)Magic.Length;
        Encoding.ASCII.GetBytes(Magic, header[1..]);
        BinaryPrimitives.WriteInt32LittleEndian(header[28..], entries.Count);
        BinaryPrimitives.WriteInt32LittleEndian(header[32..], (int)chars);
        int pathsAt = HeaderSize + entries.Count * RecordSize, at = 0;
        for (int i = 0; i < entries.Count; i++)
        {
            var (key, e) = entries[i];
            var r = data.AsSpan(HeaderSize + i * RecordSize, RecordSize);
            BinaryPrimitives.WriteInt64LittleEndian(r, e.Size);
            BinaryPrimitives.WriteInt64LittleEndian(r[8..], e.ModificationTime);
            BinaryPrimitives.WriteInt64LittleEndian(r[16..], e.ChangeTime);
            BinaryPrimitives.WriteUInt64LittleEndian(r[24..], e.Device);
            BinaryPrimitives.WriteUInt64LittleEndian(r[32..], e.Inode);
            BinaryPrimitives.WriteInt32LittleEndian(r[40..], e.Mode);
            BinaryPrimitives.WriteInt32LittleEndian(r[44..], at);
            BinaryPrimitives.WriteInt32LittleEndian(r[48..], key.Length);
            e.Sha256.CopyTo(r[ShaAt..]);
            foreach (char c in key)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(pathsAt + 2 * at), c);
                at++;
            }
        }
        return data;
    }

    private void Load()
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return; // missing or unreadable: start empty
        }
        try
        {
            if (IsV1(data))
            {
                // Read as before, kept as v2 from now on: written back at the end of the build.
                var entries = ReadV1(data).Select(e => (KeyOf(e.Key).ToString(), e.Entry)).ToList();
                entries.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
                data = Encode(entries);
                _changed = true;
            }
            Index(data);
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or FormatException or ArgumentException)
        {
            // Damaged (a build killed while another wrote it cannot leave one: it is renamed complete): start empty.
            (_data, _count, _pathsAt, _pathsSwapped, _slots, _seen, _changed) = ([], 0, 0, null, [0], [], false);
        }
    }

    private static bool IsV1(byte[] data)
        => data.Length > MagicV1.Length && data[0] == MagicV1.Length && data.AsSpan(1, MagicV1.Length).SequenceEqual(Encoding.ASCII.GetBytes(MagicV1));

    private static List<(string Key, Entry Entry)> ReadV1(byte[] data)
    {
        using var reader = new BinaryReader(new MemoryStream(data), Encoding.UTF8);
        reader.ReadString();
        int count = reader.ReadInt32();
        if (count < 0 || count > data.Length / 76) throw new FormatException("Not a file digest index.");
        var byPath = new Dictionary<string, Entry>(count, StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string path = reader.ReadString();
            var entry = new Entry(reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64(), reader.ReadUInt64(), reader.ReadUInt64(), reader.ReadInt32(), reader.ReadBytes(32));
            if (entry.Sha256.Length != 32) throw new EndOfStreamException();
            byPath[path] = entry;
        }
        // Full paths, as v1 kept them: the caller keys them as v2 does (KeyOf).
        return byPath.Select(p => (p.Key, p.Value)).ToList();
    }

    /// <summary>Takes <paramref name="data"/> (a v2 index) as this index: checks its sizes and builds the lookup table.</summary>
    private void Index(byte[] data)
    {
        if (data.Length < HeaderSize || data[0] != Magic.Length || !data.AsSpan(1, Magic.Length).SequenceEqual(Encoding.ASCII.GetBytes(Magic))) return;
        int count = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(28)), chars = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(32));
        if (count < 0 || chars < 0 || (long)HeaderSize + (long)count * RecordSize + 2L * chars != data.Length) throw new FormatException("Not a file digest index.");
        _data = data;
        _count = count;
        _pathsAt = HeaderSize + count * RecordSize;
        _pathsSwapped = BitConverter.IsLittleEndian ? null : Encoding.Unicode.GetString(data, _pathsAt, 2 * chars);
        for (int i = 0; i < count; i++)
        {
            var r = RecordOf(i);
            int start = BinaryPrimitives.ReadInt32LittleEndian(r[44..]), length = BinaryPrimitives.ReadInt32LittleEndian(r[48..]);
            if (start < 0 || length < 0 || (long)start + length > chars) throw new FormatException("Not a file digest index.");
        }
        var slots = new int[Math.Max(2, (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, count) * 2))];
        int mask = slots.Length - 1;
        for (int i = 0; i < count; i++)
        {
            int slot = string.GetHashCode(PathOf(i)) & mask;
            while (slots[slot] != 0)
            {
                if (PathOf(slots[slot] - 1).SequenceEqual(PathOf(i))) break; // a path twice (not written so): the first wins
                slot = (slot + 1) & mask;
            }
            if (slots[slot] == 0) slots[slot] = i + 1;
        }
        _slots = slots;
        _seen = new bool[count];
    }
}
