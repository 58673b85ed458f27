using System.Globalization;
using System.Text;
using Livrable.Diagnostics;

namespace Livrable.Store;

/// <summary>
/// Livrable's state folder (<c>ContainerStateDirectory</c>), shared by every build of a user, in several processes at
/// once: its layout in one place, its format version, the build leases that keep eviction away from what a running
/// build uses, and the clean-up of what killed builds left. README.md lists every subfolder and who writes it.
/// </summary>
/// <remarks>
/// Rules every writer follows: a file or folder appears under its final name only by a rename once it is complete and
/// verified (blobs by digest, step cache records, extracted layers with their <c>.done</c> marker), so a killed build
/// leaves only temporary names, which a later build removes once their owner is gone. Concurrency goes through
/// <see cref="FileLock"/>, in the order it documents.
/// </remarks>
public sealed class StateFolder
{
    /// <summary>The layout version this code reads and writes; a folder with a later one is refused (LIV4150).</summary>
    public const int FormatVersion = 1;

    /// <summary>
    /// How old a temporary entry with no owner lock (older layouts, a store used without a lease) must be before a
    /// later build removes it: longer than any build runs, so a live build's file is never taken.
    /// </summary>
    public static readonly TimeSpan UnownedTempAge = TimeSpan.FromHours(24);

    /// <summary>Last-use times are written at most this often per entry, so a warm build does not rewrite every inode.</summary>
    public static readonly TimeSpan TouchGranularity = TimeSpan.FromMinutes(1);

    private const string VersionPrefix = "livrable-state ";

    private StateFolder(string root) => Root = root;

    /// <summary>The state folder's full path.</summary>
    public string Root { get; }

    /// <summary>The format version file: <c>livrable-state 1</c>.</summary>
    public string VersionFile => Path.Combine(Root, "version");

    /// <summary>Content-addressed blobs, <c>blobs/sha256/&lt;hex&gt;</c> (<see cref="BlobStore"/>).</summary>
    public string BlobsDirectory => StateLayout.Blobs(Root);

    /// <summary>Temporary files and folders, <c>tmp/&lt;lease&gt;/</c> per build; renamed from here into place (same file system).</summary>
    public string TempDirectory => StateLayout.Temp(Root);

    /// <summary>Caches: <c>cache/steps/</c> and <c>cache/files/</c> (build cache: Dockerfile steps and properties-mode layers), <c>cache/layers/</c> (retired layer records, only evicted), <c>cache/trees/</c> (layer entry indexes), <c>cache/&lt;sha256&gt;</c> (RUN cache mounts, each with its <c>.lock</c> and <c>.size</c> record).</summary>
    public string CacheDirectory => StateLayout.Cache(Root);

    /// <summary>Layers extracted for RUN, <c>rootfs/&lt;diff-id hex&gt;/</c> with a <c>.done</c> marker and a <c>.lock</c>.</summary>
    public string RootfsDirectory => StateLayout.ExtractedLayers(Root);

    /// <summary>Step folders of RUNs started without a build's temporary folder (<c>run/&lt;id&gt;/</c>).</summary>
    public string RunDirectory => StateLayout.Run(Root);

    /// <summary>The state lock and the builds' leases.</summary>
    public string LocksDirectory => StateLayout.Locks(Root);

    /// <summary>Shared by every running build, exclusive for eviction: nothing is evicted while a build runs.</summary>
    public string StateLockPath => Path.Combine(LocksDirectory, "state.lock");

    /// <summary>One lock file per running build, <c>locks/builds/&lt;id&gt;.lock</c>, held exclusively: the owner of <c>tmp/&lt;id&gt;/</c>.</summary>
    public string LeasesDirectory => Path.Combine(LocksDirectory, "builds");

    /// <summary>Opens (creating it when needed) the state folder at <paramref name="path"/> and checks its format version.</summary>
    /// <exception cref="LivrableException">LIV4150 for a later format; LIV4153 when the folder cannot be created.</exception>
    public static StateFolder Open(string path)
    {
        var folder = new StateFolder(Path.GetFullPath(path));
        try
        {
            foreach (string dir in new[] { Path.Combine(folder.BlobsDirectory, "sha256"), folder.TempDirectory, folder.CacheDirectory,
                                           folder.RootfsDirectory, folder.LeasesDirectory })
                Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LivrableException(DiagnosticCodes.StateFolderUnusable,
                $"The state folder '{folder.Root}' cannot be created or written ({e.Message}); set ContainerStateDirectory to a folder you can write.", inner: e);
        }
        folder.CheckVersion();
        return folder;
    }

