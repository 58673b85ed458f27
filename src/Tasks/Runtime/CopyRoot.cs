using System.Text;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Layers;
using Livrable.Interop;

namespace Livrable.Runtime;

/// <summary>
/// The fallback where overlay cannot be mounted (a state folder on a file system overlay refuses as upper, a kernel
/// without it): the layers' folders copied, bottom first, into one scratch root (overlay's whiteouts applied as
/// deletions, opaque folders emptied first), the root walked before the command and after it, and the difference
/// turned into the layer, as buildah's <c>vfs</c> driver and the naive diff of containers/storage do. Slower and
/// heavier on disk than overlay, and said so in the log (LIV5017). A file's capabilities (<c>security.capability</c>,
/// which the extraction set in the lower folder) are copied with it, so a RUN sees the file as it does over overlay.
/// </summary>
internal static class CopyRoot
{
    /// <summary>What a walk remembers of a path, to tell afterwards whether it changed.</summary>
    internal readonly record struct Snapshot(UnixFileKind Kind, ulong Inode, long ChangeTime, long ModificationTime, int Mode, uint Uid, uint Gid);

    /// <summary>Copies <paramref name="lowersBottomFirst"/> (extracted layers, overlay form) into <paramref name="root"/>.</summary>
    public static void Build(IReadOnlyList<string> lowersBottomFirst, string root)
    {
        Directory.CreateDirectory(root);
        foreach (string lower in lowersBottomFirst) Apply(lower, root, new Dictionary<ulong, string>());
    }

