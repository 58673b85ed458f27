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
                if (output.Layer is { } layer && !store.ContainsIntact(layer.Digest, layer.Size))
                    return null;
            // A hit is a use: least-recently-used eviction (Store/StatePruner) keeps the record and its layers longest.
            if (!touch) return record;
            StateFolder.Touch(PathOf(key));
            foreach (var output in record.Outputs)
                if (output.Layer is { } layer) store.Touch(layer.Digest);
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

    private string PathOf(string key) => Path.Combine(StateLayout.Records(store.Root, CacheRecordKind.Steps), key + ".json");
}