    private void CheckVersion()
    {
        string? text = null;
        try { text = File.ReadAllText(VersionFile); } catch (FileNotFoundException) { }
        if (text is null)
        {
            // Written once, through a rename, by whichever build comes first; the others find it complete.
            string temp = Path.Combine(TempDirectory, $"version-{Guid.NewGuid():N}");
            File.WriteAllText(temp, VersionPrefix + FormatVersion.ToString(CultureInfo.InvariantCulture) + "\n");
            try { File.Move(temp, VersionFile, overwrite: false); }
            catch (IOException) { TryDeleteFile(temp); }
            return;
        }
        text = text.Trim();
        if (!text.StartsWith(VersionPrefix, StringComparison.Ordinal)
            || !int.TryParse(text.AsSpan(VersionPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int version)
            || version > FormatVersion)
            throw new LivrableException(DiagnosticCodes.StateFormatUnsupported,
                $"The state folder '{Root}' has format '{text}' ({VersionFile}), which this Livrable (format {FormatVersion}) does not know: " +
                "it was written by a newer Livrable. Use a newer Livrable, or another ContainerStateDirectory.");
    }

    /// <summary>
    /// Starts a build's use of the folder: waits for the state lock (shared, so only a prune can make it wait), takes a
    /// lease with its own temporary folder, and removes what dead builds left. Dispose the lease when the build ends.
    /// </summary>
    /// <exception cref="LivrableException">LIV4152 when a prune holds the folder longer than <paramref name="timeout"/>.</exception>
    public async Task<StateLease> AcquireLeaseAsync(ILogger? logger, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        var shared = await FileLock.AcquireAsync(StateLockPath, exclusive: false, timeout, cancellationToken).ConfigureAwait(false);
        try
        {
            string id = "";
            FileLock? own = null;
            for (int attempt = 0; attempt < 5 && own is null; attempt++)
            {
                // A fresh name each time: a name is never taken twice, so a failure is only a clean-up racing the creation.
                id = $"{Environment.ProcessId}-{Guid.NewGuid():N}"[..24];
                own = FileLock.TryAcquire(Path.Combine(LeasesDirectory, id + ".lock"));
                if (own is not null && !File.Exists(own.Path))
                {
                    own.Dispose();
                    own = null;
                }
            }
            if (own is null)
                throw new LivrableException(DiagnosticCodes.StateFolderUnusable, $"Cannot take a lease in '{LeasesDirectory}'.");
            string temp = Path.Combine(TempDirectory, id);
            Directory.CreateDirectory(temp);
            var lease = new StateLease(this, id, temp, shared, own);
            CleanUp(logger);
            return lease;
        }
        catch
        {
            shared.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Removes what killed builds left: temporary folders whose lease is free, half-extracted layers whose lock is free,
    /// and unowned temporary entries older than <see cref="UnownedTempAge"/>. Never touches a live build's files.
    /// Overlay mounts a killed RUN left under them are detached first.
    /// </summary>
    public void CleanUp(ILogger? logger)
    {
        int removed = 0;
        foreach (var entry in Entries(TempDirectory))
        {
            string name = entry.Name;
            string leasePath = Path.Combine(LeasesDirectory, name + ".lock");
            if (File.Exists(leasePath))
            {
                using var free = FileLock.TryAcquire(leasePath);
                if (free is null) continue; // a live build's
                if (TryRemove(entry.FullName)) removed++;
                TryDeleteFile(leasePath + ".holder");
                TryDeleteFile(leasePath);
            }
            else if (IsOlderThan(entry, UnownedTempAge) && TryRemove(entry.FullName))
            {
                removed++;
            }
        }
        foreach (var lease in Entries(LeasesDirectory))
        {
            // A free lease with no folder: its build died before it made its folder or after it removed it (a kill
            // inside StateLease.Dispose). Taken however new: a starting build's lease file exists for a moment before
            // its build locks it, and a clean-up that takes it then only makes that build try a fresh name
            // (AcquireLeaseAsync: the lock it then gets is on a removed file, or it gets none).
            if (lease is FileInfo && lease.Extension == ".lock"
                && !Directory.Exists(Path.Combine(TempDirectory, Path.GetFileNameWithoutExtension(lease.Name))))
            {
                using var free = FileLock.TryAcquire(lease.FullName);
                if (free is not null) TryDeleteFile(lease.FullName);
            }
            else if (lease.Extension == ".holder" && !File.Exists(Path.ChangeExtension(lease.FullName, null)))
            {
                TryDeleteFile(lease.FullName);
            }
        }
        foreach (var entry in Entries(RootfsDirectory))
        {
            bool temporary = entry.Name.StartsWith("tmp-", StringComparison.Ordinal);
            if ((entry is not DirectoryInfo && !temporary) || entry.Name == "empty") continue;
            // tmp-<hex>-<guid>[.done] (being extracted) or <hex> without .done (moved, marker not yet written): owned by rootfs/<hex>.lock.
            string hex = temporary ? entry.Name.Split('-')[1] : entry.Name;
            if (!temporary && File.Exists(entry.FullName + ".done")) continue;
            if (hex.Length != 64)
            {
                if (IsOlderThan(entry, UnownedTempAge) && TryRemove(entry.FullName)) removed++;
                continue;
            }
            using var free = FileLock.TryAcquire(Path.Combine(RootfsDirectory, hex + ".lock"));
            if (free is null) continue;
            if (!temporary && File.Exists(entry.FullName + ".done")) continue;
            if (TryRemove(entry.FullName)) removed++;
        }
        foreach (var entry in Entries(RunDirectory))
            if (IsOlderThan(entry, UnownedTempAge) && TryRemove(entry.FullName)) removed++;
        if (removed > 0) logger?.Detail($"  state folder: removed {removed} temporary entries that stopped builds left in {Root}");
    }

    /// <summary>
    /// Records that a build used <paramref name="path"/> now (its modification time, which Livrable owns for every entry
    /// of the folder; access times are unreliable under <c>relatime</c>/<c>noatime</c>), for least-recently-used eviction.
    /// </summary>
    public static void Touch(string path)
    {
        try
        {
            var now = DateTime.UtcNow;
            var info = new FileInfo(path);
            if (info.Exists && now - info.LastWriteTimeUtc > TouchGranularity) info.LastWriteTimeUtc = now;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only an eviction hint.
        }
    }

    /// <summary>The running builds, as their leases describe them (for messages).</summary>
    public IReadOnlyList<string> DescribeRunningBuilds()
    {
        var running = new List<string>();
        foreach (var lease in Entries(LeasesDirectory))
        {
            if (lease is not FileInfo || lease.Extension != ".lock") continue;
            using var free = FileLock.TryAcquire(lease.FullName);
            if (free is null) running.Add(FileLock.DescribeHolder(lease.FullName));
        }
        return running;
    }

    /// <summary>Removes a file or a whole folder (detaching mounts left under it); false when something stayed.</summary>
    internal static bool TryRemove(string path)
    {
        try
        {
            if (Directory.Exists(path) && !File.GetAttributes(path).HasFlag(FileAttributes.ReparsePoint))
            {
                DetachMountsUnder(path);
                Directory.Delete(path, recursive: true);
            }
            else
            {
                File.Delete(path);
            }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Lazily unmounts every mount below <paramref name="path"/> (a RUN's overlay whose build was killed), deepest first.</summary>
    private static void DetachMountsUnder(string path)
    {
        if (!OperatingSystem.IsLinux()) return;
        string prefix = Path.GetFullPath(path).TrimEnd('/') + "/";
        List<string> mounts;
        try
        {
            mounts = File.ReadAllLines("/proc/self/mountinfo")
                .Select(line => line.Split(' '))
                .Where(fields => fields.Length > 4)
                .Select(fields => UnescapeMountPath(fields[4]))
                .Where(target => target.StartsWith(prefix, StringComparison.Ordinal))
                .OrderByDescending(target => target.Length)
                .ToList();
        }
        catch (IOException)
        {
            return;
        }
        foreach (string target in mounts) Interop.Native.Unmount(target, Interop.Native.MNT_DETACH);
    }

    /// <summary>mountinfo writes space, tab, newline and backslash as octal escapes (<c>\040</c>).</summary>
    private static string UnescapeMountPath(string field)
    {
        if (!field.Contains('\\')) return field;
        var text = new StringBuilder();
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length)
            {
                text.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                text.Append(field[i]);
            }
        }
        return text.ToString();
    }

    internal static IEnumerable<FileSystemInfo> Entries(string directory)
    {
        var info = new DirectoryInfo(directory);
        if (!info.Exists) return [];
        try
        {
            return info.EnumerateFileSystemInfos("*", new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = true }).ToList();
        }
        catch (IOException)
        {
            return [];
        }
    }

    private static bool IsOlderThan(FileSystemInfo entry, TimeSpan age) => DateTime.UtcNow - entry.LastWriteTimeUtc > age;

    internal static void TryDeleteFile(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