    private static void Apply(string source, string destination, Dictionary<ulong, string> links)
    {
        var names = Directory.EnumerateFileSystemEntries(source).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal);
        foreach (string name in names)
        {
            string from = Path.Combine(source, name);
            string to = Path.Combine(destination, name);
            var status = UnixFileStatus.TryRead(from) ?? throw Failed($"cannot read '{from}'");
            var existing = UnixFileStatus.TryRead(to);
            if (status.Kind == UnixFileKind.CharacterDevice && status.DeviceMajor == 0 && status.DeviceMinor == 0)
            {
                Remove(to, existing);
                continue;
            }
            if (status.Kind == UnixFileKind.Directory)
            {
                bool opaque = Native.ReadXattr(from, "trusted.overlay.opaque") is { } v && Encoding.ASCII.GetString(v) == "y";
                if (existing is { Kind: not UnixFileKind.Directory } || (opaque && existing is not null)) Remove(to, existing);
                if (existing is not { Kind: UnixFileKind.Directory } || opaque) Directory.CreateDirectory(to);
                Apply(from, to, links);
                SetMetadata(to, status);
                continue;
            }
            Remove(to, existing);
            switch (status.Kind)
            {
                case UnixFileKind.RegularFile:
                    if (status.LinkCount > 1 && links.TryGetValue(status.Inode, out var first))
                    {
                        if (Native.HardLink(first, to) != 0) throw Failed($"cannot link '{to}': {Native.Describe(Native.LastError)}");
                        continue;
                    }
                    File.Copy(from, to);
                    if (status.LinkCount > 1) links[status.Inode] = to;
                    SetMetadata(to, status);
                    // After the owner: chown(2) clears them.
                    if (Native.ReadXattr(from, FileCapability.Attribute) is { } capability
                        && Native.SetXattr(to, FileCapability.Attribute, capability, (nuint)capability.Length, 0) != 0)
                        throw Failed($"cannot set the file capabilities of '{to}': {Native.Describe(Native.LastError)}");
                    continue;
                case UnixFileKind.SymbolicLink:
                    File.CreateSymbolicLink(to, new FileInfo(from).LinkTarget ?? "");
                    Native.LinkChangeOwner(to, status.Uid, status.Gid);
                    continue;
                case UnixFileKind.CharacterDevice or UnixFileKind.BlockDevice or UnixFileKind.Fifo:
                    uint type = status.Kind switch
                    {
                        UnixFileKind.CharacterDevice => Native.S_IFCHR,
                        UnixFileKind.BlockDevice => Native.S_IFBLK,
                        _ => Native.S_IFIFO,
                    };
                    if (Native.MakeNode(to, type | (uint)status.Mode, Native.MakeDevice(status.DeviceMajor, status.DeviceMinor)) != 0)
                        throw Failed($"cannot create '{to}': {Native.Describe(Native.LastError)}");
                    break;
                default:
                    continue;
            }
            SetMetadata(to, status);
        }
    }

    private static void SetMetadata(string path, UnixFileStatus status)
    {
        Native.LinkChangeOwner(path, status.Uid, status.Gid);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, (UnixFileMode)status.Mode);
    }

    private static void Remove(string path, UnixFileStatus? status)
    {
        if (status is null) return;
        if (status.Value.Kind == UnixFileKind.Directory) Directory.Delete(path, recursive: true);
        else File.Delete(path);
    }

    /// <summary>Every path below <paramref name="root"/> (image paths) and what it was.</summary>
    public static Dictionary<string, Snapshot> Walk(string root)
    {
        var result = new Dictionary<string, Snapshot>(StringComparer.Ordinal);
        Walk(root, "", result);
        return result;
    }

    private static void Walk(string host, string path, Dictionary<string, Snapshot> result)
    {
        foreach (string full in Directory.EnumerateFileSystemEntries(host))
        {
            string child = path + "/" + Path.GetFileName(full);
            if (UnixFileStatus.TryRead(full) is not { } s) continue;
            result[child] = new Snapshot(s.Kind, s.Inode, s.ChangeTime, s.ModificationTime, s.Mode, s.Uid, s.Gid);
            if (s.Kind == UnixFileKind.Directory) Walk(full, child, result);
        }
    }

    /// <summary>
    /// The layer between <paramref name="before"/> and the root as it is now: new and changed paths (with every folder
    /// above them, their metadata as they are), a whiteout for each deleted path whose parent survived, and an opaque
    /// marker for a folder that was replaced (another inode) before its new contents.
    /// </summary>
    public static IReadOnlyList<FileEntry> Diff(string root, Dictionary<string, Snapshot> before, IReadOnlySet<string> excluded,
        IReadOnlySet<string> stubs, ILogger logger)
    {
        var after = Walk(root);
        var changed = new SortedSet<string>(StringComparer.Ordinal);
        var opaque = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (path, now) in after)
        {
            if (!before.TryGetValue(path, out var was) || was != now) changed.Add(path);
            if (now.Kind == UnixFileKind.Directory && before.TryGetValue(path, out var old)
                && (old.Kind != UnixFileKind.Directory || old.Inode != now.Inode) && old.Kind == UnixFileKind.Directory)
                opaque.Add(path);
        }
        // Below a replaced folder, everything is new.
        foreach (string dir in opaque)
            foreach (string path in after.Keys)
                if (path.StartsWith(dir + "/", StringComparison.Ordinal)) changed.Add(path);
        foreach (string path in changed.ToList())
            for (string parent = Parent(path); parent.Length > 0; parent = Parent(parent))
                changed.Add(parent);

        var entries = new List<FileEntry>();
        var inodes = new Dictionary<ulong, string>();
        foreach (string path in changed)
        {
            string host = root + path;
            var status = UnixFileStatus.TryRead(host) ?? throw new LivrableException(DiagnosticCodes.RunDiffFailed, $"Cannot read '{host}' the RUN wrote.");
            UpperDiff.CheckName(path);
            byte[]? capability = UpperDiff.CheckAttributes(host, path, status.Kind, logger);
            if (status.Kind == UnixFileKind.Directory)
            {
                entries.Add(new FileEntry(path, TarTypeFlag.Directory, status.Mode, status.Uid, status.Gid));
                if (opaque.Contains(path)) entries.Add(FileEntry.OpaqueWhiteout(path));
            }
            else if (UpperDiff.Entry(host, path, status, inodes, logger, capability: capability) is { } entry)
            {
                entries.Add(entry);
            }
        }
        foreach (string path in before.Keys)
        {
            if (after.ContainsKey(path)) continue;
            string parent = Parent(path);
            // Only the topmost deleted path: its parent is still there (or is the root), and was not replaced.
            if ((parent.Length == 0 || after.ContainsKey(parent)) && !opaque.Contains(parent)) entries.Add(FileEntry.Whiteout(path));
        }
        return UpperDiff.Finish(entries, excluded, stubs);
    }

    private static string Parent(string path) => path[..Math.Max(0, path.LastIndexOf('/'))];

    private static LivrableException Failed(string message) => new(DiagnosticCodes.LayerExtractionFailed, "Copying the layers for RUN failed: " + message);
}
