using System.Collections.Concurrent;
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
    private const string Magic = "livrable-file-digests-v1";

    private readonly string _path;
    private readonly string _tempDirectory;
    private ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private bool _changed;

    /// <summary>
    /// One file's record. <see cref="Seen"/>: this build looked the file up (it is kept by <see cref="Save"/> without
    /// asking whether it still exists); a flag on the record, not a set of paths, so that a lookup writes nothing shared
    /// (issue 14: 20,000 inserts into a concurrent set at each unchanged build of workload b).
    /// </summary>
    private sealed record Entry(long Size, long ModificationTime, long ChangeTime, ulong Device, ulong Inode, int Mode, byte[] Sha256)
    {
        public bool Seen;
    }

    private FileDigests(string path, string tempDirectory, ILogger logger)
    {
        _path = path;
        _tempDirectory = tempDirectory;
        _logger = logger;
    }

    private readonly ILogger _logger;

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

    /// <summary>The index of <paramref name="folder"/> in the state folder <paramref name="stateDirectory"/>; empty when missing or unreadable.</summary>
    public static FileDigests Open(string stateDirectory, string folder, ILogger? logger = null)
    {
        string name = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(folder)))).ToLowerInvariant();
        var digests = new FileDigests(Path.Combine(StateLayout.Records(stateDirectory, CacheRecordKind.Files), name + ".index"), StateLayout.Temp(stateDirectory),
            logger ?? NullLogger.Instance);
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
        => Digest.FromSha256Hash(Sha256Of(fullPath, known, out status));

    /// <summary>
    /// The 32 bytes of <see cref="DigestOf(string, UnixFileStatus?, out UnixFileStatus?)"/>, for a caller that writes
    /// them itself (the step key of a context source: no digest string per file, issue 14). The index's own array when
    /// the file is known: not to be changed.
    /// </summary>
    public byte[] Sha256Of(string fullPath, UnixFileStatus? known, out UnixFileStatus? status)
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
    public byte[]? Sha256Known(string fullPath, UnixFileStatus? known, out UnixFileStatus? status)
    {
        bool indexed = _entries.TryGetValue(fullPath, out var entry);
        if (indexed) entry!.Seen = true;
        status = known ?? UnixFileStatus.TryRead(fullPath);
        if (status is { Kind: not (UnixFileKind.RegularFile or UnixFileKind.Directory or UnixFileKind.SymbolicLink) } special)
            return SpecialSha256(special);
        return indexed && status is { } s && Same(entry!, s) ? entry!.Sha256 : null;
    }

    /// <summary>
    /// Records the sha256 of the file at <paramref name="fullPath"/>, read whole while it had the status
    /// <paramref name="before"/> (by <see cref="DigestOf(string)"/>, or by the layer write that read it for the step's key,
    /// <c>Dockerfile/ContextReads</c>), unless its status changed since or is within the racy window.
    /// </summary>
    public void Record(string fullPath, UnixFileStatus before, byte[] hash)
    {
        if (_entries.TryGetValue(fullPath, out var known)) known.Seen = true;
        // Statted again after reading: what the index records must describe the bytes that were hashed.
        if (UnixFileStatus.TryRead(fullPath) is { } after && before == after)
        {
            long now = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
            long racy = RacyWindow.Ticks * 100;
            if (now - after.ModificationTime >= racy && now - after.ChangeTime >= racy)
            {
                _entries[fullPath] = new Entry(after.Size, after.ModificationTime, after.ChangeTime, after.Device, after.Inode, after.Mode, hash) { Seen = true };
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
            var keep = _entries.Where(e => e.Value.Seen || File.Exists(e.Key)).OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            using (var writer = new BinaryWriter(stream, Encoding.UTF8))
            {
                writer.Write(Magic);
                writer.Write(keep.Count);
                foreach (var (path, e) in keep)
                {
                    writer.Write(path);
                    writer.Write(e.Size);
                    writer.Write(e.ModificationTime);
                    writer.Write(e.ChangeTime);
                    writer.Write(e.Device);
                    writer.Write(e.Inode);
                    writer.Write(e.Mode);
                    writer.Write(e.Sha256);
                }
            }
            File.Move(temp, _path, overwrite: true);
            _changed = false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { }
        }
    }

    private void Load()
    {
        try
        {
            using var stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            using var reader = new BinaryReader(stream, Encoding.UTF8);
            if (reader.ReadString() != Magic) return;
            int count = reader.ReadInt32();
            // Sized once: the index of a 20,000-file context grew its table a dozen times as it was read.
            var entries = new ConcurrentDictionary<string, Entry>(Environment.ProcessorCount, Math.Clamp(count, 31, 1 << 20), StringComparer.Ordinal);
            for (int i = 0; i < count; i++)
            {
                string path = reader.ReadString();
                var entry = new Entry(reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64(), reader.ReadUInt64(), reader.ReadUInt64(),
                    reader.ReadInt32(), reader.ReadBytes(32));
                if (entry.Sha256.Length != 32) throw new EndOfStreamException();
                entries[path] = entry;
            }
            _entries = entries;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or EndOfStreamException or FormatException)
        {
            // Missing or damaged (a build killed while another wrote it cannot leave one: it is renamed complete): start empty.
            _entries.Clear();
        }
    }
}
