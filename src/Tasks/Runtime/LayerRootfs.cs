using System.Formats.Tar;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;
using Livrable.Interop;

namespace Livrable.Runtime;

/// <summary>
/// Layers extracted as overlay lower folders, once per diff id, in the state folder: <c>rootfs/&lt;diff-id-hex&gt;/</c>,
/// complete when <c>rootfs/&lt;hex&gt;.done</c> exists. A layer is extracted into a temporary folder and renamed into
/// place, under a lock file (<c>rootfs/&lt;hex&gt;.lock</c>), so concurrent builds share it and a killed build leaves no
/// half-extracted layer under a final name. Base layers and the layers earlier steps of the build wrote go through the
/// same code (both are <see cref="ILayer"/>s).
/// </summary>
/// <remarks>
/// Extraction is safe against hostile layers: a <c>..</c> component is refused, absolute names are relative to the
/// root, every parent folder is checked with <c>lstat</c> to be a real folder (never a symbolic link written earlier,
/// which is refused: LIV5006), a hard link must name a regular file already extracted from the same layer, and
/// symbolic links are written as they are and never followed. Whiteouts take overlay's form (the kernel's
/// <c>Documentation/filesystems/overlayfs.rst</c>, as Docker's overlay2 driver writes them): <c>.wh.name</c> becomes a
/// character device 0/0 <c>name</c>, <c>.wh..wh..opq</c> the <c>trusted.overlay.opaque=y</c> attribute of its folder.
/// Device nodes and owners need root. A rootless build (<paramref name="userNamespace"/> given) extracts as the build's
/// user, who is root in the namespace: files are its own, opaque folders carry <c>user.overlay.opaque</c> (the
/// attribute overlay reads when mounted in a user namespace, <c>userxattr</c>), and the whiteouts, the other owners and
/// the set-id bits chown clears are applied in the namespace by one script before the folder is renamed into place
/// (<see cref="UserNamespace"/>). Such folders live apart (<c>rootfs-userns-&lt;range&gt;/</c>): their owners are
/// host ids of that mapping.
/// </remarks>
/// <param name="stateDirectory">The state folder; layers go to its <c>rootfs/</c> (or <c>rootfs-userns-*/</c>).</param>
/// <param name="logger">Where progress goes.</param>
/// <param name="userNamespace">The user namespace of a rootless build; null as root.</param>
/// <param name="maxLayerBytes">
/// How many decompressed bytes one layer may hold before it is refused as a decompression bomb (LIV4202), so a
/// hostile base image cannot fill the disk under the state folder.
/// </param>
internal sealed class LayerRootfs(string stateDirectory, ILogger logger, UserNamespace? userNamespace = null, long maxLayerBytes = Decompression.DefaultMaxBytes)
{
    /// <summary>Files up to this size are written with synchronous calls (<see cref="ExtractEntryAsync"/>).</summary>
    private const long SmallFile = 64 * 1024;

    /// <summary>The attribute that marks a folder opaque in these folders: overlay reads <c>user.overlay.*</c> when mounted in a user namespace.</summary>
    internal string OpaqueAttribute => userNamespace is null ? "trusted.overlay.opaque" : "user.overlay.opaque";

    /// <summary>The user namespace of a rootless build, whose owners these folders hold; null as root.</summary>
    internal UserNamespace? UserNamespace => userNamespace;

    /// <summary>Where extracted layers live.</summary>
    public string Root { get; } = Store.StateLayout.ExtractedLayers(stateDirectory, Variant(userNamespace));

    private static string? Variant(UserNamespace? userNamespace) => userNamespace switch
    {
        null => null,
        { SubordinateUids: { } u, SubordinateGids: { } g } => $"userns-{userNamespace.HostUid}-{u.Start}-{u.Count}-{g.Start}-{g.Count}",
        _ => $"userns-{userNamespace.HostUid}",
    };

    /// <summary>
    /// What a rootless extraction (or <see cref="UpperFolderAdoption"/>) leaves for the namespace: whiteouts to make,
    /// owners to set, modes to restore (<see cref="ApplyFixupsAsync"/>).
    /// </summary>
    internal sealed class Fixups
    {
        public List<string> Whiteouts { get; } = [];
        public Dictionary<(long Uid, long Gid), List<string>> Owners { get; } = [];
        public Dictionary<int, List<string>> Modes { get; } = [];
        public bool OwnersLost { get; set; }

