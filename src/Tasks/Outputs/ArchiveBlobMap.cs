using System.Globalization;
using System.Text;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;

namespace Livrable.Outputs;

/// <summary>
/// Where each layer blob lies in the tarball last written to a path, so that the next write of that path (a one-line
/// edit: one new layer, the others unchanged) copies the unchanged layers' bytes from the old tarball instead of
/// reading, decompressing nothing but hashing again, every blob from the store (issue 14, "the edit loop": pyapp's
/// 580 MB apt layer was read and hashed at every edit). One file per tarball, <c>cache/archives/&lt;sha256 of the
/// tarball's full path&gt;</c> (<see cref="CacheRecordKind.Archives"/>, evicted like the other records): the tarball's status just after its rename (size, modification and change
/// times in nanoseconds, device, inode, as <c>statx</c> gives them) and one line per layer blob: digest, offset of its
/// bytes in the tarball, size.
/// </summary>
/// <remarks>
/// The old bytes are trusted only while the file is the one written: a map is used when the path's <c>lstat</c> still
/// gives the recorded status. Any write to the file changes its modification and change times, and the change time
/// cannot be put back (<c>touch -r</c> restores only the modification time), so an edit of the tarball that kept its
/// size and time is still seen, as <c>Build/Cache/FileDigests</c> sees a context file's; a file replaced (a copy, a
/// link) has another inode or kind. The blobs copied were checked against their digests when that tarball was
/// written. Without <c>statx</c> (Windows, macOS) no map is kept and every blob is read from the store, as before.
/// </remarks>
internal sealed class ArchiveBlobMap : IDisposable
{
    private const string Version = "livrable-archive-blobs 1";

    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _file;
    private readonly long _length;
    private readonly Dictionary<Digest, (long Offset, long Size)> _blobs;

    private ArchiveBlobMap(Microsoft.Win32.SafeHandles.SafeFileHandle file, long length, Dictionary<Digest, (long Offset, long Size)> blobs)
    {
        _file = file;
        _length = length;
        _blobs = blobs;
    }

    /// <summary>Closes the old tarball.</summary>
    public void Dispose() => _file.Dispose();

    /// <summary>How many layer blobs were taken from the old tarball so far (the log and the tests).</summary>
    public int Copied { get; private set; }

    /// <summary>The map's file for the tarball <paramref name="target"/> (a full path) in <paramref name="stateDirectory"/>.</summary>
    public static string PathOf(string stateDirectory, string target)
        => Path.Combine(StateLayout.Records(Path.GetFullPath(stateDirectory), CacheRecordKind.Archives),
            Digest.Sha256(Encoding.UTF8.GetBytes(target)).Hex);

    /// <summary>
    /// The map of the tarball at <paramref name="target"/>, with the old tarball open, when one was recorded and the
    /// file is still the one written (same kind, size, times, device and inode); null otherwise, or when anything
    /// cannot be read. The status is read before and after the file is opened: the same both times, the open file is
    /// the one the map describes, even if another build renames its tarball over the path a moment later.
    /// </summary>
    public static ArchiveBlobMap? TryLoad(string stateDirectory, string target)
    {
        try
        {
            string path = PathOf(stateDirectory, target);
            if (!File.Exists(path) || UnixFileStatus.IdentityOf(target) is not { } status) return null;
            var blobs = new Dictionary<Digest, (long, long)>();
            using (var reader = new StreamReader(path, Encoding.UTF8))
            {
                if (reader.ReadLine() != Version || reader.ReadLine() != $"path={target}" || reader.ReadLine() != status) return null;
                while (reader.ReadLine() is { } line)
                {
                    string[] parts = line.Split(' ');
                    if (parts.Length != 3 || !Digest.TryParse(parts[0], out var digest)
                        || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long offset)
                        || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out long size))
                        return null;
                    blobs[digest] = (offset, size);
                }
            }
            var file = File.OpenHandle(target, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
            if (UnixFileStatus.IdentityOf(target) != status)
            {
                file.Dispose();
                return null;
            }
            return new ArchiveBlobMap(file, RandomAccess.GetLength(file), blobs);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Where the old tarball holds the bytes of the layer blob <paramref name="descriptor"/> names (the open file and the
    /// offset), when the map places a blob of that digest and size there; null otherwise (read it from the store).
    /// </summary>
    public (Microsoft.Win32.SafeHandles.SafeFileHandle File, long Offset)? TryLocate(Descriptor descriptor)
    {
        if (!_blobs.TryGetValue(descriptor.Digest, out var place) || place.Size != descriptor.Size || _length < place.Offset + place.Size) return null;
        Copied++;
        return (_file, place.Offset);
    }

    /// <summary>Removes the map before the tarball is replaced: a write that fails half way leaves none.</summary>
    public static void Forget(string stateDirectory, string target) => ImageTarball.TryDelete(PathOf(stateDirectory, target));

    /// <summary>
    /// Records where <paramref name="blobs"/> lie in the tarball just renamed to <paramref name="target"/>, with its
    /// status now. Temp + rename, so a map is whole or absent; one that cannot be written only costs the next write
    /// its copies.
    /// </summary>
    public static void Save(string stateDirectory, string target, IReadOnlyDictionary<Digest, (long Offset, long Size)> blobs)
    {
        if (UnixFileStatus.IdentityOf(target) is not { } status) return;
        string path = PathOf(stateDirectory, target);
        string temp = $"{path}.tmp-{Guid.NewGuid():N}";
        try
        {
            var text = new StringBuilder();
            text.Append(Version).Append('\n').Append("path=").Append(target).Append('\n').Append(status).Append('\n');
            // Lines sorted as strings (CoreLib's precompiled sort), not the pairs through LINQ: its sorter over this
            // dictionary's pairs is compiled at run time in each build's fresh process (some 25 methods, issue 14).
            var lines = new string[blobs.Count];
            int i = 0;
            foreach (var (digest, place) in blobs)
                lines[i++] = $"{digest} {place.Offset.ToString(CultureInfo.InvariantCulture)} {place.Size.ToString(CultureInfo.InvariantCulture)}\n";
            Array.Sort(lines, StringComparer.Ordinal);
            foreach (string line in lines) text.Append(line);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(temp, text.ToString());
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The next write reads every blob from the store.
        }
        finally
        {
            ImageTarball.TryDelete(temp);
        }
    }
}
