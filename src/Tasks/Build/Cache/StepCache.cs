using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Store;

namespace Livrable.Build.Cache;

/// <summary>
/// The step cache of Dockerfile builds and of properties mode's layers (<see cref="LayerSpecStep"/>): <c>&lt;state&gt;/cache/steps/&lt;key&gt;.json</c>, one <see cref="StepRecord"/>
/// per step key (docs/build-cache.md). A record is written after the step's layer is committed to the blob store, to a
/// temporary name then renamed, so a killed build leaves no record that names a missing blob. A record whose blob
/// is gone (evicted, pruned) or has another size is a miss; every later read of the blob is still verified against
/// its digest.
/// </summary>
/// <remarks>
/// A hit's layer is checked against its digest (issue 10: a damaged blob is a miss, and the step runs again in the
/// same build), but hashing it on every build made the check of an unchanged build read the whole layer (a 200 MB
/// layer: about 140 ms of CPU, issue 14). So the check is remembered as git's index remembers a file's hash: once a
/// layer was written or hashed and found right, its <c>statx</c> status (size, modification and change times in ns,
/// device, inode) is kept in <c>cache/verified/&lt;hex&gt;</c>, and a later hit whose blob still has that status is
/// taken as intact without reading it, in the boot that wrote the line only (the status names the boot id: blobs are
/// not flushed to disk, and a crash that lost their bytes reboots, so each is hashed once again). Whatever rewrites, truncates, flips a byte of or replaces the blob changes its
/// change time, which no call can set back, so it is hashed again. A damage that no write made (the disk's own
/// corruption) is still caught where the bytes are used: every read goes through a verifying stream.
/// </remarks>
internal sealed class StepCache(BlobStore store)
{
    /// <summary>
    /// The record of <paramref name="key"/> when every layer it names is in the store; null otherwise. A plan
    /// (<paramref name="touch"/> false) only reads: the record and its layers keep their last-use times.
    /// </summary>
    public StepRecord? TryGet(string key, bool touch = true)
    {
        try
        {
            var record = StepRecord.Parse(File.ReadAllBytes(PathOf(key)));
            if (record.Key != key) return null;
            foreach (var output in record.Outputs)
                // A layer that fails its digest is evicted by the check: a miss, and the step runs again.
                if (output.Layer is { } layer && !IsIntact(layer, remember: touch))
                    return null;
            // A hit is a use: least-recently-used eviction (Store/StatePruner) keeps the record and its layers longest.
            if (!touch) return record;
            StateFolder.Touch(PathOf(key));
            foreach (var output in record.Outputs)
                if (output.Layer is { } layer)
                {
                    store.Touch(layer.Digest);
                    Remember(layer); // the touch changed the blob's times (at most once a minute)
                }
            return record;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or KeyNotFoundException
                                      or InvalidOperationException or FormatException or LivrableException)
        {
            return null; // missing or damaged: run the step
        }
    }

    /// <summary>Records <paramref name="record"/>; a failure to record only costs running the step again next time.</summary>
    public void Put(StepRecord record)
    {
        string path = PathOf(record.Key);
        string temp = store.NewTempPath("step-cache");
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(temp, record.ToJson());
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { }
        }
        // The layers were just written (or found) and checked by this build's store: no read.
        foreach (var output in record.Outputs)
            if (output.Layer is { } layer && store.ContainsIntact(layer.Digest, layer.Size))
                Remember(layer);
    }

    /// <summary>
    /// Whether the cache holds no record at all (a state folder no build has recorded a step in): then no step of a
    /// build starting now can be found, whatever its key, except one this build recorded itself.
    /// </summary>
    public bool IsEmpty() => Count(1) == 0;

    /// <summary>
    /// How many records the cache holds, counting up to <paramref name="max"/>; <paramref name="max"/> when the folder
    /// cannot be read (as if full: a hit is then taken to be possible).
    /// </summary>
    public int Count(int max = int.MaxValue)
    {
        string folder = StateLayout.Records(store.Root, CacheRecordKind.Steps);
        try
        {
            return Directory.Exists(folder) ? Directory.EnumerateFiles(folder, "*.json").Take(max).Count() : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return max;
        }
    }

    /// <summary>
    /// Whether <paramref name="layer"/>'s blob is in the store with the right bytes: without reading it when it has the
    /// status remembered after its last check (<see cref="Remember"/>), else hashed (and remembered when right, unless
    /// <paramref name="remember"/> is false: a plan writes nothing).
    /// </summary>
    private bool IsIntact(Descriptor layer, bool remember)
    {
        string? before = StatusOf(layer);
        try
        {
            string verified = VerifiedPath(layer.Digest);
            if (before is not null && File.Exists(verified) && File.ReadAllText(verified) == before)
                return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Unreadable: hash it.
        }
        if (!store.ContainsIntact(layer.Digest, layer.Size)) return false;
        // Remembered only when nothing changed the blob while it was hashed: the status must describe the bytes checked.
        if (remember && before is not null && StatusOf(layer) == before) Remember(layer);
        return true;
    }

    /// <summary>
    /// Records the status of a blob this build found intact (written or hashed by the store), so the next build's hit
    /// needs not read it. Written only when it differs; a failure only costs the next build a hash.
    /// </summary>
    private void Remember(Descriptor layer)
    {
        string path = VerifiedPath(layer.Digest);
        string? temp = null;
        try
        {
            if (StatusOf(layer) is not { } status || (File.Exists(path) && File.ReadAllText(path) == status)) return;
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            temp = store.NewTempPath("verified");
            File.WriteAllText(temp, status);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (temp is not null) try { File.Delete(temp); } catch (IOException) { }
        }
    }

    /// <summary>The blob's size as its descriptor gives it and its <c>statx</c> status line; null without statx.</summary>
    private string? StatusOf(Descriptor layer)
        => Layers.UnixFileStatus.IdentityOf(store.PathOf(layer.Digest)) is { } status ? $"{layer.Size} {status}\n" : null;

    private string VerifiedPath(Digest digest) => Path.Combine(StateLayout.Records(store.Root, CacheRecordKind.Verified), digest.Algorithm + "-" + digest.Hex);

    private string PathOf(string key) => Path.Combine(StateLayout.Records(store.Root, CacheRecordKind.Steps), key + ".json");
}
