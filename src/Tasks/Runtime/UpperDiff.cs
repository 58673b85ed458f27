using System.Text;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Layers;
using Livrable.Interop;

namespace Livrable.Runtime;

/// <summary>
/// A step's layer read from overlay's upper folder (what containers/storage's overlay driver does when it diffs with
/// <c>naiveDiff</c> off): every entry there is new or changed; a character device 0/0 is a deletion and becomes the
/// whiteout <c>.wh.name</c>; a folder with <c>trusted.overlay.opaque=y</c> was replaced or emptied and gets
/// <c>.wh..wh..opq</c> before its new contents. Overlay's own attributes are not carried (nor is any other attribute:
/// layers written from entries hold none, so <c>security.capability</c> is reported and dropped).
/// </summary>
internal static class UpperDiff
{
    /// <summary>
    /// The entries of <paramref name="upper"/>, sorted, without <paramref name="excluded"/> (image paths) and without
    /// <paramref name="stubs"/> (image paths made only as mount points) unless something else in the layer is below them.
    /// Regular files open from the upper folder, which must live until the layer is written.
    /// </summary>
    public static IReadOnlyList<FileEntry> Read(string upper, IReadOnlySet<string> excluded, IReadOnlySet<string> stubs, ILogger logger)
    {
        var entries = new List<FileEntry>();
        var inodes = new Dictionary<ulong, string>();
        Walk(upper, "", entries, inodes, logger, "trusted.overlay.opaque", new UpperFolder(upper));
        return Finish(entries, excluded, stubs);
    }

    /// <summary>
    /// Rootless: the upper folder read by root of the user namespace, since a RUN may leave folders and files of other
    /// users of the namespace that the build's user cannot read on the host (apt's <c>partial/</c>, mode 700, <c>_apt</c>'s).
    /// GNU tar in the namespace streams it (numeric owners as the namespace sees them, and only the overlay attributes
    /// that are text: GNU tar writes an attribute's bytes as they are into a PAX record, which must be UTF-8, and
    /// overlay's <c>origin</c> or a file capability is binary); regular files are spooled into <paramref name="spool"/>,
    /// which must live until the layer is written. Same entries as <see cref="Read"/>, except that file capabilities a
    /// RUN set are not reported (LIV5016 is the root path's warning; no layer carries them yet either way).
    /// <paramref name="times"/>, when given, receives each regular file's modification time (nanoseconds since 1970).
    /// </summary>
    public static async Task<IReadOnlyList<FileEntry>> ReadInNamespaceAsync(string upper, string spool, IReadOnlySet<string> excluded,
        IReadOnlySet<string> stubs, ILogger logger, UserNamespace userNamespace, CancellationToken cancellationToken, Dictionary<string, long>? times = null)
    {
        Directory.CreateDirectory(spool);
        var errors = new List<string>();
        using var process = userNamespace.StartReading(
            "exec tar --numeric-owner --xattrs --xattrs-include='user.overlay.opaque' --xattrs-include='user.overlay.redirect' -C \"$1\" -cf - .",
            [upper], line => { lock (errors) errors.Add(line); });
        var entries = new List<FileEntry>();
        int spooled = 0;
        try
        {
            var reader = TarReading.OpenReader(process.StandardOutput.BaseStream, leaveOpen: true);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
                {
                    string path = "/" + string.Join('/', ScopedPath.Components(entry.Name));
                    if (path == "/") continue;
                    CheckName(path);
                    var attributes = entry is System.Formats.Tar.PaxTarEntry pax ? pax.ExtendedAttributes : null;
                    foreach (var (key, _) in attributes ?? new Dictionary<string, string>())
                        if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
                            CheckAttribute(key["SCHILY.xattr.".Length..], path, logger);
                    int mode = (int)entry.Mode & FileModes.All;
                    switch (entry.EntryType)
                    {
                        case System.Formats.Tar.TarEntryType.CharacterDevice when entry is System.Formats.Tar.PosixTarEntry { DeviceMajor: 0, DeviceMinor: 0 }:
                            entries.Add(FileEntry.Whiteout(path));
                            break;
                        case System.Formats.Tar.TarEntryType.Directory:
                            entries.Add(new FileEntry(path, TarTypeFlag.Directory, mode, entry.Uid, entry.Gid));
                            if (attributes is not null && attributes.TryGetValue("SCHILY.xattr.user.overlay.opaque", out var opaque) && opaque == "y")
                                entries.Add(FileEntry.OpaqueWhiteout(path));
                            break;
                        case System.Formats.Tar.TarEntryType.RegularFile or System.Formats.Tar.TarEntryType.V7RegularFile:
                            string file = Path.Combine(spool, (spooled++).ToString(System.Globalization.CultureInfo.InvariantCulture));
                            var target = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                            await using (target.ConfigureAwait(false))
                            {
                                if (entry.DataStream is { } data) await data.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
                            }
                            times?.TryAdd(path, (entry.ModificationTime.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100);
                            entries.Add(new FileEntry(path, TarTypeFlag.RegularFile, mode, entry.Uid, entry.Gid)
                            {
                                Size = entry.Length,
                                Open = new SpooledFile(file, upper + path).OpenAsync,
                            });
                            break;
                        case System.Formats.Tar.TarEntryType.HardLink:
                            entries.Add(new FileEntry(path, TarTypeFlag.HardLink, mode, entry.Uid, entry.Gid)
                            {
                                LinkTarget = "/" + string.Join('/', ScopedPath.Components(entry.LinkName)),
                            });
                            break;
                        case System.Formats.Tar.TarEntryType.SymbolicLink:
                            entries.Add(new FileEntry(path, TarTypeFlag.SymbolicLink, FileModes.SymbolicLink, entry.Uid, entry.Gid) { LinkTarget = entry.LinkName });
                            break;
                        case System.Formats.Tar.TarEntryType.CharacterDevice or System.Formats.Tar.TarEntryType.BlockDevice:
                            var device = (System.Formats.Tar.PosixTarEntry)entry;
                            entries.Add(new FileEntry(path, entry.EntryType == System.Formats.Tar.TarEntryType.CharacterDevice ? TarTypeFlag.CharacterDevice : TarTypeFlag.BlockDevice,
                                mode, entry.Uid, entry.Gid) { DeviceMajor = device.DeviceMajor, DeviceMinor = device.DeviceMinor });
                            break;
                        case System.Formats.Tar.TarEntryType.Fifo:
                            entries.Add(new FileEntry(path, TarTypeFlag.Fifo, mode, entry.Uid, entry.Gid));
                            break;
                    }
                }
            }
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or IOException)
        {
            process.Kill(entireProcessTree: true);
            throw new LivrableException(DiagnosticCodes.RunDiffFailed, $"Reading the RUN's changes in the user namespace failed: {e.Message} {string.Join(' ', errors)}", inner: e);
        }
        // GNU tar exits 1 when a file changed while read (nothing runs any more) and for sockets it skips; 2 is an error.
        if (process.ExitCode > 1)
            throw new LivrableException(DiagnosticCodes.RunDiffFailed,
                $"Reading the RUN's changes in the user namespace failed (tar exit code {process.ExitCode}): {string.Join('\n', errors.TakeLast(10))}");
        return Finish(FirstNameHoldsContent(entries), excluded, stubs);
    }

