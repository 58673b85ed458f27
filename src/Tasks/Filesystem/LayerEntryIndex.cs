using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Livrable.Images;
using Livrable.Layers;

namespace Livrable.Filesystem;

/// <summary>
/// A layer's entries as a file tree applies them (paths, types, modes, owners, sizes, links, devices, times, file
/// capabilities (format v3: a v2 file, written without them, reads as absent; v4: the names of one file with one record,
/// <see cref="Layers.LinkedCapabilities"/>, which a v3 file may not give), and where
/// each regular file's bytes are in the tar; no bytes but the small inline ones), kept per diff id in the state folder:
/// <c>&lt;state&gt;/cache/trees/&lt;diff-id-hex&gt;.entries</c>. A Dockerfile step planned over a stage whose layers came
/// from the step cache (a COPY after a cached <c>RUN apt-get</c>) would otherwise decompress each of those layers
/// again, hundreds of megabytes, only to learn which paths exist.
/// </summary>
/// <remarks>
/// Written once, after the layer was read in full from its verified blob (so every check of that read, hostile names,
/// entry types, the size cap, passed), to a temporary name and renamed. The diff id names the tar, whatever its
/// compression, so an entry's ordinal points into any blob of that layer. Not flushed to disk: the file names the boot
/// that wrote it and is trusted only within that boot (<see cref="BootId"/>: a crash that loses unflushed bytes
/// reboots), so a crash cannot leave an index whose lost bytes plan a wrong layer. A damaged or foreign file reads as absent:
/// the layer is read from its blob as before. The bytes of a file are still read from the blob, verified, when a step
/// copies it.
/// </remarks>
internal sealed class LayerEntryIndex(string directory)
{
    private const string Format = "livrable-layer-entries-v4";

    /// <summary>The folder of the index files.</summary>
    public string Directory { get; } = directory;

    private string PathOf(ILayer layer) => Path.Combine(Directory, layer.DiffId.Hex + ".entries");

    /// <summary>Whether the entries of <paramref name="layer"/> were recorded (a damaged record is found on reading).</summary>
    public bool Holds(ILayer layer) => File.Exists(PathOf(layer));

    /// <summary>The merged trees of layer chains recorded beside the entries (<see cref="TreeSnapshot"/>), for this build.</summary>
    public TreeSnapshots Snapshots => LazyInitializer.EnsureInitialized(ref _snapshots, () => new TreeSnapshots(this));

    private TreeSnapshots? _snapshots;

    /// <summary>The entries of <paramref name="layer"/> when they were recorded; null otherwise.</summary>
    /// <remarks>Compiled optimized at once, as <c>FileTree</c>'s layer application (why: there).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public List<FileEntry>? TryRead(ILayer layer)
    {
        try
        {
            using var reader = new BufferedReader(PathOf(layer));
            if (reader.String() != Format || reader.String() != layer.DiffId.ToString() || !BootId.Vouches(reader.String())) return null;
            int count = reader.Int32();
            var entries = new List<FileEntry>(count);
            byte[] pathBytes = new byte[256]; // the path's bytes, kept past the reads that follow
            for (int i = 0; i < count; i++)
            {
                var read = reader.StringBytes();
                if (read.Length > pathBytes.Length) pathBytes = new byte[read.Length * 2];
                read.CopyTo(pathBytes);
                int pathLength = read.Length;
                string path = BufferedReader.Decode(read);
                var type = (TarTypeFlag)reader.Byte();
                int mode = reader.Int32();
                long uid = reader.Int64(), gid = reader.Int64(), size = reader.Int64();
                string? link = reader.Boolean() ? reader.String() : null;
                int major = reader.Int32(), minor = reader.Int32();
                DateTimeOffset? time = reader.Boolean() ? new DateTimeOffset(reader.Int64(), TimeSpan.Zero) : null;
                LayerLocation? location = null;
                if (reader.Boolean())
                {
                    int ordinal = reader.Int32();
                    // The tar name is nearly always the entry's path: one string for both.
                    var nameBytes = reader.StringBytes();
                    string name = nameBytes.SequenceEqual(pathBytes.AsSpan(0, pathLength)) ? path : BufferedReader.Decode(nameBytes);
                    int inline = reader.Int32();
                    location = new LayerLocation(layer, ordinal, name) { Inline = inline < 0 ? null : reader.Bytes(inline) };
                }
                int capabilityLength = reader.Int32();
                byte[]? capability = capabilityLength < 0 ? null : reader.Bytes(capabilityLength);
                entries.Add(new FileEntry(path, type, mode, uid, gid)
                {
                    Size = size,
                    LinkTarget = link,
                    DeviceMajor = major,
                    DeviceMinor = minor,
                    ModificationTime = time,
                    Location = location,
                    Capability = capability,
                });
            }
            return reader.AtEnd ? entries : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or ArgumentException
                                      or InvalidDataException or EndOfStreamException)
        {
            return null; // absent or damaged: read the layer
        }
    }