        /// <summary>Files to be given file capabilities in the namespace (host path: entry), in the layer's order.</summary>
        public Dictionary<string, TarHeader> Capabilities { get; } = new(StringComparer.Ordinal);

        /// <summary>The other names (host paths) of those files, each with the name it links to.</summary>
        public List<(string Path, string Target)> CapabilityLinks { get; } = [];
    }

    private Fixups? _fixups;

    /// <summary>An empty folder, the lower folder of a step with no layer at all (FROM scratch).</summary>
    public string EmptyDirectory
    {
        get
        {
            string empty = Path.Combine(Root, "empty");
            Directory.CreateDirectory(empty);
            return empty;
        }
    }

    /// <summary>The folder holding <paramref name="layer"/> extracted, extracting it first when needed.</summary>
    public async Task<string> EnsureAsync(ILayer layer, CancellationToken cancellationToken)
    {
        string hex = layer.DiffId.Hex;
        string directory = Path.Combine(Root, hex);
        string marker = directory + ".done";
        if (IsComplete(directory))
        {
            StateFolder.Touch(marker);
            return directory;
        }
        Directory.CreateDirectory(Root);
        using var gate = await LockAsync(directory + ".lock", cancellationToken).ConfigureAwait(false);
        if (IsComplete(directory)) return directory;
        // The full diff id in the temporary name: StateFolder.CleanUp removes it once rootfs/<hex>.lock is free.
        string temp = Path.Combine(Root, $"tmp-{hex}-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(temp);
            logger.Detail($"  extracting layer {layer.DiffId} for RUN");
            _fixups = userNamespace is null ? null : new Fixups();
            await ExtractAsync(layer, temp, cancellationToken).ConfigureAwait(false);
            if (_fixups is not null) await ApplyFixupsAsync(_fixups, temp, layer, cancellationToken).ConfigureAwait(false);
            await PlaceAsync(temp, layer).ConfigureAwait(false);
            return directory;
        }
        finally
        {
            if (Directory.Exists(temp)) TryDelete(temp);
        }
    }