    /// <summary>
    /// tar names an inode's content under the first name it met (directory order); the layer, like <see cref="Read"/>,
    /// puts it under the first name in tar order, the others linking to it.
    /// </summary>
    private static List<FileEntry> FirstNameHoldsContent(List<FileEntry> entries)
    {
        var links = entries.Where(e => e.Type == TarTypeFlag.HardLink).GroupBy(e => e.LinkTarget!, StringComparer.Ordinal).ToList();
        if (links.Count == 0) return entries;
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < entries.Count; i++) index[entries[i].Path] = i;
        foreach (var group in links)
        {
            if (!index.TryGetValue(group.Key, out int holder) || entries[holder].Type != TarTypeFlag.RegularFile) continue;
            var content = entries[holder];
            string first = group.Select(e => e.Path).Append(content.Path).Min(TarNameComparer.Instance)!;
            if (first == content.Path) continue;
            foreach (var name in group.Select(e => e.Path).Append(content.Path))
                entries[index[name]] = name == first
                    ? content with { Path = first }
                    : new FileEntry(name, TarTypeFlag.HardLink, content.Mode, content.Uid, content.Gid) { LinkTarget = first };
        }
        return entries;
    }

    /// <summary>Drops the excluded paths and the stubs nothing else is below, and sorts.</summary>
    internal static IReadOnlyList<FileEntry> Finish(List<FileEntry> entries, IReadOnlySet<string> excluded, IReadOnlySet<string> stubs)
    {
        entries.RemoveAll(e => excluded.Contains(e.Path));
        // Deepest first, so that a stub folder holding only stubs goes too.
        foreach (string stub in stubs.OrderByDescending(s => s.Length))
        {
            string prefix = stub + "/";
            if (!entries.Any(e => e.Path.StartsWith(prefix, StringComparison.Ordinal)))
                entries.RemoveAll(e => e.Path == stub);
        }
        // A folder that is in the layer only because the runtime created a mount point in it (runc makes /etc/hosts
        // when the image has none, and overlay then copies /etc up) is left out when nothing else of the layer is in it.
        var parents = excluded.Concat(stubs).Select(p => p[..Math.Max(0, p.LastIndexOf('/'))]).Where(p => p.Length > 0)
            .Distinct(StringComparer.Ordinal).OrderByDescending(p => p.Length);
        foreach (string parent in parents)
        {
            string prefix = parent + "/";
            if (!entries.Any(e => e.Path.StartsWith(prefix, StringComparison.Ordinal)))
                entries.RemoveAll(e => e.Path == parent);
        }
        entries.Sort((a, b) => TarNameComparer.Instance.Compare(a.Path, b.Path));
        return entries;
    }

    private static void Walk(string hostDirectory, string imageDirectory, List<FileEntry> entries, Dictionary<ulong, string> inodes, ILogger logger, string opaqueAttribute,
        UpperFolder folder)
    {
        var names = Directory.EnumerateFileSystemEntries(hostDirectory).Select(Path.GetFileName).OfType<string>().ToList();
        names.Sort(StringComparer.Ordinal);
        foreach (string name in names)
        {
            string host = Path.Combine(hostDirectory, name);
            string path = imageDirectory + "/" + name;
            var status = UnixFileStatus.TryRead(host)
                ?? throw new LivrableException(DiagnosticCodes.RunDiffFailed, $"Cannot read '{host}' the RUN wrote.");
            CheckName(path);
            CheckAttributes(host, path, logger);
            switch (status.Kind)
            {
                case UnixFileKind.CharacterDevice when status.DeviceMajor == 0 && status.DeviceMinor == 0:
                    entries.Add(FileEntry.Whiteout(path));
                    break;
                case UnixFileKind.Directory:
                    entries.Add(new FileEntry(path, TarTypeFlag.Directory, status.Mode, status.Uid, status.Gid));
                    if (Native.ReadXattr(host, opaqueAttribute) is { } opaque && Encoding.ASCII.GetString(opaque) == "y")
                        entries.Add(FileEntry.OpaqueWhiteout(path));
                    Walk(host, path, entries, inodes, logger, opaqueAttribute, folder);
                    break;
                default:
                    if (Entry(host, path, status, inodes, logger, folder) is { } entry) entries.Add(entry);
                    break;
            }
        }
    }

    /// <summary>
    /// LIV4204 when the RUN wrote a file or folder named <c>.wh.*</c>: in the layer that name is a whiteout, so the
    /// file would delete one of the layers below instead of being added (BuildKit's differ writes it as it is and every
    /// reader then applies it as a whiteout). Overlay's own deletions are 0/0 devices with the plain name, never these.
    /// </summary>
    internal static void CheckName(string path)
    {
        if (FileEntry.IsWhiteoutName(path[(path.LastIndexOf('/') + 1)..]))
            throw new LivrableException(DiagnosticCodes.RunWhiteoutName,
                $"The RUN wrote '{path}', whose name starts with '{FileEntry.WhiteoutPrefix}': in a layer that is a whiteout, which would delete a " +
                "file of the image instead of adding one. Rename or remove it in the same RUN.");
    }

    /// <summary>
    /// The entry of a file that is not a folder: a regular file (a hard link to the first name of its inode met in this
    /// walk), a symbolic link as written, a device or a fifo; null for a socket (a layer cannot hold one). A regular file
    /// opens from <paramref name="host"/>, in <paramref name="folder"/> wherever it is moved to.
    /// </summary>
    internal static FileEntry? Entry(string host, string path, UnixFileStatus status, Dictionary<ulong, string> inodes, ILogger logger, UpperFolder? folder = null)
    {
        switch (status.Kind)
        {
            case UnixFileKind.RegularFile:
                if (status.LinkCount > 1 && inodes.TryGetValue(status.Inode, out var first))
                    return new FileEntry(path, TarTypeFlag.HardLink, status.Mode, status.Uid, status.Gid) { LinkTarget = first };
                if (status.LinkCount > 1) inodes[status.Inode] = path;
                return new FileEntry(path, TarTypeFlag.RegularFile, status.Mode, status.Uid, status.Gid)
                {
                    Size = new FileInfo(host).Length,
                    Open = new UpperFile(host, folder).OpenAsync,
                };
            case UnixFileKind.SymbolicLink:
                return new FileEntry(path, TarTypeFlag.SymbolicLink, FileModes.SymbolicLink, status.Uid, status.Gid)
                {
                    LinkTarget = new FileInfo(host).LinkTarget ?? "",
                };
            case UnixFileKind.CharacterDevice or UnixFileKind.BlockDevice:
                return new FileEntry(path, status.Kind == UnixFileKind.CharacterDevice ? TarTypeFlag.CharacterDevice : TarTypeFlag.BlockDevice,
                    status.Mode, status.Uid, status.Gid) { DeviceMajor = status.DeviceMajor, DeviceMinor = status.DeviceMinor };
            case UnixFileKind.Fifo:
                return new FileEntry(path, TarTypeFlag.Fifo, status.Mode, status.Uid, status.Gid);
            default:
                logger.Detail($"  not in the layer: the socket '{path}' the RUN left");
                return null;
        }
    }

    /// <summary>Overlay features whose upper entries a tar cannot express are refused; capabilities are reported.</summary>
    internal static void CheckAttributes(string host, string path, ILogger logger)
    {
        foreach (string attribute in Native.ListXattrs(host)) CheckAttribute(attribute, path, logger);
    }

    private static void CheckAttribute(string attribute, string path, ILogger logger)
    {
        if (attribute is "trusted.overlay.redirect" or "trusted.overlay.metacopy" or "user.overlay.redirect" or "user.overlay.metacopy")
                throw new LivrableException(DiagnosticCodes.RunDiffFailed,
                    $"'{path}' carries the overlay attribute {attribute} (redirect_dir or metacopy is on): its layer cannot be written. " +
                    "Turn those overlay options off (redirect_dir=off, metacopy=off on the overlay module).");
        if (attribute == "security.capability")
            logger.Warning(DiagnosticCodes.FileCapabilitiesDropped,
                $"The file capabilities (security.capability) the RUN set on '{path}' are not carried into the layer: Livrable's layers hold no extended attributes yet.");
    }
}

