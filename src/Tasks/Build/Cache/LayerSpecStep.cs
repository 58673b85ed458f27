using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;

namespace Livrable.Build.Cache;

/// <summary>
/// A layer of properties mode (a <see cref="LayerSpec"/>: the publish output's files, a folder, a tar) as a build step
/// of the step cache, the same keys, records and store as a Dockerfile step (<see cref="StepKey"/>,
/// <see cref="StepRecord"/>, <see cref="StepCache"/>), so that one mechanism keeps, exports and evicts every layer a
/// build made. The key holds what the file system says of each input without reading it (path, size, modification and
/// change times in nanoseconds, device, inode, mode, link target: git's index), so an unchanged publish output is
/// neither read nor compressed again, and an edit whose size and modification time were put back is still seen
/// through the change time, which no system call sets.
/// </summary>
/// <remarks>
/// The chain starts empty rather than at the base image: such a layer holds whole files and no whiteouts, so its bytes
/// do not depend on the layers below it, and a new base does not rewrite the app's layers. A layer with an input
/// modified or changed too recently (<see cref="WindowOf"/>) is used but not recorded (git's "racily clean" problem). Without <c>statx</c> (Windows, macOS) the key falls back to size, modification time and
/// mode, as MSBuild's own up-to-date checks do.
/// </remarks>
internal static class LayerSpecStep
{
    /// <summary>
    /// The layer of <paramref name="spec"/>: the recorded one when its key hits and its blob is intact, else written
    /// (<see cref="LayerWriter"/>) and recorded. <paramref name="cache"/> null (<c>--no-cache</c>) writes it every time.
    /// </summary>
    public static Task<StoredLayer> WriteAsync(LayerSpec spec, LayerWriteOptions options, BlobStore store, StepCache? cache,
        CancellationToken cancellationToken)
        // On the pool: the layers' keys (a statx per input) are computed in parallel too.
        => Task.Run(() => WriteCoreAsync(spec, options, store, cache, cancellationToken), cancellationToken);

    private static async Task<StoredLayer> WriteCoreAsync(LayerSpec spec, LayerWriteOptions options, BlobStore store, StepCache? cache,
        CancellationToken cancellationToken)
    {
        var started = DateTime.UtcNow;
        string? key = cache is null ? null : KeyOf(spec, options, out _);
        if (key is not null && Cached(key, cache!, store) is { } cached) return cached;
        var layer = await LayerWriter.WriteAsync(spec, options, store, cancellationToken).ConfigureAwait(false);
        // Recorded only when the inputs did not change while they were read and none is recent enough to change again
        // unseen.
        if (key is not null && key == KeyOf(spec, options, out var settled) && settled <= started)
            cache!.Put(new StepRecord(key, [new StepOutput(layer.Descriptor, layer.DiffId, History(spec, options))]));
        return layer;
    }

    /// <summary>
    /// The layer recorded for <paramref name="key"/>, or null when the cache holds no layer for it. A plan passes
    /// <paramref name="touch"/> false: it reads the record without marking it used.
    /// </summary>
    public static StoredLayer? Cached(string key, StepCache cache, BlobStore store, bool touch = true)
        => cache.TryGet(key, touch) is { Outputs: [{ Layer: { } descriptor, DiffId: { } diffId }] }
            ? new StoredLayer(descriptor, diffId, store) { FromCache = true }
            : null;

    /// <summary>The history entry a properties-mode layer gets: the build's epoch, the spec's text, <c>livrable</c>.</summary>
    public static HistoryEntry History(LayerSpec spec, LayerWriteOptions options) => new(options.Epoch, spec.CreatedBy, "livrable");

