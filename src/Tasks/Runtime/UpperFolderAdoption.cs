using Livrable.Images;
using Livrable.Layers;
using Livrable.Interop;

namespace Livrable.Runtime;

/// <summary>
/// Makes a RUN's overlay upper folder, once its layer is written, into what extracting that layer's blob gives
/// (<see cref="LayerRootfs"/>), entry by entry, and moves it into a lower folder's temporary name: the next RUN finds
/// the layer without its blob being decompressed and extracted again (issue 14: samples/pyapp's pip RUN spent most of
/// its 10.9 s cold extracting the 580 MB apt-get layer the RUN before had just left in its upper folder).
/// </summary>
/// <remarks>
/// Nothing is decided again here: the layer writer's record (<see cref="LayerWriteOptions.Headers"/> and, one for one,
/// <see cref="LayerWriteOptions.Written"/>) says what the tar holds, and the folder is brought to it with the rules of
/// <see cref="LayerRootfs"/>'s extraction:
/// <list type="bullet">
/// <item>what the tar does not hold goes (the provided <c>/etc/hosts</c> and <c>/etc/resolv.conf</c>, the mount
/// points the runtime made, sockets);</item>
/// <item>owners and modes as the headers give them (owner first: chown clears set-id bits), the times of regular files
/// as the headers give them (the epoch, or an older time kept), folders', links' and devices' times left as extraction
/// leaves them (its own);</item>
/// <item>a whiteout is overlay's character device 0/0, root's, mode 0, as extraction makes it; an opaque folder keeps
/// <c>trusted.overlay.opaque=y</c>; every other attribute goes (overlay's <c>origin</c> and <c>impure</c>, file
/// capabilities, which the layer does not carry);</item>
/// <item>a regular file's bytes are the file's when the writer read them from it (<see cref="UpperFile"/>); bytes
/// written from elsewhere (a <c>.pyc</c> header <c>Layers/BytecodeTimes</c> rewrote) are written into the file, up to
/// <see cref="RewrittenLimit"/>; a hard link is the same inode as its file, and each file has as many names as the
/// layer gives it.</item>
/// </list>
/// Whatever does not match the record (an entry missing, of another type or size, a link elsewhere, a whiteout other
/// than overlay's, an attribute that cannot be removed, another file system) returns the reason, and the caller falls
/// back to extraction: this never guesses. The folder's own root is never moved: its entries are renamed into the
/// empty temporary folder extraction would fill, so the root is extraction's too.
/// <para>
/// Rootless (<see cref="LayerRootfs.UserNamespace"/>), the folder is brought to what the rootless extraction gives, by
/// the same rules written once in <see cref="LayerRootfs"/>: root of the namespace has given every entry to itself
/// (the build's user on the host) with read, write and search for it (<see cref="UserNamespace.GiveToBuildUser"/>, when
/// the RUN's changes were read: <see cref="UpperDiff.ReadGivenAsync"/>), so that this process can check and change it as
/// root does; the entries are renamed into the temporary folder then (while they are all the build's user's), brought
/// to their modes, times and attributes (the opaque folder's being <c>user.overlay.opaque</c>, overlay's whiteouts the
/// build's user's, mode 0), and last the other owners and the set-id modes chown clears are set in the namespace by the
/// extraction's own script (<see cref="LayerRootfs.ApplyFixupsAsync"/>). The stage's tree follows the folder as root's
/// does; a file that its namespace owner alone may read then opens in the namespace (<see cref="UpperFile.OpenAsync"/>).
/// What fails once the entries moved moves them back.
/// </para>
/// </remarks>
internal static class UpperFolderAdoption
{
    /// <summary>The largest file whose layer bytes are not the upper folder's that is written back (a <c>.pyc</c> is far smaller).</summary>
    public const long RewrittenLimit = 1L << 20;