/// <summary>
/// An upper folder whose entries were read (<see cref="UpperDiff.Read"/>), and where its files are now: a RUN's files
/// stay part of its stage's tree after its layer is written (a later <c>COPY --from</c> of the stage, an SBOM scan read
/// them), and <see cref="UpperFolderAdoption"/> moves them, unchanged or with the layer's bytes, into the layer's lower
/// folder.
/// </summary>
internal sealed class UpperFolder(string path)
{
    private volatile string _current = path;

    /// <summary>Where it was read.</summary>
    public string Original { get; } = path;

    /// <summary>Where its files are now.</summary>
    public string Current => _current;

    /// <summary>Its entries were renamed into <paramref name="directory"/> (the same names below it).</summary>
    public void MovedTo(string directory) => _current = directory;
}

/// <summary>
/// How a regular file of the upper folder is opened for its layer: its bytes as they are. The opener is this object,
/// so whoever holds the entry can tell that the layer's bytes are the file's (<c>Delegate.Target</c>): an entry whose
/// opener was replaced (<c>Layers/BytecodeTimes</c> rewrites a <c>.pyc</c> header) is not, and
/// <see cref="UpperFolderAdoption"/> writes those bytes back before the folder becomes a lower folder.
/// </summary>
internal sealed class UpperFile(string host, UpperFolder? folder = null)
{
    /// <summary>The folder it was read in, when it may move (<see cref="UpperFolder.MovedTo"/>).</summary>
    public UpperFolder? Folder => folder;

    /// <summary>The file, where it is now.</summary>
    public string Path => folder is null || ReferenceEquals(folder.Current, folder.Original) ? host : folder.Current + host[folder.Original.Length..];

    public Task<Stream> OpenAsync(CancellationToken cancellationToken) => Task.FromResult<Stream>(File.OpenRead(Path));
}

/// <summary>
/// How a regular file of a rootless RUN's upper folder is opened for its layer: from the spool GNU tar made of it in the
/// namespace (<see cref="UpperDiff.ReadInNamespaceAsync"/>). The opener is this object, so whoever holds the entry can
/// tell the layer's bytes are those of <see cref="Upper"/> as the RUN left it (<see cref="UpperFolderAdoption"/>).
/// </summary>
internal sealed class SpooledFile(string spool, string upper)
{
    /// <summary>The file of the upper folder the spool was read from (nothing runs any more: it holds the same bytes).</summary>
    public string Upper => upper;

    public Task<Stream> OpenAsync(CancellationToken cancellationToken) => Task.FromResult<Stream>(File.OpenRead(spool));
}