    /// <summary>
    /// The step key of <paramref name="spec"/>, and when its inputs' times are settled (the latest of each time plus
    /// its <see cref="WindowOf"/>): a layer read before that instant is not recorded. Null when an input is missing or
    /// the spec's inputs cannot be described without reading them (entries made in memory).
    /// </summary>
    public static string? KeyOf(LayerSpec spec, LayerWriteOptions options, out DateTime settled)
    {
        var newest = new Newest();
        settled = DateTime.MinValue;
        using var key = new StepKey("");
        key.Add("layer-spec", spec.GetType().Name)
            .Add("created-by", spec.CreatedBy)
            .Add("epoch", options.Epoch.ToUnixTimeSeconds())
            .Add("compression", options.Compression.ToString())
            .Add("compression-level", (int)options.CompressionLevel)
            .Add("executable-names", options.ExecutableNames.Order(StringComparer.Ordinal));
        switch (spec)
        {
            case FilesLayerSpec files:
                key.Add("owner", $"{files.Uid}:{files.Gid}").Add("files", files.Files.Count);
                foreach (var file in files.Files.OrderBy(f => f.TargetPath, StringComparer.Ordinal).ThenBy(f => f.SourcePath, StringComparer.Ordinal))
                {
                    key.Add("target", file.TargetPath);
                    if (!DescribeRead(new FileInfo(file.SourcePath), key, newest)) return null;
                }
                break;
            case DirectoryLayerSpec directory:
                var root = new DirectoryInfo(directory.SourceDirectory);
                if (!root.Exists) return null;
                key.Add("destination", directory.Destination);
                foreach (var info in root.EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
                             .OrderBy(i => i.FullName, StringComparer.Ordinal))
                    if (!Describe(info, key, newest)) return null;
                break;
            case TarLayerSpec archive:
                key.Add("destination", archive.Destination);
                if (!DescribeRead(new FileInfo(archive.TarPath), key, newest)) return null;
                break;
            default:
                return null;
        }
        settled = newest.Settled;
        return key.Finish();
    }

    /// <summary>
    /// The racy window of a file system with fine timestamps: a time with a sub-second part shows one, and there a
    /// write that keeps every time the key saw must fall in the same tick of the kernel's coarse clock (a few
    /// milliseconds) as the change the key saw, so 100 ms is ample. It matters: the compiler writes the app moments
    /// before this step, and a publish copies the runtime and packages, giving them change times of moments ago.
    /// </summary>
    public static readonly TimeSpan FineWindow = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How long after <paramref name="time"/> (in nanoseconds since the epoch) a read could miss a write that keeps it:
    /// <see cref="FineWindow"/> when the time has a sub-second part, else <see cref="FileDigests.RacyWindow"/> (2 s: a
    /// time in whole seconds may come from a file system counting seconds, or FAT's two).
    /// </summary>
    public static TimeSpan WindowOf(long time) => time % 1_000_000_000 != 0 ? FineWindow : FileDigests.RacyWindow;

    /// <summary>The instant after which none of the inputs described so far can still change unseen.</summary>
    private sealed class Newest
    {
        public DateTime Settled = DateTime.MinValue;

        public void Add(long time)
        {
            var until = DateTime.UnixEpoch.AddTicks(time / 100) + WindowOf(time);
            if (until > Settled) Settled = until;
        }
    }

    /// <summary>
    /// Describes a file that is read through symbolic links (a listed file, a tar): the link and the file it leads to,
    /// whose content is what the layer holds.
    /// </summary>
    private static bool DescribeRead(FileInfo info, StepKey key, Newest newest)
    {
        if (!Describe(info, key, newest)) return false;
        if (info.LinkTarget is null) return true;
        return info.ResolveLinkTarget(returnFinalTarget: true) is { } target && Describe(target, key, newest);
    }

    /// <summary>Adds what identifies an input's content and metadata without reading it; false when it does not exist.</summary>
    private static bool Describe(FileSystemInfo info, StepKey key, Newest newest)
    {
        info.Refresh();
        if (!info.Exists) return false;
        key.Add("path", info.FullName).Add("link", info.LinkTarget ?? "");
        if (UnixFileStatus.TryRead(info.FullName) is { } status)
        {
            newest.Add(status.ModificationTime);
            newest.Add(status.ChangeTime);
            key.Add("status", $"{status.Kind} {status.Size} {status.ModificationTime} {status.ChangeTime} {status.Device} {status.Inode} {status.Mode}");
            return true;
        }
        // No change time to catch what the modification time misses: the long window, whatever the time.
        var until = info.LastWriteTimeUtc + FileDigests.RacyWindow;
        if (until > newest.Settled) newest.Settled = until;
        key.Add("status", $"{(info is FileInfo f && info.LinkTarget is null ? f.Length : 0)} {info.LastWriteTimeUtc.Ticks} "
                          + (OperatingSystem.IsWindows() ? 0 : (int)info.UnixFileMode));
        return true;
    }
}
