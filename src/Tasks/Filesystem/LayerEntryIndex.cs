using System.Runtime.CompilerServices;
using Livrable.Images;
using Livrable.Layers;

namespace Livrable.Filesystem;

/// <summary>
/// A layer's entries as a file tree applies them (paths, types, modes, owners, sizes, links, devices, times, and where
/// each regular file's bytes are in the tar; no bytes but the small inline ones), kept per diff id in the state folder:
/// <c>&lt;state&gt;/cache/trees/&lt;diff-id-hex&gt;.entries</c>. A Dockerfile step planned over a stage whose layers came
/// from the step cache (a COPY after a cached <c>RUN apt-get</c>) would otherwise decompress each of those layers
/// again, hundreds of megabytes, only to learn which paths exist.
/// </summary>
/// <remarks>
/// Written once, after the layer was read in full from its verified blob (so every check of that read, hostile names,
/// entry types, the size cap, passed), to a temporary name and renamed. The diff id names the tar, whatever its
/// compression, so an entry's ordinal points into any blob of that layer. A damaged or foreign file reads as absent:
/// the layer is read from its blob as before. The bytes of a file are still read from the blob, verified, when a step
/// copies it.
/// </remarks>
internal sealed class LayerEntryIndex(string directory)
{
    private const string Format = "livrable-layer-entries-v1";

    /// <summary>The folder of the index files.</summary>
    public string Directory { get; } = directory;

    private string PathOf(ILayer layer) => Path.Combine(Directory, layer.DiffId.Hex + ".entries");

    /// <summary>The entries of <paramref name="layer"/> when they were recorded; null otherwise.</summary>
    /// <remarks>Compiled optimized at once, as <c>FileTree</c>'s layer application (why: there).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public List<FileEntry>? TryRead(ILayer layer)
    {
        try
        {
            // Read whole, then parsed from memory: a 20,000-entry index is a few megabytes, read in one go rather than
            // in the 4 kB reads a BinaryReader over the file would make.
            using var reader = new BinaryReader(new MemoryStream(File.ReadAllBytes(PathOf(layer)), writable: false));
            if (reader.ReadString() != Format || reader.ReadString() != layer.DiffId.ToString()) return null;
            int count = reader.ReadInt32();
            var entries = new List<FileEntry>(count);
            for (int i = 0; i < count; i++)
            {
                string path = reader.ReadString();
                var type = (TarTypeFlag)reader.ReadByte();
                int mode = reader.ReadInt32();
                long uid = reader.ReadInt64(), gid = reader.ReadInt64(), size = reader.ReadInt64();
                string? link = reader.ReadBoolean() ? reader.ReadString() : null;
                int major = reader.ReadInt32(), minor = reader.ReadInt32();
                DateTimeOffset? time = reader.ReadBoolean() ? new DateTimeOffset(reader.ReadInt64(), TimeSpan.Zero) : null;
                LayerLocation? location = null;
                if (reader.ReadBoolean())
                {
                    int ordinal = reader.ReadInt32();
                    string name = reader.ReadString();
                    int inline = reader.ReadInt32();
                    location = new LayerLocation(layer, ordinal, name) { Inline = inline < 0 ? null : reader.ReadBytes(inline) };
                }
                entries.Add(new FileEntry(path, type, mode, uid, gid)
                {
                    Size = size,
                    LinkTarget = link,
                    DeviceMajor = major,
                    DeviceMinor = minor,
                    ModificationTime = time,
                    Location = location,
                });
            }
            return reader.BaseStream.Position == reader.BaseStream.Length ? entries : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or EndOfStreamException or FormatException
                                      or ArgumentException or InvalidDataException)
        {
            return null; // absent or damaged: read the layer
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
