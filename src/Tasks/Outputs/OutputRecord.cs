using System.Globalization;
using System.Text;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;

namespace Livrable.Outputs;

/// <summary>
/// What the last write of a tarball left, so that a build whose result is already there writes nothing (issue 14,
/// "unchanged means nothing written"). One file per tarball in the state folder, <c>cache/outputs/&lt;sha256 of the
/// tarball's full path&gt;</c> (<see cref="CacheRecordKind.Outputs"/>, evicted like the other records): never a file
/// in the user's output folder. It holds what the bytes were made of (the image or index digest, the image
/// <c>manifest.json</c> names, the names and tags, the attachments' digests, the entries' time) and the tarball's
/// size and modification time just after the write, with its change time, device and inode where <c>statx</c> tells
/// them. The tarball is taken as intact when it exists with that status: anything that rewrites, truncates or touches
/// it changes one of them, as <c>make</c> and MSBuild's up-to-date checks assume, and the change time, which no call
/// can put back, catches an edit whose size and time were restored and another file moved into its place.
/// </summary>
/// <remarks>
/// <para>No partial image is ever taken as up to date, wherever the writing process is killed and whenever the kernel
/// crashes. The order: the tarball is written under a temporary name beside the target; the record (and the
/// <see cref="ArchiveBlobMap"/>) of the old tarball is removed; the temporary file is renamed over the target; the new
/// record is written under a temporary name and renamed into place. A process killed before the rename leaves the old
/// tarball and, at worst, its own record (still true of it) and a temporary file the next write removes; killed after
/// the removal, no record: the next build writes again; killed after the rename, a complete tarball and no record.
/// A record exists only for a tarball renamed whole into place.</para>
/// <para>The tarball is not flushed to disk (<c>fsync</c>, about 0.2 s for 250 MB, which neither the .NET SDK nor
/// <c>docker save</c> pay) where the record holds the kernel's boot id (<see cref="BootBound"/>): a killed process
/// loses nothing of the page cache, and a kernel crash or power loss, which can lose what was not flushed, reboots
/// the machine, so the record, written in the boot before, no longer matches and the tarball is written again.
/// Without a boot id (Windows, macOS) the tarball is flushed before its record is kept. Not covered, as for any
/// program that does not <c>fsync</c>: a disk that fails to write back (an I/O error the kernel logs but no call
/// returns) or removable storage unplugged without unmounting.</para>
/// </remarks>
internal sealed class OutputRecord
{
    private const string Version = "livrable-output 1";
    private readonly string _path;
    private readonly string _target;
    private readonly string _content;

    private OutputRecord(string path, string target, string content)
    {
        _path = path;
        _target = target;
        _content = content;
    }

    /// <summary>
    /// The record of the tarball <paramref name="target"/> (a full path) in the state folder <paramref name="stateDirectory"/>,
    /// for <paramref name="content"/> written under <paramref name="names"/> with entries of time <paramref name="mtime"/>.
    /// </summary>
    public static OutputRecord For(string stateDirectory, string target, TarballContent content, IReadOnlyList<TarballName> names, long mtime)
    {
        string folder = StateLayout.Records(Path.GetFullPath(stateDirectory), CacheRecordKind.Outputs);
        string key = Digest.Sha256(Encoding.UTF8.GetBytes(target)).Hex;
        var text = new StringBuilder();
        text.Append("path=").Append(target).Append('\n');
        text.Append("digest=").Append(content.Index?.Digest ?? content.LoadImage.Digest).Append('\n');
        text.Append("load=").Append(content.LoadImage.Digest).Append('\n');
        foreach (var image in content.Images) text.Append("image=").Append(image.Digest).Append('\n');
        foreach (var name in names) text.Append("name=").Append(name.RepoTag).Append(' ').Append(name.FullName).Append(' ').Append(name.Tag).Append('\n');
        foreach (var attachment in content.Attachments) text.Append("attachment=").Append(attachment.Descriptor.Digest).Append('\n');
        text.Append("mtime=").Append(mtime.ToString(CultureInfo.InvariantCulture)).Append('\n');
        return new OutputRecord(Path.Combine(folder, key), target, text.ToString());
    }

    /// <summary>
    /// Whether the tarball is the one this record describes: the record says the same content, and the file has the
    /// size and modification time recorded after its write. Any doubt (no record, unreadable) is false: write again.
    /// </summary>
    public bool IsIntact()
    {
        try
        {
            if (!File.Exists(_path)) return false;
            var target = new FileInfo(_target);
            if (!target.Exists || (target.Attributes & (FileAttributes.Directory | FileAttributes.ReparsePoint)) != 0) return false;
            string expected = $"{Version}\n{_content}{Written(target)}";
            if (File.ReadAllText(_path) != expected) return false;
            // Used now: least-recently-used eviction keeps it (a time set at most once a minute, as for every record:
            // an unchanged build writes nothing, not even a time).
            StateFolder.Touch(_path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// What the file says of itself: size and modification time, and where <c>statx</c> answers its change time, device
    /// and inode too (<see cref="UnixFileStatus.IdentityOf"/>): a file moved into the tarball's place with the same size
    /// and time, or edited and its time put back, is another file.
    /// </summary>
    private static string Written(FileInfo target)
        => $"size={target.Length.ToString(CultureInfo.InvariantCulture)}\nwritten={target.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture)}\n"
           + (UnixFileStatus.IdentityOf(target.FullName) is { } status ? status + "\n" : "");

    /// <summary>
    /// Whether a record made now names the kernel's boot (<see cref="UnixFileStatus.IdentityOf"/> answers: statx and a
    /// boot id). Then the tarball needs no <c>fsync</c>: bytes not yet on disk are lost only by a crash, which reboots,
    /// and a record of another boot is never trusted. Else (Windows, macOS) the tarball is flushed to disk before its
    /// record is kept, as before.
    /// </summary>
    public static bool BootBound => UnixFileStatus.IsAvailable && BootId.Current is not null;

    /// <summary>Removes the record before the tarball is replaced: a write that fails half way leaves none.</summary>
    public void Forget() => ImageTarball.TryDelete(_path);

    /// <summary>
    /// Records the tarball just written (its size and time now). Written under a temporary name and renamed, so a
    /// record is whole or absent; a record that cannot be written only costs the next build a write. A tarball not
    /// <paramref name="flushed"/> to disk is recorded only with the boot id (statx may have stopped answering since
    /// <see cref="BootBound"/> was asked): else no record.
    /// </summary>
    public void Save(bool flushed)
    {
        string temp = $"{_path}.tmp-{Guid.NewGuid():N}";
        try
        {
            var target = new FileInfo(_target);
            string written = Written(target);
            if (!flushed && !written.Contains(" boot=", StringComparison.Ordinal)) return;
            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            File.WriteAllText(temp, $"{Version}\n{_content}{written}");
            File.Move(temp, _path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The next build writes the tarball again.
        }
        finally
        {
            ImageTarball.TryDelete(temp);
        }
    }
}