    /// <summary>
    /// Reads what a <see cref="BinaryWriter"/> wrote (little-endian numbers, strings as a 7-bit encoded byte count and
    /// UTF-8) from a file through one small buffer, without a stream's calls per value. Neither the whole file (a
    /// 20,000-entry index is over 2 MB) nor any buffer lands on the large object heap: in the build's MSBuild process
    /// that started a full garbage collection, a third of a COPY's plan in the edit loop (issue 14). A read past the end
    /// throws <see cref="EndOfStreamException"/>.
    /// </summary>
    private sealed class BufferedReader(string path) : IDisposable
    {
        private const int BufferSize = 64 * 1024; // below the large object heap's 85,000 bytes
        private readonly FileStream _file = new(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.SequentialScan);
        private readonly byte[] _buffer = new byte[BufferSize];
        private int _at, _end;

        public bool AtEnd => _at == _end && Fill(1) == 0;

        public void Dispose() => _file.Dispose();

        public byte Byte() => Take(1)[0];

        public bool Boolean() => Byte() != 0;

        public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

        public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

        public byte[] Bytes(int count)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(count);
            if (count <= BufferSize) return Take(count).ToArray();
            var bytes = new byte[count];
            int copied = _end - _at;
            _buffer.AsSpan(_at, copied).CopyTo(bytes);
            _at = _end;
            _file.ReadExactly(bytes, copied, count - copied);
            return bytes;
        }

        public string String() => Decode(StringBytes());

        /// <summary>A string's UTF-8 bytes, after their 7-bit encoded count (valid until the next read).</summary>
        public ReadOnlySpan<byte> StringBytes()
        {
            int count = 0;
            for (int shift = 0; ; shift += 7)
            {
                if (shift > 28) throw new FormatException("A string's length has more than five bytes.");
                byte b = Byte();
                count |= (b & 0x7F) << shift;
                if (b < 0x80) break;
            }
            return count <= BufferSize ? Take(count) : Bytes(count);
        }

        public static string Decode(ReadOnlySpan<byte> utf8) => System.Text.Encoding.UTF8.GetString(utf8);

        /// <summary>The next <paramref name="count"/> bytes (at most the buffer's size), valid until the next read.</summary>
        private ReadOnlySpan<byte> Take(int count)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(count);
            if (_end - _at < count && Fill(count) < count) throw new EndOfStreamException();
            var span = _buffer.AsSpan(_at, count);
            _at += count;
            return span;
        }

        /// <summary>Moves what is left to the buffer's start and reads until <paramref name="wanted"/> bytes are there or the file ends.</summary>
        private int Fill(int wanted)
        {
            int left = _end - _at;
            _buffer.AsSpan(_at, left).CopyTo(_buffer);
            _at = 0;
            _end = left;
            while (_end < wanted)
            {
                int read = _file.Read(_buffer, _end, BufferSize - _end);
                if (read == 0) break;
                _end += read;
            }
            return _end;
        }
    }

    /// <summary>Records the entries of <paramref name="layer"/>; a failure only costs reading the layer again next time.</summary>
    public void Write(ILayer layer, IReadOnlyList<FileEntry> entries)
    {
        string path = PathOf(layer);
        string temp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            using (var writer = new BinaryWriter(File.Create(temp)))
            {
                writer.Write(Format);
                writer.Write(layer.DiffId.ToString());
                writer.Write(BootId.Stamp ?? "");
                writer.Write(entries.Count);
                foreach (var e in entries)
                {
                    writer.Write(e.Path);
                    writer.Write((byte)e.Type);
                    writer.Write(e.Mode);
                    writer.Write(e.Uid);
                    writer.Write(e.Gid);
                    writer.Write(e.Size);
                    writer.Write(e.LinkTarget is not null);
                    if (e.LinkTarget is not null) writer.Write(e.LinkTarget);
                    writer.Write(e.DeviceMajor);
                    writer.Write(e.DeviceMinor);
                    writer.Write(e.ModificationTime is not null);
                    if (e.ModificationTime is { } time) writer.Write(time.UtcTicks);
                    writer.Write(e.Location is not null);
                    if (e.Location is { } location)
                    {
                        writer.Write(location.Ordinal);
                        writer.Write(location.Name);
                        writer.Write(location.Inline?.Length ?? -1);
                        if (location.Inline is { } inline) writer.Write(inline);
                    }
                    writer.Write(e.Capability?.Length ?? -1);
                    if (e.Capability is { } capability) writer.Write(capability);
                }
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { }
        }
    }
}