    /// <summary>
    /// Brings <paramref name="upper"/> to the layer <paramref name="headers"/> and <paramref name="written"/> record,
    /// then renames its entries into <paramref name="temp"/> (empty, on the same file system). <c>NotAdopted</c> is
    /// null when done, with how many files got the writer's bytes written back; else it says why not (then
    /// <paramref name="temp"/> may hold part of it and <paramref name="upper"/> is changed: both are only to be deleted).
    /// </summary>
    public static async Task<(string? NotAdopted, int Rewritten)> MoveAsync(string upper, string temp, IReadOnlyList<TarHeader> headers, IReadOnlyList<FileEntry> written,
        LayerRootfs layers, ILayer layer, CancellationToken cancellationToken)
    {
        var userNamespace = layers.UserNamespace;
        if (!OperatingSystem.IsLinux() || (!Native.IsRoot && userNamespace is null)) return new("neither a root build nor a user namespace's on Linux", 0);
        if (headers.Count != written.Count) return new("the layer writer's record is not complete", 0);
        // Every entry the build's user's (root of the namespace), readable, writable and searchable by it, the modes all
        // set again below: done already when the RUN's changes were read (UpperDiff.ReadGivenAsync), else done here.
        if (userNamespace is not null && !written.Any(e => e.Open?.Target is UpperFile { Folder: { GivenBy: not null } folder } && folder.Original == upper))
        {
            var (exitCode, output) = await userNamespace.RunAsync(UserNamespace.GiveToBuildUser, [upper], cancellationToken).ConfigureAwait(false);
            if (exitCode != 0) return new($"the upper folder could not be given to the build's user in the namespace (exit code {exitCode}): {output}", 0);
        }
        if (UnixFileStatus.TryRead(upper) is not { Kind: UnixFileKind.Directory } upperStatus
            || UnixFileStatus.TryRead(temp) is not { Kind: UnixFileKind.Directory } tempStatus)
            return new("the upper folder or the temporary folder cannot be read", 0);
        if (upperStatus.Device != tempStatus.Device) return new("the upper folder is on another file system than the extracted layers", 0);

        // The layer's names as host paths (relative to the folder): entries, whiteouts, opaque folders.
        var expected = new Dictionary<string, int>(StringComparer.Ordinal);
        var whiteouts = new HashSet<string>(StringComparer.Ordinal);
        var opaque = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < headers.Count; i++)
        {
            string name = headers[i].Name.TrimEnd('/');
            int slash = name.LastIndexOf('/');
            string folder = slash < 0 ? "" : name[..slash];
            string leaf = name[(slash + 1)..];
            if (name.Length == 0 || name.Split('/').Any(part => part is "" or "." or "..")) return new($"the name '{headers[i].Name}' is not a clean path", 0);
            if (FileEntry.IsWhiteoutName(leaf))
            {
                if (leaf == FileEntry.OpaqueWhiteoutName)
                {
                    if (folder.Length == 0 || !opaque.Add(folder)) return new($"the opaque marker '{name}' is not overlay's", 0);
                    continue;
                }
                if (leaf.StartsWith(FileEntry.WhiteoutPrefix + FileEntry.WhiteoutPrefix, StringComparison.Ordinal) || !FileEntry.IsValidWhiteoutName(leaf))
                    return new($"the whiteout '{name}' is not overlay's", 0);
                string hidden = (slash < 0 ? "" : folder + "/") + leaf[FileEntry.WhiteoutPrefix.Length..];
                if (!whiteouts.Add(hidden)) return new($"'{name}' is twice in the layer", 0);
                continue;
            }
            if (!expected.TryAdd(name, i)) return new($"'{name}' is twice in the layer", 0);
        }
        foreach (string hidden in whiteouts)
            if (expected.ContainsKey(hidden)) return new($"'{hidden}' is both a file and a whiteout of the layer", 0);
        foreach (string folder in opaque)
            if (!expected.TryGetValue(folder, out int i) || headers[i].Type != TarTypeFlag.Directory) return new($"the opaque folder '{folder}' is not a folder of the layer", 0);