    /// <summary>
    /// A new temporary folder for a layer whose diff id is not known yet (<see cref="LowerFolderPreparation"/>):
    /// <c>tmp-written-&lt;guid&gt;</c>, which <c>StateFolder.CleanUp</c> removes once old, should a build die with it.
    /// </summary>
    internal string NewWrittenTemp()
    {
        string temp = Path.Combine(Root, $"tmp-written-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        return temp;
    }

    /// <summary>
    /// Extracts the tar <paramref name="tar"/> (uncompressed, being written) into <paramref name="temp"/> as
    /// <see cref="EnsureAsync"/> extracts a layer's blob, with the same rules and the same code: the folder is what
    /// extracting the blob gives, entry by entry. Its diff id is not known yet, so messages name none.
    /// </summary>
    internal async Task ExtractWrittenAsync(Stream tar, string temp, CancellationToken cancellationToken)
    {
        var layer = new WrittenLayer();
        _fixups = userNamespace is null ? null : new Fixups();
        await ExtractTarAsync(tar, temp, layer, cancellationToken).ConfigureAwait(false);
        if (_fixups is not null) await ApplyFixupsAsync(_fixups, temp, layer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Puts <paramref name="temp"/>, extracted by <see cref="ExtractWrittenAsync"/>, in place as <paramref name="layer"/>'s
    /// folder, under its lock; when the folder is already there, <paramref name="temp"/> is deleted instead.
    /// </summary>
    internal async Task AdoptAsync(string temp, ILayer layer, CancellationToken cancellationToken)
    {
        string directory = Path.Combine(Root, layer.DiffId.Hex);
        try
        {
            using var gate = await LockAsync(directory + ".lock", cancellationToken).ConfigureAwait(false);
            if (IsComplete(directory)) return;
            await PlaceAsync(temp, layer).ConfigureAwait(false);
        }
        finally
        {
            if (Directory.Exists(temp)) TryDelete(temp);
        }
    }

    /// <summary>Deletes a temporary folder of <see cref="NewWrittenTemp"/> that will not be adopted.</summary>
    internal void Abandon(string temp)
    {
        if (Directory.Exists(temp)) ContainerRun.DeleteStepDirectory(temp, userNamespace);
    }

    /// <summary>Renames an extracted folder into place as <paramref name="layer"/>'s, then its marker (the caller holds the lock).</summary>
    private async Task PlaceAsync(string temp, ILayer layer)
    {
        string directory = Path.Combine(Root, layer.DiffId.Hex);
        long size = StatePruner.SizeOf(new DirectoryInfo(temp));
        // An unmarked folder: one the pruner began to evict, or a killed extraction's. A user namespace's may hold
        // files of its other users, which only the namespace can delete.
        if (Directory.Exists(directory)) ContainerRun.DeleteStepDirectory(directory, userNamespace);
        Directory.Move(temp, directory);
        // The marker is itself renamed into place, so it is complete when it exists; it records the size for
        // StatePruner, which would otherwise walk the tree at every size check, and the boot (IsComplete).
        string markerTemp = temp + ".done";
        await File.WriteAllTextAsync(markerTemp, $"{layer.DiffId}\n{size}\n{BootId.Stamp}\n{ExtractionRules}\n", CancellationToken.None).ConfigureAwait(false);
        File.Move(markerTemp, directory + ".done", overwrite: true);
    }

    /// <summary>
    /// The version of what an extraction holds beyond the layer's entries, in each marker: raised when the rules
    /// change what a RUN sees for the same blob (2: hard links' file capabilities as moby's untar leaves them,
    /// <c>Layers/LinkedCapabilities</c>), so that a folder an older Livrable extracted in this boot is extracted
    /// again instead of serving its old answer. An older Livrable reads only the first three lines of a newer marker,
    /// and takes the folder as it is.
    /// </summary>
    internal const string ExtractionRules = "extraction 2";

    /// <summary>
    /// Whether <paramref name="directory"/> is a complete extraction this boot made under today's rules: its folder and
    /// its <c>.done</c> marker exist and the marker names the running kernel's boot id and <see cref="ExtractionRules"/>.
    /// </summary>
    /// <remarks>
    /// Nothing of an extraction is flushed to disk (an fsync of 20,000 files would cost more than the extraction), so
    /// after a kernel crash or power loss the renamed marker may survive files whose bytes did not, and a RUN would read
    /// them silently. Such a crash reboots the machine, so a marker from another boot is as good as none: the folder
    /// is extracted again, once, as the output records are trusted only within their boot. Where the
    /// system tells no boot id, no marker is trusted.
    /// </remarks>
    internal static bool IsComplete(string directory)
    {
        string marker = directory + ".done";
        try
        {
            using var reader = new StreamReader(marker);
            reader.ReadLine();
            reader.ReadLine();
            return BootId.Vouches(reader.ReadLine()) && reader.ReadLine() == ExtractionRules && Directory.Exists(directory);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The layer <see cref="ExtractWrittenAsync"/> reads: its tar is in hand, its digests not yet known.</summary>
    private sealed class WrittenLayer : ILayer
    {
        public Descriptor Descriptor => throw new InvalidOperationException("A layer being written has no descriptor yet.");
        public Digest DiffId => default;
        public Task<Stream> OpenAsync(CancellationToken cancellationToken) => throw new InvalidOperationException("A layer being written is read from its tar.");
    }

    /// <summary>Extracts one layer blob into <paramref name="root"/> (an empty folder) with the rules above.</summary>
    public async Task ExtractAsync(ILayer layer, string root, CancellationToken cancellationToken)
    {
        var raw = await layer.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (raw.ConfigureAwait(false))
        {
            var (decompressed, _) = await Decompression.OpenAsync(raw, cancellationToken).ConfigureAwait(false);
            var stream = new LimitedStream(decompressed, maxLayerBytes, () => new LivrableException(DiagnosticCodes.LayerTooLarge,
                $"Layer {layer.Descriptor.Digest} decompresses to more than {maxLayerBytes} bytes; it is refused as a possible decompression bomb."));
            await using (stream.ConfigureAwait(false))
                await ExtractTarAsync(stream, root, layer, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Extracts the uncompressed tar <paramref name="stream"/> of <paramref name="layer"/> into <paramref name="root"/>.</summary>
    private async Task ExtractTarAsync(Stream stream, string root, ILayer layer, CancellationToken cancellationToken)
    {
        var reader = TarReading.OpenReader(stream, leaveOpen: true, out var view);
        await using (reader.ConfigureAwait(false))
        {
            while (true)
            {
                TarEntry? entry;
                try
                {
                    entry = await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (Decompression.IsFormatError(e))
                {
                    throw new LivrableException(DiagnosticCodes.InvalidArchive, $"Layer {(layer is WrittenLayer ? "being written" : layer.Descriptor.Digest)} is not a valid tar: {e.Message}", inner: e);
                }
                if (entry is null) break;
                try
                {
                    await ExtractEntryAsync(entry, root, layer, cancellationToken).ConfigureAwait(false);
                    if (view.Capability is { } capability && TarReading.IsRegularFile(entry.EntryType))
                    {
                        if (userNamespace is null) SetCapability(root, entry, capability, layer);
                        else AddCapability(_fixups!, root, entry, capability, layer);
                    }
                    else if (entry.EntryType == TarEntryType.HardLink && userNamespace is null)
                        SetLinkCapability(root, entry, view.Capability, layer);
                }
                catch (IOException e) when (DiskSpace.IsFull(e))
                {
                    throw DiskFull(entry.Name, layer, e);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new LivrableException(DiagnosticCodes.LayerExtractionFailed,
                        $"Extracting {TarReading.Shown(entry.Name)} of layer {layer.DiffId} failed: {e.Message}", inner: e);
                }
            }
        }
    }

    private async Task ExtractEntryAsync(TarEntry entry, string root, ILayer layer, CancellationToken cancellationToken)
    {
        string[] parts = CleanName(entry.Name, layer);
        if (parts.Length == 0) return;
        string name = parts[^1];
        string parent = EnsureParents(root, parts[..^1], entry.Name, layer);

        if (name.StartsWith(FileEntry.WhiteoutPrefix, StringComparison.Ordinal))
        {
            // A bare ".wh." or ".wh..": joined to its folder, the hidden name would be the folder itself or its parent
            // (the extraction root's parent for a top-level entry), and removing it would delete outside the layer.
            if (!FileEntry.IsValidWhiteoutName(name))
                throw new LivrableException(DiagnosticCodes.InvalidWhiteout,
                    $"Layer {layer.DiffId} holds the whiteout {TarReading.Shown(entry.Name)}, which names no file (only its folder or the folder's parent): refused.");
            if (name == FileEntry.OpaqueWhiteoutName)
            {
                if (Native.SetXattr(parent, OpaqueAttribute, "y"u8.ToArray(), 1, 0) != 0)
                    throw NativeFailed($"cannot mark {TarReading.Shown(entry.Name)} opaque", entry.Name, layer);
            }
            else if (!name.StartsWith(FileEntry.WhiteoutPrefix + FileEntry.WhiteoutPrefix, StringComparison.Ordinal))
            {
                // .wh..wh.* names other than the opaque marker are aufs bookkeeping: nothing to apply.
                string hidden = Path.Combine(parent, name[FileEntry.WhiteoutPrefix.Length..]);
                RemoveExisting(hidden);
                if (_fixups is not null) _fixups.Whiteouts.Add(hidden);
                else if (Native.MakeNode(hidden, Native.S_IFCHR, 0) != 0)
                    throw NativeFailed($"cannot write the whiteout {TarReading.Shown(entry.Name)}", entry.Name, layer);
            }
            return;
        }

        string path = Path.Combine(parent, name);
        var existing = UnixFileStatus.TryRead(path);
        if (entry.EntryType == TarEntryType.Directory)
        {
            if (existing is { Kind: not UnixFileKind.Directory }) RemoveExisting(path);
            if (existing is not { Kind: UnixFileKind.Directory }) Directory.CreateDirectory(path);
            SetOwnerAndMode(path, entry);
            return;
        }
        if (existing is not null) RemoveExisting(path);
        switch (entry.EntryType)
        {
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                if (entry.Length <= SmallFile)
                {
                    // Most files of a layer are small: read (asynchronously, as the tar is), then written with one
                    // synchronous call, not an asynchronous file write and its thread-pool round trip per file.
                    byte[] bytes = new byte[entry.Length];
                    if (entry.DataStream is { } data) await data.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
                    using var small = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0);
                    small.Write(bytes);
                }
                else
                {
                    var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
                    await using (file.ConfigureAwait(false))
                    {
                        if (entry.DataStream is { } data) await data.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                    }
                }
                SetOwnerAndMode(path, entry);
                File.SetLastWriteTimeUtc(path, entry.ModificationTime.UtcDateTime);
                break;
            case TarEntryType.SymbolicLink:
                // Stored as written: an absolute target is valid inside the image, and nothing here follows it.
                File.CreateSymbolicLink(path, entry.LinkName);
                if (_fixups is not null) AddOwner(_fixups, path, entry.Uid, entry.Gid);
                else Native.LinkChangeOwner(path, (uint)entry.Uid, (uint)entry.Gid);
                break;
            case TarEntryType.HardLink:
                string target = HardLinkTarget(root, entry, layer);
                if (Native.HardLink(target, path) != 0)
                    throw NativeFailed($"cannot link {TarReading.Shown(entry.Name)} to {TarReading.Shown(entry.LinkName)}", entry.Name, layer);
                if (_fixups is not null && _fixups.Capabilities.ContainsKey(target)) _fixups.CapabilityLinks.Add((path, target));
                break;
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                if (!Native.IsRoot && entry.EntryType != TarEntryType.Fifo)
                {
                    logger.Detail($"  skipped the device node {TarReading.Shown(entry.Name)} of layer {layer.DiffId}: creating it needs root");
                    return;
                }
                var posix = entry as PosixTarEntry;
                uint kind = entry.EntryType switch
                {
                    TarEntryType.CharacterDevice => Native.S_IFCHR,
                    TarEntryType.BlockDevice => Native.S_IFBLK,
                    _ => Native.S_IFIFO,
                };
                ulong device = posix is null ? 0 : Native.MakeDevice(posix.DeviceMajor, posix.DeviceMinor);
                if (Native.MakeNode(path, kind | ((uint)entry.Mode & 0xFFF), device) != 0)
                    throw NativeFailed($"cannot create the device node {TarReading.Shown(entry.Name)}", entry.Name, layer);
                SetOwnerAndMode(path, entry);
                break;
            default:
                logger.Detail($"  skipped {TarReading.Shown(entry.Name)} of layer {layer.DiffId}: entry type {entry.EntryType} has no file to write");
                break;
        }
    }

    /// <summary>
    /// Sets a regular file's file capabilities from its entry, after its owner and mode (a chown clears them), as
    /// BuildKit's and Docker's extraction do; the kernel refuses a malformed value (LIV5007).
    /// </summary>
    private void SetCapability(string root, TarEntry entry, byte[] capability, ILayer layer)
    {
        string path = Path.Combine(root, Path.Combine(CleanName(entry.Name, layer)));
        if (Native.SetXattr(path, FileCapability.Attribute, capability, (nuint)capability.Length, 0) != 0)
            throw NativeFailed($"cannot set the file capabilities of {TarReading.Shown(entry.Name)}", entry.Name, layer);
    }

    /// <summary>
    /// A hard link's record set on its file as moby's untar leaves it (<see cref="LinkedCapabilities"/>): its chown of
    /// the link clears the file's capabilities, then it sets the link's own record; so the file ends with the link's, or
    /// none. (Rootless, the links of a file keep its record: the namespace's tar is not told otherwise.)
    /// </summary>
    private void SetLinkCapability(string root, TarEntry entry, byte[]? capability, ILayer layer)
    {
        if (capability is not null)
        {
            SetCapability(root, entry, capability, layer);
            return;
        }
        string path = Path.Combine(root, Path.Combine(CleanName(entry.Name, layer)));
        if (Native.RemoveXattr(path, FileCapability.Attribute) != 0 && Native.LastError != Native.ENODATA)
            throw NativeFailed($"cannot clear the file capabilities of {TarReading.Shown(entry.Name)}", entry.Name, layer);
    }

    /// <summary>
    /// Rootless: a file whose capabilities root of the namespace sets (<see cref="ApplyFixupsAsync"/>), with the owner
    /// and mode it gets there.
    /// </summary>
    private void AddCapability(Fixups fixups, string root, TarEntry entry, byte[] capability, ILayer layer)
    {
        string path = Path.Combine(root, Path.Combine(CleanName(entry.Name, layer)));
        fixups.Capabilities[path] = new TarHeader
        {
            Name = path.TrimStart('/'),
            Mode = (int)entry.Mode & FileModes.All,
            Uid = userNamespace!.HasUid(entry.Uid) ? entry.Uid : 0,
            Gid = userNamespace.HasGid(entry.Gid) ? entry.Gid : 0,
            ModificationTime = entry.ModificationTime.ToUnixTimeSeconds(),
            Size = entry.Length,
            Capability = capability,
        };
    }

    /// <summary>
    /// Rootless: the tar GNU tar extracts in the namespace to give files their capabilities (only root of the namespace
    /// may set them; the kernel stores them naming that root, and shows them to the RUN as they are in the layer): each
    /// file again, its bytes read back from the extraction, then its other names as hard links (tar replaces each file,
    /// so the links are made again). Names are host paths without their leading '/', extracted with <c>-C /</c>.
    /// </summary>
    private static async Task WriteCapabilityTarAsync(Fixups fixups, string file, CancellationToken cancellationToken)
    {
        await using var output = File.Create(file);
        await using var tar = new Livrable.Layers.TarWriter(output);
        foreach (var (path, header) in fixups.Capabilities)
        {
            await using var content = File.OpenRead(path);
            await tar.WriteEntryAsync(header, content, cancellationToken).ConfigureAwait(false);
        }
        foreach (var (path, target) in fixups.CapabilityLinks)
        {
            var header = fixups.Capabilities[target];
            await tar.WriteEntryAsync(header with { Name = path.TrimStart('/'), Type = TarTypeFlag.HardLink, LinkName = header.Name, Size = 0 },
                null, cancellationToken).ConfigureAwait(false);
        }
        await tar.FinishAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The line the fix-up script prints when GNU tar could not set file capabilities.</summary>
    private const string CapabilitiesNotSetLine = "livrable: capabilities not set";

    /// <summary>The name's components; <c>..</c> anywhere is LIV5006 (a layer never needs it, an attack always does).</summary>
    private static string[] CleanName(string name, ILayer layer)
    {
        var parts = ScopedPath.Components(name);
        if (parts.Contains(".."))
            throw new LivrableException(DiagnosticCodes.UnsafeLayerEntry,
                $"Layer {layer.DiffId} holds {TarReading.Shown(name)}, whose '..' would leave the image's root: refused.");
        return parts;
    }

    /// <summary>The host folder for <paramref name="parts"/>, created as real folders; a symbolic link or a file on the way is LIV5006.</summary>
    private static string EnsureParents(string root, string[] parts, string name, ILayer layer)
    {
        string current = root;
        foreach (string part in parts)
        {
            current = Path.Combine(current, part);
            var status = UnixFileStatus.TryRead(current);
            if (status is null)
            {
                Directory.CreateDirectory(current);
                continue;
            }
            if (status.Value.Kind != UnixFileKind.Directory)
                throw new LivrableException(DiagnosticCodes.UnsafeLayerEntry,
                    $"Layer {layer.DiffId} holds {TarReading.Shown(name)} below '{Path.GetRelativePath(root, current)}', which the layer made a " +
                    $"{status.Value.Kind} and not a folder: writing through it could leave the image's root, refused.");
        }
        return current;
    }

    /// <summary>The host path a hard link names: a regular file already extracted from this layer, reached through real folders only.</summary>
    private static string HardLinkTarget(string root, TarEntry entry, ILayer layer)
    {
        string[] parts = CleanName(entry.LinkName, layer);
        string current = root;
        for (int i = 0; i < parts.Length; i++)
        {
            current = Path.Combine(current, parts[i]);
            var status = UnixFileStatus.TryRead(current);
            bool last = i == parts.Length - 1;
            if (status is null || (last ? status.Value.Kind is UnixFileKind.Directory or UnixFileKind.SymbolicLink : status.Value.Kind != UnixFileKind.Directory))
                throw new LivrableException(DiagnosticCodes.UnsafeLayerEntry,
                    $"Layer {layer.DiffId} holds the hard link {TarReading.Shown(entry.Name)} to {TarReading.Shown(entry.LinkName)}, which is not a file written " +
                    "earlier in the same layer: refused.");
        }
        return current;
    }

    private void SetOwnerAndMode(string path, TarEntry entry)
    {
        int mode = (int)entry.Mode & FileModes.All;
        if (_fixups is not null)
        {
            AddOwnerAndMode(_fixups, path, entry.Uid, entry.Gid, mode);
        }
        else if (Native.IsRoot)
        {
            Native.LinkChangeOwner(path, (uint)entry.Uid, (uint)entry.Gid);
        }
        // After the owner: chown clears set-user-ID and set-group-ID bits.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, (UnixFileMode)mode);
    }

    /// <summary>
    /// Records the owner (ids inside the namespace) and, when chown will clear its set-id bits, the
    /// <paramref name="mode"/> of a file or folder for the namespace (<see cref="ApplyFixupsAsync"/>).
    /// </summary>
    internal void AddOwnerAndMode(Fixups fixups, string path, long uid, long gid, int mode)
    {
        // chown in the namespace comes later and clears set-user-ID and set-group-ID bits: those modes are set again after it.
        if (AddOwner(fixups, path, uid, gid) && (mode & 0xC00) != 0)
        {
            if (!fixups.Modes.TryGetValue(mode, out var paths)) fixups.Modes[mode] = paths = [];
            paths.Add(path);
        }
    }

    /// <summary>Records a non-root owner (ids inside the namespace) for the namespace; false when the entry is root's (nothing to do).</summary>
    internal bool AddOwner(Fixups fixups, string path, long uid, long gid)
    {
        if (uid == 0 && gid == 0) return false;
        if (!userNamespace!.HasUid(uid) || !userNamespace.HasGid(gid))
        {
            // Only root (and the subordinate range) exist in the namespace: such a file shows as root's to the RUN.
            fixups.OwnersLost = true;
            uid = userNamespace.HasUid(uid) ? uid : 0;
            gid = userNamespace.HasGid(gid) ? gid : 0;
            if (uid == 0 && gid == 0) return false;
        }
        if (!fixups.Owners.TryGetValue((uid, gid), out var paths)) fixups.Owners[(uid, gid)] = paths = [];
        paths.Add(path);
        return true;
    }

    /// <summary>
    /// One script in the user namespace makes the whiteouts (character devices 0/0, mode 0 as root's and overlay's own,
    /// which only root of a namespace may make), sets the owners, then the set-id modes chown cleared. Lists go in
    /// NUL-separated files (next to <paramref name="temp"/>), never in the script.
    /// </summary>
    internal async Task ApplyFixupsAsync(Fixups fixups, string temp, ILayer layer, CancellationToken cancellationToken)
    {
        if (fixups.OwnersLost)
            logger.Warning(DiagnosticCodes.RootlessOwnersLost,
                $"Layer {layer.DiffId} has files of users or groups that do not exist in this rootless build's user namespace " +
                $"(no subordinate id range for the build's user in /etc/subuid and /etc/subgid, or a range too small): RUN sees them as root's. " +
                "Give the user a range (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER), or build as root.");
        var operations = new List<string>();
        string lists = temp + ".lists";
        Directory.CreateDirectory(lists);
        try
        {
            int n = 0;
            string Write(IEnumerable<string> paths)
            {
                string file = Path.Combine(lists, (n++).ToString(System.Globalization.CultureInfo.InvariantCulture));
                File.WriteAllText(file, string.Concat(paths.Select(p => p + "\0")));
                return file;
            }
            if (fixups.Whiteouts.Count > 0) operations.Add("mknod:-:" + Write(fixups.Whiteouts));
            foreach (var ((uid, gid), paths) in fixups.Owners) operations.Add($"chown:{uid}:{gid}:" + Write(paths));
            foreach (var (mode, paths) in fixups.Modes) operations.Add($"chmod:{Convert.ToString(mode, 8)}:" + Write(paths));
            if (fixups.Capabilities.Count > 0)
            {
                string capabilities = Path.Combine(lists, "capabilities.tar");
                await WriteCapabilityTarAsync(fixups, capabilities, cancellationToken).ConfigureAwait(false);
                operations.Add("capabilities:-:" + capabilities);
            }
            if (operations.Count == 0) return;
            const string script = """
                for operation in "$@"; do
                  kind=${operation%%:*}; rest=${operation#*:}
                  case $kind in
                    mknod) xargs -0 -r -n1 sh -c 'mknod -m 0 "$1" c 0 0' sh < "${rest#*:}" ;;
                    chown) owner=${rest%:*}; xargs -0 -r chown -h "$owner" < "${rest#*:*:}" ;;
                    chmod) xargs -0 -r chmod "${rest%%:*}" < "${rest#*:}" ;;
                    capabilities) tar --xattrs --xattrs-include=security.capability --overwrite --numeric-owner -xpf "${rest#*:}" -C / \
                      || echo "CAPABILITIES_NOT_SET" ;;
                  esac || exit 1
                done
                """;
            var (exitCode, output) = await userNamespace!.RunAsync(script.Replace("CAPABILITIES_NOT_SET", CapabilitiesNotSetLine, StringComparison.Ordinal),
                operations, cancellationToken).ConfigureAwait(false);
            if (exitCode != 0)
                throw new LivrableException(DiagnosticCodes.LayerExtractionFailed,
                    $"Setting the whiteouts and owners of layer {layer.DiffId} in the rootless build's user namespace failed (exit code {exitCode}): {output}");
            if (output.Contains(CapabilitiesNotSetLine, StringComparison.Ordinal))
                logger.Warning(DiagnosticCodes.RootlessCapabilitiesNotSet,
                    $"Layer {layer.DiffId} gives files file capabilities (security.capability), which GNU tar (--xattrs) could not set in this rootless build's user " +
                    $"namespace ({output.Replace(CapabilitiesNotSetLine, "", StringComparison.Ordinal).Trim()}): the RUN steps above it run those files without them " +
                    "(the image keeps them). Install GNU tar, or build as root.");
        }
        finally
        {
            TryDelete(lists);
        }
    }

    private static void RemoveExisting(string path)
    {
        var status = UnixFileStatus.TryRead(path);
        if (status is null) return;
        if (status.Value.Kind == UnixFileKind.Directory) Directory.Delete(path, recursive: true);
        else File.Delete(path);
    }

    private static LivrableException Failed(string message) => new(DiagnosticCodes.LayerExtractionFailed, message);

    /// <summary>The failure of a system call just made for <paramref name="entry"/>: LIV4006 for ENOSPC, else LIV5007.</summary>
    private LivrableException NativeFailed(string what, string entry, ILayer layer)
    {
        int errno = Native.LastError;
        return errno == DiskSpace.NoSpaceErrno
            ? DiskFull(entry, layer, new IOException(Native.Describe(errno), errno))
            : Failed($"{what}: {Native.Describe(errno)}");
    }

    /// <summary>
    /// LIV4006, not LIV5007: a full disk is no fault of the layer, and what the user does about it is free space
    /// where the layers are extracted (the state folder) and build again.
    /// </summary>
    private LivrableException DiskFull(string entry, ILayer layer, Exception e)
        => new(DiagnosticCodes.DiskFull,
            $"The disk is full: extracting '{entry}' of layer {layer.DiffId} for RUN into '{Root}' failed ({e.Message}). " +
            "Free space in the state folder (ContainerStateDirectory, or lower ContainerStateMaxSize), then build again.", inner: e);

    /// <summary>
    /// Waits for the lock file (an exclusive <see cref="FileLock"/>, <c>flock</c> on Unix), for at most
    /// <see cref="FileLock.DefaultTimeout"/>; LIV4152 names the holder when it takes longer.
    /// </summary>
    internal static Task<FileLock> LockAsync(string path, CancellationToken cancellationToken)
        => FileLock.AcquireAsync(path, exclusive: true, timeout: null, cancellationToken);

    private static void TryDelete(string directory)
    {
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
