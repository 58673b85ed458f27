using System.Globalization;
using System.Security.Cryptography;
using Livrable.Diagnostics;

namespace Livrable.Store;

/// <summary>What the prune target asks for.</summary>
public sealed record StatePruneRequest
{
    /// <summary>The state folder.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>The size to prune down to (ContainerStateMaxSize's syntax); the default cap when empty.</summary>
    public string? MaxSize { get; init; }

    /// <summary>Empty the folder (ContainerPruneAll).</summary>
    public bool All { get; init; }

    /// <summary>Check every blob against its digest first, and remove those that fail.</summary>
    public bool Verify { get; init; }

    /// <summary>How long to wait for running builds to finish; <see cref="FileLock.DefaultTimeout"/> when null.</summary>
    public TimeSpan? Timeout { get; init; }
}

/// <summary>What a prune or a size check did.</summary>
/// <param name="BytesBefore">The size of the evictable entries before.</param>
/// <param name="BytesAfter">Their size after.</param>
/// <param name="EntriesRemoved">Blobs, extracted layers and cache records removed.</param>
/// <param name="CorruptBlobs">Blobs whose bytes did not match their name, removed (only when verifying).</param>
/// <param name="Skipped">True when other builds were running, so nothing was evicted.</param>
public sealed record PruneResult(long BytesBefore, long BytesAfter, int EntriesRemoved, IReadOnlyList<string> CorruptBlobs, bool Skipped)
{
    /// <summary>Bytes freed.</summary>
    public long BytesFreed => BytesBefore - BytesAfter;
}

/// <summary>
/// Keeps the state folder under a size, evicting the least recently used entries first: blobs, extracted layers
/// (<c>rootfs/</c> and the user namespaces' <c>rootfs-*/</c>), the records of every <see cref="CacheRecordKind"/> and
/// RUN cache mounts. It runs only while it holds the
/// state lock exclusively, that is while no build runs, so nothing a running build uses can go (see
/// <see cref="StateFolder.StateLockPath"/>). Last use is each entry's modification time (<see cref="StateFolder.Touch"/>).
/// Sizes come from records where they can, so a size check walks no tree that has not changed since it was sized:
/// blobs' lengths, extracted layers' <c>.done</c> markers, RUN cache mounts' <c>.size</c> records.
/// </summary>
public static class StatePruner
{
    /// <summary>
    /// The default cap, 20 GB: what Docker Desktop's builder keeps by default (<c>builder.gc.defaultKeepStorage</c>);
    /// it holds the bases, extracted layers and caches of a few dozen projects (the pyapp sample takes about 1 GB with
    /// its extracted layers), and is small next to today's disks.
    /// </summary>
    public const long DefaultMaxSize = 20L * 1000 * 1000 * 1000;

    /// <summary>
    /// Parses a size: a whole number of bytes, optionally followed by <c>KB</c>/<c>MB</c>/<c>GB</c>/<c>TB</c> (powers of
    /// 1000) or <c>KiB</c>/<c>MiB</c>/<c>GiB</c>/<c>TiB</c> (powers of 1024); <c>K</c>, <c>M</c>, <c>G</c>, <c>T</c> alone are the binary ones, as du and docker say.
    /// Empty gives <see cref="DefaultMaxSize"/>.
    /// </summary>
    /// <exception cref="LivrableException">LIV4151 for anything else.</exception>
    public static long ParseSize(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return DefaultMaxSize;
        string value = text.Trim();
        int end = 0;
        while (end < value.Length && char.IsAsciiDigit(value[end])) end++;
        string unit = value[end..].Trim().ToUpperInvariant();
        long multiplier = unit switch
        {
            "" or "B" => 1,
            "KB" => 1000L, "MB" => 1000L * 1000, "GB" => 1000L * 1000 * 1000, "TB" => 1000L * 1000 * 1000 * 1000,
            "K" or "KIB" => 1L << 10, "M" or "MIB" => 1L << 20, "G" or "GIB" => 1L << 30, "T" or "TIB" => 1L << 40,
            _ => 0,
        };
        if (end == 0 || multiplier == 0 || !long.TryParse(value.AsSpan(0, end), NumberStyles.None, CultureInfo.InvariantCulture, out long number)
            || number > long.MaxValue / multiplier)
            throw new LivrableException(DiagnosticCodes.InvalidStateMaxSize,
                $"ContainerStateMaxSize '{text}' is not a size: give a whole number of bytes, optionally with KB, MB, GB, TB (or KiB, MiB, GiB, TiB), such as 20GB.");
        return number * multiplier;
    }