        // Every entry of the folder: the layer's are checked against their headers, the others are to go.
        var statuses = new Dictionary<string, UnixFileStatus>(StringComparer.Ordinal);
        var unexpected = new List<(string Host, bool Folder)>();
        var folders = new Stack<string>();
        folders.Push("");
        while (folders.Count > 0)
        {
            string relative = folders.Pop();
            foreach (string host in Directory.EnumerateFileSystemEntries(relative.Length == 0 ? upper : Path.Combine(upper, relative)))
            {
                string child = (relative.Length == 0 ? "" : relative + "/") + Path.GetFileName(host);
                if (UnixFileStatus.TryRead(host) is not { } status) return new($"'{child}' cannot be read", 0);
                if (whiteouts.Contains(child))
                {
                    if (status is not { Kind: UnixFileKind.CharacterDevice, DeviceMajor: 0, DeviceMinor: 0 }) return new($"the whiteout of '{child}' is not overlay's", 0);
                    statuses[child] = status;
                    continue;
                }
                if (!expected.TryGetValue(child, out int i))
                {
                    unexpected.Add((host, status.Kind == UnixFileKind.Directory));
                    continue;
                }
                if (Mismatch(headers[i], status, host) is { } why) return new($"'{child}' {why}", 0);
                statuses[child] = status;
                if (status.Kind == UnixFileKind.Directory) folders.Push(child);
            }
        }
        if (statuses.Count != expected.Count + whiteouts.Count) return new("an entry of the layer is not in the upper folder", 0);

        foreach (var (host, folder) in unexpected)
        {
            if (folder) Directory.Delete(host, recursive: true);
            else File.Delete(host);
        }

