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
        IReadOnlyList<ContextEntry> Inputs() => (excludes.Count == 0 ? services.WalkedAhead(source) : null) ?? Walk(context, span, source, excludes, isExcluded);
        if (reads is not null)
        {
            // The layer write hashes the files (ContextReads has the digest index): nothing to read here.
            var walked = Inputs();
            AddParts(walked, source, key, _ => null, i => walked[i].Status ?? UnixFileStatus.TryRead(walked[i].FullPath), reads);
            return true;
        }
        // Made while the stage's FROM resolved its base, when the digest index knew every file.
        if (excludes.Count == 0 && services.KeyPartsAhead(source) is { } ahead)
        {
            key.Append(ahead);
            return true;
        }
        // The digest index is read while the folders are walked (both only read; the walk is the longer).
        var index = Task.Run(() => services.ContextDigests(span));
        var inputs = Inputs();
        var digests = index.GetAwaiter().GetResult();
        var contents = new ReadOnlyMemory<byte>[inputs.Count];
        var statuses = new UnixFileStatus?[inputs.Count];
        try
        {
            Parallel.For(0, inputs.Count, i =>
            {
                if (inputs[i].Type == ContextEntryType.File) contents[i] = digests.Sha256Of(inputs[i].FullPath, inputs[i].Status, out statuses[i]);
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
    /// The key's parts of a source's walked files, made before the step's key can start (<see cref="StepKey.Fragment"/>,
    /// <see cref="StepServices.WalkAhead"/>), when <paramref name="digests"/> knows every file as the walk saw it; null
    /// when one would have to be read (the step reads it for its key, or, when the key waits, as it writes the layer).
    /// The same parts as <see cref="AddKey"/> adds.
    /// </summary>
    public static StepKey? KeyPartsKnown(IReadOnlyList<ContextEntry> inputs, string source, FileDigests digests)
    {
        var contents = new ReadOnlyMemory<byte>[inputs.Count];
        UnixFileStatus?[]? asked = null; // the statuses the walk did not read (a named source), as the lookups read them
        long size = 64;
        // On this thread: a lookup is a hash of the path and a compare in the index's bytes (about 2 ms for 20,000 files),
        // less than waking the pool's threads cost on a loaded 2-core machine (issue 14).
        for (int i = 0; i < inputs.Count; i++)
        {
            var e = inputs[i];
            size += 128 + e.RelativePath.Length + (e.LinkTarget?.Length ?? 0); // about what its parts take: path, type, mode, size, digest
            if (e.Type != ContextEntryType.File) continue;
            if (digests.Sha256Known(e.FullPath, e.Status, out var status) is not { } known) return null;
            contents[i] = known;
            if (e.Status is null) (asked ??= new UnixFileStatus?[inputs.Count])[i] = status;
        }
        var fragment = StepKey.Fragment((int)Math.Min(int.MaxValue / 2, size));
        AddParts(inputs, source, fragment, i => contents[i], i => inputs[i].Status ?? asked?[i]);
        return fragment;
    }

    /// <summary>
    /// The key's parts of a source's files: their count, then each one's type, mode, size, link target, content digest
    /// (<paramref name="content"/>, empty for none) and first name (from <paramref name="status"/>'s link count). With
    /// <paramref name="reads"/> a regular file's part waits for its digest (<see cref="StepKey.AddLater"/>), which the
    /// layer write takes as it reads the file.
    /// </summary>
    internal static void AddParts(IReadOnlyList<ContextEntry> inputs, string source, StepKey key, Func<int, ReadOnlyMemory<byte>> content,
        Func<int, UnixFileStatus?> status, ContextReads? reads = null)
    {
        key.Add("context source", source).Add("files", inputs.Count);
        // A file with several names is keyed with the first of them: a new or removed hard link changes the layer.
        var firstNames = new Dictionary<(ulong Device, ulong Inode), string>();
        var part = new KeyPart();
        var later = new KeyPart(); // deferred parts are made one after another, in order, when the key is finished
        for (int i = 0; i < inputs.Count; i++)
        {
            var e = inputs[i];
            string linked = "";
            if (e.Type == ContextEntryType.File && status(i) is { LinkCount: > 1 } s)
                linked = " =" + (firstNames.TryAdd((s.Device, s.Inode), e.RelativePath) ? e.RelativePath : firstNames[(s.Device, s.Inode)]);
            if (reads is not null && e.Type == ContextEntryType.File)
                key.AddLater(e.RelativePath, () => later.Of(e, Convert.FromHexString(reads.DigestOf(e.FullPath).Hex), linked).ToString());
            else
                key.Add(e.RelativePath, part.Of(e, content(i), linked));
        }
    }

    /// <summary>
    /// A file's part of the key, <c>{type} {mode in octal} {size} {link target} {sha256:hex digest}{ =first name}</c>,
    /// written into one reused buffer: the characters of the interpolated string it replaced (same key, so the step
    /// records of earlier builds still hit), without a string per file and three more for its digest (issue 14: b's
    /// COPY made about 100,000 of them at every unchanged build).
    /// </summary>
    private sealed class KeyPart
    {
        private char[] _chars = new char[512];
        private int _used;

        public ReadOnlySpan<char> Of(ContextEntry e, ReadOnlyMemory<byte> sha256, string linked)
        {
            _used = 0;
            Put(e.Type switch
            {
                ContextEntryType.File => nameof(ContextEntryType.File),
                ContextEntryType.Directory => nameof(ContextEntryType.Directory),
                ContextEntryType.Symlink => nameof(ContextEntryType.Symlink),
                _ => e.Type.ToString(),
            });
            Put(" ");
            Span<char> number = stackalloc char[24];
            int digits = 0;
            uint mode = (uint)e.Mode; // Convert.ToString(int, 8) writes a negative number's two's complement: the same bits
            do
            {
                number[number.Length - ++digits] = (char)('0' + (mode & 7));
                mode >>= 3;
            } while (mode != 0);
            Put(number[^digits..]);
            Put(" ");
            e.Size.TryFormat(number, out int written, default, System.Globalization.CultureInfo.InvariantCulture);
            Put(number[..written]);
            Put(" ");
            Put(e.LinkTarget);
            Put(" ");
            if (!sha256.IsEmpty)
            {
                Put("sha256:");
                Reserve(sha256.Length * 2);
                foreach (byte b in sha256.Span)
                {
                    _chars[_used++] = "0123456789abcdef"[b >> 4];
                    _chars[_used++] = "0123456789abcdef"[b & 15];
                }
            }
            Put(linked);
            return _chars.AsSpan(0, _used);
        }

        private void Put(ReadOnlySpan<char> text)
        {
            Reserve(text.Length);
            text.CopyTo(_chars.AsSpan(_used));
            _used += text.Length;
        }

        private void Reserve(int length)
        {
            if (_chars.Length - _used < length) Array.Resize(ref _chars, Math.Max(_chars.Length * 2, _used + length));
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