    /// <summary>
    /// At the end of a build: when no other build runs, evicts least recently used entries until the folder holds at most
    /// <paramref name="maxBytes"/>. When another build runs, does nothing (the last build to finish does it).
    /// </summary>
    public static PruneResult TryEnforceCap(StateFolder folder, long maxBytes, ILogger? logger)
    {
        using var exclusive = FileLock.TryAcquire(folder.StateLockPath);
        if (exclusive is null)
        {
            logger?.Detail("  state folder: other builds are running, size check left to the last one");
            return new PruneResult(0, 0, 0, [], Skipped: true);
        }
        return Evict(folder, maxBytes, verify: false, logger);
    }

    /// <summary>
    /// The prune target: waits (at most <paramref name="timeout"/>) until no build runs, then evicts down to
    /// <paramref name="maxBytes"/> (0 empties the folder), first removing blobs that fail their digest when
    /// <paramref name="verify"/>.
    /// </summary>
    /// <exception cref="LivrableException">LIV4152 when builds keep the folder busy, naming them.</exception>
    public static async Task<PruneResult> PruneAsync(StateFolder folder, long maxBytes, bool verify, TimeSpan? timeout, ILogger? logger,
        CancellationToken cancellationToken)
    {
        FileLock exclusive;
        try
        {
            exclusive = await FileLock.AcquireAsync(folder.StateLockPath, exclusive: true, timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (LivrableException e) when (e.Code == DiagnosticCodes.StateLockTimeout)
        {
            var running = folder.DescribeRunningBuilds();
            throw new LivrableException(DiagnosticCodes.StateLockTimeout,
                $"Cannot prune the state folder '{folder.Root}': builds are using it ({(running.Count == 0 ? "unknown" : string.Join("; ", running))}). " +
                "Prune when they have finished.", inner: e);
        }
        using (exclusive)
        {
            folder.CleanUp(logger);
            return Evict(folder, maxBytes, verify, logger);
        }
    }

    /// <summary>The prune target's one engine call: opens the folder <paramref name="request"/> names and prunes it.</summary>
    /// <exception cref="LivrableException">LIV4151 for a bad size, LIV4152 when builds keep the folder busy, LIV4150/4153 for an unusable folder.</exception>
    public static Task<PruneResult> PruneAsync(StatePruneRequest request, ILogger? logger, CancellationToken cancellationToken)
    {
        long maxBytes = request.All ? 0 : ParseSize(request.MaxSize);
        var folder = StateFolder.Open(request.StateDirectory);
        return PruneAsync(folder, maxBytes, request.Verify, request.Timeout, logger, cancellationToken);
    }

    /// <summary>Checks every blob against its digest (a file system check of the store); returns the paths of those that fail.</summary>
    public static IReadOnlyList<string> VerifyBlobs(StateFolder folder, bool remove)
    {
        var bad = new List<string>();
        foreach (var algorithm in StateFolder.Entries(folder.BlobsDirectory).OfType<DirectoryInfo>())
        {
            foreach (var blob in StateFolder.Entries(algorithm.FullName))
            {
                if (!IsIntact(algorithm.Name, blob))
                {
                    bad.Add(blob.FullName);
                    if (remove) StateFolder.TryRemove(blob.FullName);
                }
            }
        }
        return bad;
    }

    private static bool IsIntact(string algorithm, FileSystemInfo blob)
    {
        if (blob is not FileInfo file || algorithm != "sha256" || blob.Name.Length != 64) return false;
        try
        {
            using var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            string hex = Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
            return hex == blob.Name;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>One evictable entry: what to remove first (a marker), the entry, its size and last use.</summary>
    private sealed record Entry(string Path, string? Marker, long Size, DateTime LastUse);

    /// <summary>Evicts under the exclusive state lock, oldest last use first.</summary>
    private static PruneResult Evict(StateFolder folder, long maxBytes, bool verify, ILogger? logger)
    {
        var corrupt = verify ? VerifyBlobs(folder, remove: true) : [];
        var entries = Collect(folder);
        long before = entries.Sum(e => e.Size);
        // Under the cap (every build's size check, nearly always): nothing to sort by last use, nothing to remove.
        if (before <= maxBytes && corrupt.Count == 0) return new PruneResult(before, before, 0, corrupt, Skipped: false);
        long total = before;
        int removed = 0;
        foreach (var entry in entries.OrderBy(e => e.LastUse).ThenBy(e => e.Path, StringComparer.Ordinal))
        {
            if (total <= maxBytes) break;
            // The marker goes first: a half-removed entry is then untrusted, like a half-written one.
            if (entry.Marker is not null) StateFolder.TryDeleteFile(entry.Marker);
            if (StateFolder.TryRemove(entry.Path))
            {
                total -= entry.Size;
                removed++;
            }
        }
        if (removed > 0 || corrupt.Count > 0)
            logger?.Info($"State folder {folder.Root}: removed {removed} entries (least recently used first), freed {Units.Bytes(before - total)}, " +
                         $"now {Units.Bytes(total)} (cap {Units.Bytes(maxBytes)})" +
                         (corrupt.Count > 0 ? $"; removed {corrupt.Count} blobs that failed their digest" : ""));
        return new PruneResult(before, total, removed, corrupt, Skipped: false);
    }

    private static List<Entry> Collect(StateFolder folder)
    {
        var entries = new List<Entry>();
        foreach (var algorithm in StateFolder.Entries(folder.BlobsDirectory).OfType<DirectoryInfo>())
            foreach (var blob in StateFolder.Entries(algorithm.FullName).OfType<FileInfo>())
                entries.Add(new Entry(blob.FullName, null, blob.Length, blob.LastWriteTimeUtc));

        // Extracted layers: root's and each user namespace's folder.
        foreach (string layers in StateLayout.AllExtractedLayers(folder.Root))
        {
            foreach (var layer in StateFolder.Entries(layers).OfType<DirectoryInfo>())
            {
                string marker = layer.FullName + ".done";
                if (!File.Exists(marker)) continue; // being extracted, or left by a dead build: CleanUp's
                entries.Add(new Entry(layer.FullName, marker, RecordedSize(marker) ?? SizeOf(layer), File.GetLastWriteTimeUtc(marker)));
            }
        }

        // Cache records, one kind after the other, as StateLayout declares them.
        var kinds = CacheRecordKind.All.Select(k => k.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var kind in CacheRecordKind.All)
            foreach (var record in StateFolder.Entries(StateLayout.Records(folder.Root, kind)))
                entries.Add(new Entry(record.FullName, null, SizeOf(record), record.LastWriteTimeUtc));

        // RUN cache mounts: the other folders of cache/, last used when the folder or its lock changed (never when
        // its size record did: sizing a mount is not a use), sized by their record, which goes first when evicted.
        foreach (var mount in StateFolder.Entries(StateLayout.CacheMounts(folder.Root)).OfType<DirectoryInfo>())
        {
            if (kinds.Contains(mount.Name)) continue;
            var lockFile = new FileInfo(mount.FullName + ".lock");
            var lastUse = lockFile.Exists && lockFile.LastWriteTimeUtc > mount.LastWriteTimeUtc ? lockFile.LastWriteTimeUtc : mount.LastWriteTimeUtc;
            string record = StateLayout.CacheMountSize(mount.FullName);
            entries.Add(new Entry(mount.FullName, record, CacheMountSize(folder, mount, record), lastUse));
        }
        return entries;
    }

    /// <summary>
    /// Forgets the size recorded for the RUN cache mount folder <paramref name="mount"/>: called before a RUN that may
    /// write into it starts (any <c>sharing=</c>), so the next size check walks it. A build that dies in the RUN leaves
    /// it unrecorded, hence walked; builds sharing a mount each forget it, and none records it (only a size check does).
    /// </summary>
    internal static void ForgetCacheMountSize(string mount) => File.Delete(StateLayout.CacheMountSize(mount));

    /// <summary>
    /// A RUN cache mount's size: the one its record holds (<see cref="StateLayout.CacheMountSize"/>), else a walk of the
    /// folder, then recorded. A pip, npm or NuGet cache holds 10^5 files, and every build's size check would otherwise
    /// walk them all, even when no RUN ran. The record is trusted while it is newer than the folder's own last change,
    /// so a writer that knows no record (an older Livrable's RUN, a hand edit) is caught when it adds or removes an
    /// entry at the folder's top; deeper writes are caught only by <see cref="ForgetCacheMountSize"/>.
    /// </summary>
    /// <remarks>
    /// Called only by <see cref="Collect"/>, which runs only from <see cref="Evict"/>, whose callers
    /// (<see cref="TryEnforceCap"/>, <c>PruneAsync</c>) hold the state lock exclusively. Every build holds it shared
    /// from its lease to its end (<see cref="StateFolder.AcquireLeaseAsync"/>), RUNs included, so no build runs: no RUN
    /// writes into the folder between the walk and the record, and no <see cref="ForgetCacheMountSize"/> comes between
    /// them. The record is written under a temporary name and renamed, so it is complete when it exists.
    /// </remarks>
    private static long CacheMountSize(StateFolder folder, DirectoryInfo mount, string record)
    {
        var recorded = new FileInfo(record);
        if (recorded.Exists && recorded.LastWriteTimeUtc > mount.LastWriteTimeUtc && RecordedSize(record) is { } size) return size;
        long walked = SizeOf(mount);
        string temp = Path.Combine(folder.TempDirectory, $"size-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllText(temp, $"{mount.Name}\n{walked.ToString(CultureInfo.InvariantCulture)}\n");
            File.Move(temp, record, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Unrecorded: the next size check walks it again.
            StateFolder.TryDeleteFile(temp);
        }
        return walked;
    }

    /// <summary>
    /// The size a sidecar recorded on its second line, so a size check needs no walk: an extracted layer's
    /// <c>.done</c> marker (at extraction) or a RUN cache mount's <c>.size</c> record (at the size check that walked it).
    /// </summary>
    private static long? RecordedSize(string marker)
    {
        try
        {
            var lines = File.ReadAllLines(marker);
            return lines.Length > 1 && long.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out long size) ? size : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The bytes of a file, or of the regular files below a folder (links not followed).</summary>
    internal static long SizeOf(FileSystemInfo entry)
    {
        if (entry is FileInfo file) return file.LinkTarget is null ? file.Length : 0;
        if (entry is not DirectoryInfo root || root.LinkTarget is not null) return 0;
        // An explicit walk that never enters a symbolic link: an extracted layer's links point into the image (/usr/lib),
        // and following them would walk the host.
        long total = 0;
        var pending = new Stack<DirectoryInfo>();
        pending.Push(root);
        var options = new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = true };
        while (pending.Count > 0)
        {
            try
            {
                foreach (var child in pending.Pop().EnumerateFileSystemInfos("*", options))
                {
                    if (child.Attributes.HasFlag(FileAttributes.ReparsePoint) || child.LinkTarget is not null) continue;
                    if (child is DirectoryInfo folder) pending.Push(folder);
                    else if (child is FileInfo f) total += f.Length;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A folder that vanished or cannot be read counts as empty: the size is an eviction estimate.
            }
        }
        return total;
    }
}