        // Hard links: the same inode as their file, and every file with exactly the names the layer gives it.
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var header in headers)
        {
            if (header.Type != TarTypeFlag.HardLink) continue;
            string name = header.Name, target = header.LinkName;
            if (!expected.TryGetValue(target, out int t) || headers[t].Type != TarTypeFlag.RegularFile) return new($"the hard link '{name}' names no file of the layer", 0);
            if (statuses[name].Inode != statuses[target].Inode || statuses[name].Device != statuses[target].Device) return new($"the hard link '{name}' is another file than '{target}'", 0);
            names[target] = names.GetValueOrDefault(target) + 1;
        }
        foreach (var (name, i) in expected)
        {
            if (headers[i].Type != TarTypeFlag.RegularFile) continue;
            uint links = statuses[name].LinkCount > 1 ? (UnixFileStatus.TryRead(Path.Combine(upper, name))?.LinkCount ?? 0) : 1;
            if (links != 1 + names.GetValueOrDefault(name)) return new($"'{name}' has {links} names, the layer {1 + names.GetValueOrDefault(name)}", 0);
        }

        // Bytes: the file's when the writer read the file itself, else the writer's bytes written into it.
        int rewritten = 0;
        foreach (var (name, i) in expected)
        {
            var header = headers[i];
            if (header.Type != TarTypeFlag.RegularFile || header.Size == 0) continue;
            var status = statuses[name];
            var open = written[i].Open;
            string? source = (open?.Target as UpperFile)?.Path;
            if (source is not null && UnixFileStatus.TryRead(source) is { } read && read.Inode == status.Inode && read.Device == status.Device)
                continue;
            if (open is null || header.Size > RewrittenLimit) return new($"the layer's bytes of '{name}' are not the upper folder's", 0);
            byte[] bytes = new byte[header.Size];
            await using (var stream = await open(cancellationToken).ConfigureAwait(false))
            {
                await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
                if (stream.ReadByte() >= 0) return new($"the layer's bytes of '{name}' are longer than its header says", 0);
            }
            using (var file = new FileStream(Path.Combine(upper, name), FileMode.Open, FileAccess.Write, FileShare.None, 0))
                file.Write(bytes);
            rewritten++;
        }

        // Rootless, the entries move first, while they are all the build's user's (the namespace's owners come last);
        // as root last, since the stage's tree reads the upper folder's files until then.
        if (userNamespace is not null)
        {
            if (MoveEntries(upper, temp) is { } notMoved) return new(notMoved, 0);
            // The stage's tree reads these files in the upper folder until the adoption is done: what fails now moves
            // them back (as far as they can go: a folder the namespace's script already gave another owner may not).
            string? why;
            try
            {
                why = await NormaliseAsync(temp, statuses, whiteouts, opaque, headers, expected, layers, layer, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                MoveBack(temp, upper);
                throw;
            }
            if (why is not null) MoveBack(temp, upper);
            return new(why, rewritten);
        }
        return new(await NormaliseAsync(upper, statuses, whiteouts, opaque, headers, expected, layers, layer, cancellationToken).ConfigureAwait(false)
            ?? MoveEntries(upper, temp), rewritten);
    }

    /// <summary>
    /// Attributes, then owners, modes and times, as extraction sets them, on the entries under <paramref name="root"/>;
    /// rootless, the namespace's owners and set-id modes last, by the extraction's own script. Why not, when it cannot.
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static async Task<string?> NormaliseAsync(string root, Dictionary<string, UnixFileStatus> statuses, HashSet<string> whiteouts, HashSet<string> opaque,
        IReadOnlyList<TarHeader> headers, Dictionary<string, int> expected, LayerRootfs layers, ILayer layer, CancellationToken cancellationToken)
    {
        var userNamespace = layers.UserNamespace;

        // Attributes, then owners, modes and times, as extraction sets them; a folder after what it holds, so that its
        // mode never keeps this process out of it.
        string opaqueAttribute = layers.OpaqueAttribute;
        var fixups = userNamespace is null ? null : new LayerRootfs.Fixups();
        foreach (string name in statuses.Keys.Reverse())
        {
            string host = Path.Combine(root, name);
            foreach (string attribute in Native.ListXattrs(host))
            {
                if (attribute == opaqueAttribute && opaque.Contains(name)) continue;
                // A regular file's chown below clears them, and they are set again from its header after it; removed
                // here through one name, they would be gone for the other names of the same file.
                if (attribute == FileCapability.Attribute) continue;
                if (Native.RemoveXattr(host, attribute) != 0) return $"the attribute {attribute} of '{name}' cannot be removed: {Native.Describe(Native.LastError)}";
            }
            if (whiteouts.Contains(name))
            {
                // Rootless, overlay made it as the namespace's root, the build's user, as the rootless extraction does.
                if (fixups is null && Native.LinkChangeOwner(host, 0, 0) != 0) return $"the whiteout '{name}' cannot be given to root: {Native.Describe(Native.LastError)}";
                File.SetUnixFileMode(host, 0);
                continue;
            }
            var header = headers[expected[name]];
            if (header.Type == TarTypeFlag.HardLink) continue;
            // Rootless, giving the folder to the build's user cleared them, and only root of the namespace may set them.
            if (fixups is not null && header.Capability is not null) return $"'{name}' has file capabilities, which a rootless build cannot set again";
            int mode = header.Mode & FileModes.All;
            if (fixups is not null)
            {
                if (header.Type == TarTypeFlag.SymbolicLink) layers.AddOwner(fixups, host, header.Uid, header.Gid);
                else layers.AddOwnerAndMode(fixups, host, header.Uid, header.Gid, mode);
            }
            else if (Native.LinkChangeOwner(host, (uint)header.Uid, (uint)header.Gid) != 0) return $"'{name}' cannot be given its owner: {Native.Describe(Native.LastError)}";
            if (header.Type == TarTypeFlag.SymbolicLink) continue;
            // Most entries have their mode already (one chmod less each, 20,000 for an apt-get layer); a set-id bit
            // never: the chown just made (root) or the namespace's (rootless) cleared it.
            if (mode != statuses[name].Mode || (mode & 0xC00) != 0) File.SetUnixFileMode(host, (UnixFileMode)mode);
            if (header.Type == TarTypeFlag.RegularFile)
                File.SetLastWriteTimeUtc(host, DateTimeOffset.FromUnixTimeSeconds(header.ModificationTime).UtcDateTime);
            // The chown cleared a file's capabilities (root); the layer's, as extraction sets them.
            if (header.Type == TarTypeFlag.RegularFile && fixups is null)
            {
                if (header.Capability is { } capability)
                {
                    if (Native.SetXattr(host, FileCapability.Attribute, capability, (nuint)capability.Length, 0) != 0)
                        return $"the file capabilities of '{name}' cannot be set: {Native.Describe(Native.LastError)}";
                }
                else if (Native.ReadXattr(host, FileCapability.Attribute) is not null && Native.RemoveXattr(host, FileCapability.Attribute) != 0)
                    return $"the file capabilities of '{name}' cannot be removed: {Native.Describe(Native.LastError)}";
            }
        }
        foreach (string folder in opaque)
            if (Native.ReadXattr(Path.Combine(root, folder), opaqueAttribute) is not [(byte)'y'])
                return $"the opaque folder '{folder}' is not marked opaque in the upper folder";

        if (fixups is not null) await layers.ApplyFixupsAsync(fixups, root, layer, cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <summary>
    /// Renames the entries of <paramref name="upper"/> into <paramref name="temp"/>; why not, when one cannot be: the
    /// stage's tree may still read these files (root), so the ones moved are brought back.
    /// </summary>
    private static string? MoveEntries(string upper, string temp)
    {
        var moved = new List<string>();
        foreach (string host in Directory.EnumerateFileSystemEntries(upper).ToList())
        {
            string target = Path.Combine(temp, Path.GetFileName(host));
            if (Native.Rename(host, target) != 0)
            {
                string why = Native.Describe(Native.LastError);
                foreach (string back in moved) Native.Rename(Path.Combine(temp, Path.GetFileName(back)), back);
                return $"'{host}' cannot be renamed into place: {why}";
            }
            moved.Add(host);
        }
        return null;
    }

    /// <summary>Renames what it can of <paramref name="temp"/>'s entries back into <paramref name="upper"/> (a rootless adoption that failed after its move).</summary>
    private static void MoveBack(string temp, string upper)
    {
        foreach (string host in Directory.EnumerateFileSystemEntries(temp).ToList())
            Native.Rename(host, Path.Combine(upper, Path.GetFileName(host)));
    }

    /// <summary>Why the host entry is not what <paramref name="header"/> says it is; null when it is.</summary>
    private static string? Mismatch(TarHeader header, UnixFileStatus status, string host) => header.Type switch
    {
        TarTypeFlag.Directory => status.Kind == UnixFileKind.Directory ? null : $"is a {status.Kind}, the layer's a folder",
        TarTypeFlag.RegularFile => status.Kind != UnixFileKind.RegularFile ? $"is a {status.Kind}, the layer's a file"
            : status.Size != header.Size ? $"has {status.Size} bytes, the layer's {header.Size}" : null,
        TarTypeFlag.HardLink => status.Kind == UnixFileKind.RegularFile ? null : $"is a {status.Kind}, the layer's a hard link",
        TarTypeFlag.SymbolicLink => status.Kind != UnixFileKind.SymbolicLink ? $"is a {status.Kind}, the layer's a symbolic link"
            : new FileInfo(host).LinkTarget != header.LinkName ? "leads elsewhere than the layer's link" : null,
        TarTypeFlag.CharacterDevice => status.Kind == UnixFileKind.CharacterDevice && status.DeviceMajor == header.DeviceMajor && status.DeviceMinor == header.DeviceMinor
            ? null : "is not the layer's character device",
        TarTypeFlag.BlockDevice => status.Kind == UnixFileKind.BlockDevice && status.DeviceMajor == header.DeviceMajor && status.DeviceMinor == header.DeviceMinor
            ? null : "is not the layer's block device",
        TarTypeFlag.Fifo => status.Kind == UnixFileKind.Fifo ? null : $"is a {status.Kind}, the layer's a fifo",
        _ => $"has the entry type {header.Type}, which is not adopted",
    };
}
