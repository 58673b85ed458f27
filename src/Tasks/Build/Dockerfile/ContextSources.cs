using Livrable.Build.Cache;
using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Layers;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// What COPY and ADD read of the build context: the key of a source's files (before the step runs, so a hit reads no
/// file twice) and a context entry as a layer entry (when it runs).
/// </summary>
internal static class ContextSources
{
    /// <summary>
    /// The build context files a source reads, as <c>FileStep.AddContextSourceAsync</c> walks them (<c>.dockerignore</c>,
    /// <c>--exclude</c>, links followed as the walk follows them): each one's path, type, mode, size and link target,
    /// the first name of a file that has several, and a regular file's content digest
    /// (<see cref="IStepServices.ContextDigests"/>), hashed on all cores. With <paramref name="reads"/> the content
    /// digests are deferred (<see cref="StepKey.AddLater"/>): the layer write hashes the files as it reads them.
    /// </summary>
    public static bool AddKey(IStepServices services, SourceSpan span, string source, IReadOnlyList<string> excludes, Func<string, bool> isExcluded, StepKey key,
        ContextReads? reads = null)
    {
        var context = services.Context(span);
        // The digest index is read while the folders are walked (both only read; the walk is the longer).
        var index = Task.Run(() => services.ContextDigests(span));
        var inputs = (excludes.Count == 0 ? services.WalkedAhead(source) : null) ?? Walk(context, span, source, excludes, isExcluded);
        var digests = index.GetAwaiter().GetResult();
        if (reads is not null)
        {
            AddParts(inputs, source, key, _ => null, i => inputs[i].Status ?? UnixFileStatus.TryRead(inputs[i].FullPath), reads);
            return true;
        }
        var contents = new string[inputs.Count];
        var statuses = new UnixFileStatus?[inputs.Count];
        try
        {
            Parallel.For(0, inputs.Count, i =>
            {
                if (inputs[i].Type == ContextEntryType.File) contents[i] = digests.DigestOf(inputs[i].FullPath, inputs[i].Status, out statuses[i]).ToString();
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.All(x => x is IOException or UnauthorizedAccessException))
        {
            return false; // an unreadable file: the step runs and reports it as it always has
        }
        AddParts(inputs, source, key, i => contents[i], i => statuses[i]);
        return true;
    }

    /// <summary>
    /// The key's parts of a source's files: their count, then each one's type, mode, size, link target, content digest
    /// (<paramref name="content"/>) and first name (from <paramref name="status"/>'s link count). With
    /// <paramref name="reads"/> a regular file's part waits for its digest (<see cref="StepKey.AddLater"/>), which the
    /// layer write takes as it reads the file.
    /// </summary>
    private static void AddParts(IReadOnlyList<ContextEntry> inputs, string source, StepKey key, Func<int, string?> content,
        Func<int, UnixFileStatus?> status, ContextReads? reads = null)
    {
        key.Add("context source", source).Add("files", inputs.Count);
        // A file with several names is keyed with the first of them: a new or removed hard link changes the layer.
        var firstNames = new Dictionary<(ulong Device, ulong Inode), string>();
        for (int i = 0; i < inputs.Count; i++)
        {
            var e = inputs[i];
            string linked = "";
            if (e.Type == ContextEntryType.File && status(i) is { LinkCount: > 1 } s)
                linked = " =" + (firstNames.TryAdd((s.Device, s.Inode), e.RelativePath) ? e.RelativePath : firstNames[(s.Device, s.Inode)]);
            string head = $"{e.Type} {Convert.ToString(e.Mode, 8)} {e.Size} {e.LinkTarget} ";
            if (reads is not null && e.Type == ContextEntryType.File)
                key.AddLater(e.RelativePath, () => $"{head}{reads.DigestOf(e.FullPath)}{linked}");
            else
                key.Add(e.RelativePath, $"{head}{content(i)}{linked}");
        }
    }

    /// <summary>
    /// What one source reads of the context, as the step walks it: each match of the source (unless <c>--exclude</c>d)
    /// and, for a folder, everything in it.
    /// </summary>
    public static IReadOnlyList<ContextEntry> Walk(BuildContext context, SourceSpan span, string source, IReadOnlyList<string> excludes,
        Func<string, bool> isExcluded)
    {
        var inputs = new List<ContextEntry>();
        foreach (var match in context.Resolve(source, span))
        {
            if (match.RelativePath != "." && isExcluded(match.RelativePath)) continue;
            inputs.Add(match);
            if (match.Type == ContextEntryType.Directory) inputs.AddRange(context.Enumerate(match, excludes));
        }
        return inputs;
    }

    /// <summary>
    /// A context entry as a layer entry (0:0; the bytes read from the file when the layer is written). A FIFO or a
    /// device node of the context is carried as one (BuildKit's context transfer and copy make it again with mknod),
    /// never opened; a socket, which a tar cannot hold, is LIV4061 as in BuildKit (<c>unsupported mode</c>). With
    /// <paramref name="reads"/>, a regular file is hashed as the layer write reads it (<see cref="ContextReads"/>).
    /// </summary>
    public static FileEntry Entry(ContextEntry entry, string path, string keyword, SourceSpan span, ContextReads? reads = null)
    {
        var type = entry.Type switch
        {
            ContextEntryType.Directory => TarTypeFlag.Directory,
            ContextEntryType.Symlink => TarTypeFlag.SymbolicLink,
            _ => TarTypeFlag.RegularFile,
        };
        string fullPath = entry.FullPath;
        int major = 0, minor = 0;
        if (type == TarTypeFlag.RegularFile && UnixFileStatus.TryRead(fullPath) is { Kind: not UnixFileKind.RegularFile } status)
        {
            type = status.Kind switch
            {
                UnixFileKind.Fifo => TarTypeFlag.Fifo,
                UnixFileKind.CharacterDevice => TarTypeFlag.CharacterDevice,
                UnixFileKind.BlockDevice => TarTypeFlag.BlockDevice,
                _ => throw new LivrableException(DiagnosticCodes.ContextSocket,
                    $"{keyword} names '{entry.RelativePath}', a {status.Kind.ToString().ToLowerInvariant()} of the build context, which a layer cannot " +
                    "carry (BuildKit refuses it too). Leave it out with .dockerignore or --exclude.", span),
            };
            (major, minor) = (status.DeviceMajor, status.DeviceMinor);
        }
        return new FileEntry(path, type, entry.Mode & 0xFFF, 0, 0)
        {
            Size = type == TarTypeFlag.RegularFile ? entry.Size : 0,
            LinkTarget = entry.LinkTarget,
            DeviceMajor = major,
            DeviceMinor = minor,
            Open = type != TarTypeFlag.RegularFile ? null
                : reads is null ? _ => Task.FromResult<Stream>(File.OpenRead(fullPath))
                : _ => Task.FromResult(reads.Open(fullPath, entry.Size)),
        };
    }

    /// <summary>
    /// A context file with several names (<c>st_nlink</c> above 1) gets the group of its inode, so the names of it a
    /// folder's copy holds are written as hard links, as fsutil's inode map keeps them.
    /// </summary>
    public static FileEntry WithHardLinks(FileEntry entry, string fullPath, Dictionary<(ulong Device, ulong Inode), HardLinkGroup> inodes)
    {
        if (entry.Type != TarTypeFlag.RegularFile || UnixFileStatus.TryRead(fullPath) is not { LinkCount: > 1 } status) return entry;
        if (!inodes.TryGetValue((status.Device, status.Inode), out var group)) inodes[(status.Device, status.Inode)] = group = new HardLinkGroup();
        return entry with { HardLinks = group };
    }
}
