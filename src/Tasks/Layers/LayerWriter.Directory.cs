using Livrable.Diagnostics;

namespace Livrable.Layers;

// DirectoryLayerSpec: a folder's tree under a destination.
public static partial class LayerWriter
{
    /// <summary>
    /// The folder's whole tree under the destination (and the destination's parents), sorted by name. Directories
    /// are 0755 and files 0644 or 0755 (setuid and friends are not kept from a build folder); symbolic links are kept as
    /// links with their target as written, never followed; files with several links inside the tree are written once
    /// and then as hard links to the first name (on Linux, where the inode is known; elsewhere each is a full copy).
    /// Fifos and device nodes are kept with their mode; sockets, which a tar cannot hold, are left out. Owners are 0:0.
    /// </summary>
    private static async Task WriteDirectoryAsync(DirectoryLayerSpec spec, Context context)
    {
        var root = new DirectoryInfo(spec.SourceDirectory);
        if (!root.Exists)
            throw new LivrableException(DiagnosticCodes.InputNotFound, $"The folder '{spec.SourceDirectory}' does not exist.");
        string destination = LayerPath.FromImagePath(spec.Destination, "The destination of " + spec.SourceDirectory);

        var entries = new List<PlannedEntry>();
        if (destination.Length > 0)
        {
            foreach (string ancestor in LayerPath.Ancestors(destination))
                entries.Add(new PlannedEntry(DirectoryHeader(ancestor, context)));
            entries.Add(new PlannedEntry(DirectoryHeader(destination, context)));
        }
        try
        {
            Walk(root, destination, entries, context);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LivrableException(DiagnosticCodes.LayerIo, $"Reading the folder '{spec.SourceDirectory}' failed: {e.Message}", inner: e);
        }
        entries.Sort((a, b) => TarNameComparer.Instance.Compare(a.Header.Name, b.Header.Name));
        LinkHardLinks(entries);
        await WriteSortedAsync(entries, context).ConfigureAwait(false);
    }

    private static readonly EnumerationOptions Children = new()
    {
        AttributesToSkip = 0,
        IgnoreInaccessible = false,
        RecurseSubdirectories = false,
        ReturnSpecialDirectories = false,
        MatchType = MatchType.Simple,
    };

    private static void Walk(DirectoryInfo directory, string path, List<PlannedEntry> entries, Context context)
    {
        foreach (var info in directory.EnumerateFileSystemInfos("*", Children))
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            string name = LayerPath.Join(path, info.Name);
            var status = UnixFileStatus.TryRead(info.FullName);
            var kind = status?.Kind
                ?? (info.LinkTarget is not null ? UnixFileKind.SymbolicLink
                    : info is DirectoryInfo ? UnixFileKind.Directory : UnixFileKind.RegularFile);
            var header = new TarHeader { Name = name, ModificationTime = context.Epoch };
            switch (kind)
            {
                case UnixFileKind.Directory:
                    entries.Add(new PlannedEntry(DirectoryHeader(name, context)));
                    Walk(new DirectoryInfo(info.FullName), name, entries, context);
                    break;
                case UnixFileKind.SymbolicLink:
                    string target = info.LinkTarget
                        ?? throw new IOException($"'{info.FullName}' is a symbolic link whose target cannot be read.");
                    entries.Add(new PlannedEntry(header with { Type = TarTypeFlag.SymbolicLink, Mode = FileModes.SymbolicLink, LinkName = target }));
                    break;
                case UnixFileKind.RegularFile:
                    bool executable = status is { } s
                        ? (s.Mode & FileModes.OwnerExecute) != 0
                        : IsExecutable(info.FullName, name, context.Options);
                    entries.Add(new PlannedEntry(header with { Mode = FileModes.ForRegularFile(executable) }, info.FullName)
                    {
                        LinkKey = status is { LinkCount: > 1 } linked ? (linked.Device, linked.Inode) : null,
                    });
                    break;
                case UnixFileKind.CharacterDevice or UnixFileKind.BlockDevice:
                    entries.Add(new PlannedEntry(header with
                    {
                        Type = kind == UnixFileKind.CharacterDevice ? TarTypeFlag.CharacterDevice : TarTypeFlag.BlockDevice,
                        Mode = status!.Value.Mode,
                        DeviceMajor = status.Value.DeviceMajor,
                        DeviceMinor = status.Value.DeviceMinor,
                    }));
                    break;
                case UnixFileKind.Fifo:
                    entries.Add(new PlannedEntry(header with { Type = TarTypeFlag.Fifo, Mode = status!.Value.Mode }));
                    break;
                case UnixFileKind.Socket:
                    break;
            }
        }
    }

    /// <summary>
    /// In sorted order, the first name of each (device, inode) stays a file and later names become hard links to it,
    /// so the choice is the same on every machine.
    /// </summary>
    private static void LinkHardLinks(List<PlannedEntry> entries)
    {
        var first = new Dictionary<(ulong, ulong), string>();
        for (int i = 0; i < entries.Count; i++)
        {
            if (entries[i].LinkKey is not { } key) continue;
            if (first.TryGetValue(key, out string? target))
                entries[i] = new PlannedEntry(entries[i].Header with { Type = TarTypeFlag.HardLink, LinkName = target, Size = 0 });
            else
                first.Add(key, entries[i].Header.Name);
        }
    }
}
