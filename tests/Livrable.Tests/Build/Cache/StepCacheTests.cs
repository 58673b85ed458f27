using Livrable.Build.Cache;
using Livrable.Images;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Cache;

/// <summary>Step keys, and records as the state folder keeps them: round trip, a blob gone is a miss, damage is a miss.</summary>
public sealed class StepCacheTests
{
    [Fact]
    public void Parts_are_length_prefixed_so_moving_a_boundary_changes_the_key()
    {
        string Key(params (string Name, string? Value)[] parts)
        {
            using var key = new StepKey("parent");
            foreach (var (name, value) in parts) key.Add(name, value);
            return key.Finish();
        }
        Assert.NotEqual(Key(("a", "bc")), Key(("ab", "c")));
        Assert.NotEqual(Key(("a", null)), Key(("a", "")));
        Assert.Equal(Key(("a", "b")), Key(("a", "b")));
        Assert.Matches("^[0-9a-f]{64}$", Key());
        Assert.NotEqual(StepKey.OfImage(Digest.Sha256("a"u8), new Platform("linux", "amd64")), StepKey.OfImage(Digest.Sha256("a"u8), new Platform("linux", "arm64")));
    }

    [Fact]
    public async Task A_record_round_trips_and_is_a_miss_once_its_blob_is_gone_or_it_is_damaged()
    {
        using var temp = new TempDirectory();
        var store = new BlobStore(temp["state"]);
        byte[] blob = "not really a layer"u8.ToArray();
        var (digest, size) = await store.PutAsync(blob, CancellationToken.None);
        var created = new DateTimeOffset(1980, 1, 1, 0, 0, 1, TimeSpan.Zero);
        var record = new StepRecord(new string('a', 64),
        [
            new StepOutput(new Descriptor(MediaTypes.OciLayerGzip, digest, size), Digest.Sha256("tar"u8), new HistoryEntry(created, "COPY . /data # buildkit", "buildkit.dockerfile.v0")),
            new StepOutput(null, null, new HistoryEntry(created, "RUN true # buildkit", "buildkit.dockerfile.v0", EmptyLayer: true)),
        ]);
        var cache = new StepCache(store);
        cache.Put(record);

        var read = cache.TryGet(record.Key);
        Assert.NotNull(read);
        Assert.Equal(record.Key, read.Key);
        Assert.Equal(record.Outputs, read.Outputs);
        Assert.Null(cache.TryGet(new string('b', 64)));

        string path = temp["state", "cache", "steps", record.Key + ".json"];
        File.WriteAllText(path, "{\"key\":");
        Assert.Null(cache.TryGet(record.Key));

        cache.Put(record);
        File.Delete(store.PathOf(digest));
        Assert.Null(cache.TryGet(record.Key));
    }
}
