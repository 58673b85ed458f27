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

    /// <summary>
    /// Issue 14 item 3: a hit's layer was hashed in full by every build (an unchanged build of a 300 MB context read its
    /// 200 MB layer). Now the check is remembered with the blob's statx status: the next build's hit reads nothing,
    /// and a blob whose bytes were changed in place (one byte flipped, the same size, its modification time put back)
    /// is hashed again, found damaged, evicted, and the hit is a miss.
    /// </summary>
    [Fact]
    public async Task A_hit_reads_no_layer_the_build_wrote_or_checked_and_a_layer_written_since_is_hashed_again()
    {
        using var temp = new TempDirectory();
        var store = new BlobStore(temp["state"]);
        byte[] blob = new byte[1 << 20];
        new Random(14).NextBytes(blob);
        var (digest, size) = await store.PutAsync(blob, CancellationToken.None);
        var record = new StepRecord(new string('c', 64),
            [new StepOutput(new Descriptor(MediaTypes.OciLayerGzip, digest, size), Digest.Sha256("tar"u8), new HistoryEntry(null, "COPY . /data # buildkit", null))]);
        new StepCache(store).Put(record);

        // Another build: the layer this one wrote is taken as it is, twice (no read, and nothing written by the hit).
        var next = new BlobStore(temp["state"]);
        string status = (await Tools.RunCheckedAsync("stat", "-c", "%i %s %.9Y %.9Z", store.PathOf(digest))).Stdout;
        Assert.NotNull(new StepCache(next).TryGet(record.Key));
        Assert.NotNull(new StepCache(next).TryGet(record.Key));
        Assert.Equal(0, next.BlobsHashed);
        Assert.Equal(status, (await Tools.RunCheckedAsync("stat", "-c", "%i %s %.9Y %.9Z", store.PathOf(digest))).Stdout);

        // One byte flipped in place and the time put back, as `touch -r` would: the change time tells.
        string path = store.PathOf(digest);
        var time = File.GetLastWriteTimeUtc(path);
        using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = 1000;
            int b = file.ReadByte();
            file.Position = 1000;
            file.WriteByte((byte)(b ^ 0x01));
        }
        File.SetLastWriteTimeUtc(path, time);
        var damaged = new BlobStore(temp["state"]);
        Assert.Null(new StepCache(damaged).TryGet(record.Key));
        Assert.Equal(1, damaged.BlobsHashed);
        Assert.False(File.Exists(path));
    }

    /// <summary>A key's parts reach the hash in batches (issue 14): the key is the sha256 of the same bytes, part by part.</summary>
    [Fact]
    public void A_key_is_the_sha256_of_its_length_prefixed_parts_however_many_and_large()
    {
        var parts = Enumerable.Range(0, 30_000).Select(i => ($"d{i % 22:00}/f{i}.txt", $"File 644 {i} sha256:{i:x64}")).ToList();
        parts.Add(("large", new string('x', 200_000)));
        parts.Add(("null", null!));
        using var expected = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        void Write(string? text)
        {
            byte[] bytes = text is null ? [] : System.Text.Encoding.UTF8.GetBytes(text);
            expected.AppendData(BitConverter.GetBytes(text is null ? -1 : bytes.Length));
            expected.AppendData(bytes);
        }
        using var key = new StepKey("parent");
        Write("version"); Write(StepKey.FormatVersion); Write("parent"); Write("parent");
        foreach (var (name, value) in parts)
        {
            key.Add(name, value);
            Write(name);
            Write(value);
        }
        Assert.Equal(Convert.ToHexString(expected.GetHashAndReset()).ToLowerInvariant(), key.Finish());
    }
}
