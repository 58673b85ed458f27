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
/// <c>.wh..wh..opq</c> before its new contents. Overlay's own attributes are not carried, nor any other but a regular
/// file's <c>security.capability</c> (<see cref="FileCapability"/>), as BuildKit's differs carry that one only.
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
    /// Rootless: the same entries as <see cref="Read"/>, read the same way from the host, while root of the user
    /// namespace waits: it has recorded each entry's owner and mode as the namespace sees them (a RUN may leave folders
    /// and files of other users of the namespace that the build's user cannot read on the host: apt's <c>partial/</c>,
    /// mode 700, <c>_apt</c>'s) and let others list and search every folder; once the walk is done it gives the folder
    /// to the build's user (<see cref="UserNamespace.GiveToBuildUser"/>, as <see cref="UpperFolderAdoption"/> does). The
    /// walk takes the recorded owners and modes (by inode, so a name's bytes never need quoting) and the files' bytes in
    /// place: no copy, as root's. It runs before the give because chown clears file capabilities: the walk reads them
    /// (revision 3, naming the namespace's root, which <see cref="FileCapability.ForLayer"/> makes revision 2, what the
    /// kernel shows inside the namespace).
    /// </summary>
    public static async Task<IReadOnlyList<FileEntry>> ReadGivenAsync(string upper, IReadOnlySet<string> excluded, IReadOnlySet<string> stubs, ILogger logger,
        UserNamespace userNamespace, CancellationToken cancellationToken, string detailPrefix = "")
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var errors = new List<string>();
        var entries = new List<FileEntry>();
        using var process = userNamespace.StartReading(RecordWaitAndGive, [upper], line => { lock (errors) errors.Add(line); }, keepInput: true);
        try
        {
            var owners = await RecordOwnersAsync(process, cancellationToken).ConfigureAwait(false);
            logger.Detail($"{detailPrefix}diff: owners of {owners.Count} entries recorded in the namespace {Units.Since(started)}");
            var inodes = new Dictionary<ulong, string>();
            Walk(upper, "", entries, inodes, logger, "user.overlay.opaque", new UpperFolder(upper, userNamespace), owners);
            await process.StandardInput.WriteAsync("\n".AsMemory(), cancellationToken).ConfigureAwait(false);
            process.StandardInput.Close();
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            if (e is InvalidDataException or FormatException or IOException)
                throw new LivrableException(DiagnosticCodes.RunDiffFailed, $"Reading the owners of the RUN's changes in the user namespace failed: {e.Message} {string.Join(' ', errors)}", inner: e);
            throw;
        }
        if (process.ExitCode != 0)
            throw new LivrableException(DiagnosticCodes.RunDiffFailed,
                $"Reading the owners of the RUN's changes in the user namespace failed (exit code {process.ExitCode}): {string.Join('\n', errors.TakeLast(10))}");
        logger.Detail($"{detailPrefix}diff: read, the folder given to the build's user in the namespace {Units.Since(started)}");
        return Finish(entries, excluded, stubs);
    }

    /// <summary>
    /// The namespace's side of <see cref="ReadGivenAsync"/>, one process: GNU find prints each entry's inode, owner (the
    /// namespace's ids) and mode (set-id bits included, which the chown after clears); folders others cannot list or
    /// search get <c>o+rx</c> (the walk takes the recorded modes, and the adoption sets the layer's); a line <c>.</c>
    /// says the walk may start; a line on standard input says it is done, and the folder is given to the build's user.
    /// </summary>
    private const string RecordWaitAndGive =
        "find \"$1\" -mindepth 1 -printf '%i %U %G %m\\n' && find \"$1\" -mindepth 1 -type d ! -perm -005 -exec chmod o+rx -- {} + && " +
        "echo . && read -r _ && " + UserNamespace.GiveToBuildUser;

    /// <summary>The owners and modes <see cref="RecordWaitAndGive"/> prints, up to its line <c>.</c>.</summary>
    private static async Task<Dictionary<ulong, (uint Uid, uint Gid, int Mode)>> RecordOwnersAsync(System.Diagnostics.Process process, CancellationToken cancellationToken)
    {
        var owners = new Dictionary<ulong, (uint Uid, uint Gid, int Mode)>();
        var reader = process.StandardOutput;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line == ".") return owners;
            var fields = line.Split(' ');
            if (fields.Length != 4
                || !ulong.TryParse(fields[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong inode)
                || !uint.TryParse(fields[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint uid)
                || !uint.TryParse(fields[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint gid))
                throw new InvalidDataException($"find printed '{line}'");
            owners[inode] = (uid, gid, Convert.ToInt32(fields[3], 8) & FileModes.All);
        }
        throw new IOException("the namespace's script ended before the owners were all recorded");
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

    /// <summary>
    /// Walks a folder in name order. With <paramref name="owners"/> (rootless, <see cref="ReadGivenAsync"/>), each
    /// entry's owner and mode are the recorded ones of its inode, not the host's.
    /// </summary>
    private static void Walk(string hostDirectory, string imageDirectory, List<FileEntry> entries, Dictionary<ulong, string> inodes, ILogger logger, string opaqueAttribute,
        UpperFolder folder, IReadOnlyDictionary<ulong, (uint Uid, uint Gid, int Mode)>? owners = null)
    {
        var names = Directory.EnumerateFileSystemEntries(hostDirectory).Select(Path.GetFileName).OfType<string>().ToList();
        names.Sort(StringComparer.Ordinal);
        foreach (string name in names)
        {
            string host = Path.Combine(hostDirectory, name);
            string path = imageDirectory + "/" + name;
            // .NET reads a name that is not UTF-8 with U+FFFD in place of its bytes, a name that is not the file's.
            var status = UnixFileStatus.TryRead(host)
                ?? throw new LivrableException(DiagnosticCodes.RunDiffFailed, name.Contains('\uFFFD')
                    ? $"The RUN wrote '{path}', whose name is not UTF-8: a layer's names are UTF-8 (the PAX path record). Rename it in the same RUN."
                    : $"Cannot read '{host}' the RUN wrote.");
            if (owners is not null)
                status = owners.TryGetValue(status.Inode, out var owner) ? status with { Uid = owner.Uid, Gid = owner.Gid, Mode = owner.Mode }
                    : throw new LivrableException(DiagnosticCodes.RunDiffFailed, $"The owner of '{host}' the RUN wrote was not recorded in the user namespace.");
            CheckName(path);
            byte[]? capability = CheckAttributes(host, path, status.Kind, logger);
            switch (status.Kind)
            {
                case UnixFileKind.CharacterDevice when status.DeviceMajor == 0 && status.DeviceMinor == 0:
                    entries.Add(FileEntry.Whiteout(path));
                    break;
                case UnixFileKind.Directory:
                    entries.Add(new FileEntry(path, TarTypeFlag.Directory, status.Mode, status.Uid, status.Gid));
                    if (Native.ReadXattr(host, opaqueAttribute) is { } opaque && Encoding.ASCII.GetString(opaque) == "y")
                        entries.Add(FileEntry.OpaqueWhiteout(path));
                    Walk(host, path, entries, inodes, logger, opaqueAttribute, folder, owners);
                    break;
                default:
                    if (Entry(host, path, status, inodes, logger, folder, capability) is { } entry) entries.Add(entry);
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
    internal static FileEntry? Entry(string host, string path, UnixFileStatus status, Dictionary<ulong, string> inodes, ILogger logger, UpperFolder? folder = null,
        byte[]? capability = null)
    {
        switch (status.Kind)
        {
            case UnixFileKind.RegularFile:
                if (status.LinkCount > 1 && inodes.TryGetValue(status.Inode, out var first))
                    return new FileEntry(path, TarTypeFlag.HardLink, status.Mode, status.Uid, status.Gid) { LinkTarget = first, Capability = capability };
                if (status.LinkCount > 1) inodes[status.Inode] = path;
                return new FileEntry(path, TarTypeFlag.RegularFile, status.Mode, status.Uid, status.Gid)
                {
                    Size = status.Size,
                    Open = new UpperFile(host, folder).OpenAsync,
                    Capability = capability,
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

    /// <summary>
    /// Overlay features whose upper entries a tar cannot express are refused; the file capabilities of a regular file
    /// are returned in the form a layer carries them (<see cref="FileCapability.ForLayer"/>), and any other entry's
    /// reported (LIV5016: a layer carries them on files only, as BuildKit's). Other attributes are not carried, as
    /// BuildKit carries none.
    /// </summary>
    internal static byte[]? CheckAttributes(string host, string path, UnixFileKind kind, ILogger logger)
    {
        byte[]? capability = null;
        foreach (string attribute in Native.ListXattrs(host))
        {
            if (attribute is "trusted.overlay.redirect" or "trusted.overlay.metacopy" or "user.overlay.redirect" or "user.overlay.metacopy")
                throw new LivrableException(DiagnosticCodes.RunDiffFailed,
                    $"'{path}' carries the overlay attribute {attribute} (redirect_dir or metacopy is on): its layer cannot be written. " +
                    "Turn those overlay options off (redirect_dir=off, metacopy=off on the overlay module).");
            if (attribute != FileCapability.Attribute) continue;
            if (kind != UnixFileKind.RegularFile)
                logger.Warning(DiagnosticCodes.FileCapabilitiesDropped,
                    $"The file capabilities (security.capability) the RUN set on '{path}', a {kind}, are not carried into the layer: a layer carries them on regular files only.");
            else if (Native.ReadXattr(host, attribute) is { Length: > 0 } value)
                capability = FileCapability.ForLayer(value);
        }
        return capability;
    }
}

/// <summary>
/// An upper folder whose entries were read (<see cref="UpperDiff.Read"/>), and where its files are now: a RUN's files
/// stay part of its stage's tree after its layer is written (a later <c>COPY --from</c> of the stage, an SBOM scan read
/// them), and <see cref="UpperFolderAdoption"/> moves them, unchanged or with the layer's bytes, into the layer's lower
/// folder.
/// </summary>
/// <param name="path">The upper folder.</param>
/// <param name="userNamespace">Rootless: the namespace whose root gave the folder to the build's user
/// (<see cref="UpperDiff.ReadGivenAsync"/>); the adoption gives its files their namespace owners back, after which some
/// (a file or folder only another user of the namespace may read) open only in the namespace.</param>
internal sealed class UpperFolder(string path, UserNamespace? userNamespace = null)
{
    private volatile string _current = path;

    /// <summary>Where it was read.</summary>
    public string Original { get; } = path;

    /// <summary>Where its files are now.</summary>
    public string Current => _current;

    /// <summary>Rootless: the namespace whose root gave it to the build's user before it was read (nothing to give again); null as root.</summary>
    public UserNamespace? GivenBy => userNamespace;

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

    /// <summary>
    /// The file's bytes; rootless, once adopted, a file the build's user may no longer read on the host (its namespace
    /// owner's alone) is read by root of the namespace.
    /// </summary>
    public Task<Stream> OpenAsync(CancellationToken cancellationToken)
    {
        string path = Path;
        try
        {
            return Task.FromResult<Stream>(File.OpenRead(path));
        }
        catch (UnauthorizedAccessException) when (folder?.GivenBy is { } userNamespace)
        {
            return Task.FromResult(userNamespace.OpenRead(path));
        }
    }
}
