using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Runtime;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Store;

/// <summary>
/// The state folder's rules one at a time: format version, leases and the clean-up of what dead builds left, locks
/// and their holders, least-recently-used eviction under a cap, prune, and the blob check.
/// </summary>
public sealed class StateFolderTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private string StatePath => _temp["state"];

    [Fact]
    public void Open_writes_the_format_version_and_refuses_a_newer_one()
    {
        var folder = StateFolder.Open(StatePath);
        Assert.Equal("livrable-state 1", File.ReadAllText(folder.VersionFile).Trim());
        StateFolder.Open(StatePath); // the same format opens again

        File.WriteAllText(folder.VersionFile, "livrable-state 2\n");
        var e = Assert.Throws<LivrableException>(() => StateFolder.Open(StatePath));
        Assert.Equal(DiagnosticCodes.StateFormatUnsupported, e.Code);
        Assert.Contains("newer Livrable", e.Message);
    }

    [Fact]
    public void A_file_where_the_state_folder_should_be_is_LIV4153()
    {
        File.WriteAllText(_temp["file"], "x");
        var e = Assert.Throws<LivrableException>(() => StateFolder.Open(_temp["file"]));
        Assert.Equal(DiagnosticCodes.StateFolderUnusable, e.Code);
    }

    [Theory]
    [InlineData("", StatePruner.DefaultMaxSize)]
    [InlineData("0", 0L)]
    [InlineData("1234", 1234L)]
    [InlineData("20GB", 20_000_000_000L)]
    [InlineData(" 500 mb ", 500_000_000L)]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("3K", 3072L)]
    public void ParseSize_takes_bytes_and_units(string text, long bytes) => Assert.Equal(bytes, StatePruner.ParseSize(text));

    [Theory]
    [InlineData("-1")]
    [InlineData("1.5GB")]
    [InlineData("GB")]
    [InlineData("20 parsecs")]
    [InlineData("99999999999999999999")]
    public void ParseSize_refuses_anything_else_with_LIV4151(string text)
        => Assert.Equal(DiagnosticCodes.InvalidStateMaxSize, Assert.Throws<LivrableException>(() => StatePruner.ParseSize(text)).Code);

    [Fact]
    public async Task A_lease_owns_its_temporary_folder_and_a_dead_builds_leftovers_go_at_the_next_start_but_a_live_builds_stay()
    {
        var folder = StateFolder.Open(StatePath);
        using var live = await folder.AcquireLeaseAsync(null, null, CancellationToken.None);
        File.WriteAllText(Path.Combine(live.TempDirectory, "half-written"), "x");

        // A dead build: its lease file exists, nobody holds it.
        string deadId = "999999-deadbeefdeadbeef";
        File.WriteAllText(Path.Combine(folder.LeasesDirectory, deadId + ".lock"), "");
        Directory.CreateDirectory(Path.Combine(folder.TempDirectory, deadId, "dockerfile-x"));
        File.WriteAllText(Path.Combine(folder.TempDirectory, deadId, "blob-1.tmp"), "partial");
        // Unowned temporaries (older layouts): removed only when older than the safe age.
        string oldLoose = Path.Combine(folder.TempDirectory, "blob-old.tmp");
        string newLoose = Path.Combine(folder.TempDirectory, "blob-new.tmp");
        File.WriteAllText(oldLoose, "old");
        File.WriteAllText(newLoose, "new");
        File.SetLastWriteTimeUtc(oldLoose, DateTime.UtcNow - StateFolder.UnownedTempAge - TimeSpan.FromHours(1));
        // A half-extracted layer of a dead build, and one another build is extracting now.
        string deadHex = new('a', 64), busyHex = new('b', 64);
        Directory.CreateDirectory(Path.Combine(folder.RootfsDirectory, $"tmp-{deadHex}-1234"));
        Directory.CreateDirectory(Path.Combine(folder.RootfsDirectory, deadHex)); // moved, marker never written
        Directory.CreateDirectory(Path.Combine(folder.RootfsDirectory, $"tmp-{busyHex}-5678"));
        using var extracting = FileLock.TryAcquire(Path.Combine(folder.RootfsDirectory, busyHex + ".lock"));
        Assert.NotNull(extracting);

        using (var next = await folder.AcquireLeaseAsync(null, null, CancellationToken.None))
        {
            Assert.NotEqual(live.Id, next.Id);
            Assert.True(File.Exists(Path.Combine(live.TempDirectory, "half-written")), "a live build's temporary file was removed");
            Assert.False(Directory.Exists(Path.Combine(folder.TempDirectory, deadId)));
            Assert.False(File.Exists(Path.Combine(folder.LeasesDirectory, deadId + ".lock")));
            Assert.False(File.Exists(oldLoose));
            Assert.True(File.Exists(newLoose));
            Assert.False(Directory.Exists(Path.Combine(folder.RootfsDirectory, $"tmp-{deadHex}-1234")));
            Assert.False(Directory.Exists(Path.Combine(folder.RootfsDirectory, deadHex)));
            Assert.True(Directory.Exists(Path.Combine(folder.RootfsDirectory, $"tmp-{busyHex}-5678")));
        }
        live.Dispose();
        Assert.False(Directory.Exists(live.TempDirectory));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.LeasesDirectory));
    }

    [Fact]
    public async Task A_free_lease_without_its_folder_goes_at_the_next_start_however_new()
    {
        // A build killed inside StateLease.Dispose, between removing tmp/<lease>/ and its lease file: a lease just
        // written, free, with no folder. It must not wait a minute (a build's end checks that no lease is left).
        var folder = StateFolder.Open(StatePath);
        using (await folder.AcquireLeaseAsync(null, null, CancellationToken.None)) { }
        string deadId = "999998-feedfacefeedface";
        string deadLease = Path.Combine(folder.LeasesDirectory, deadId + ".lock");
        File.WriteAllText(deadLease, "");
        File.WriteAllText(deadLease + ".holder", "process 999998 (dotnet)");

        using (var next = await folder.AcquireLeaseAsync(null, null, CancellationToken.None))
        {
            Assert.False(File.Exists(deadLease), "a free lease with no folder was kept");
            Assert.False(File.Exists(deadLease + ".holder"));
            Assert.True(Directory.Exists(next.TempDirectory));
            Assert.True(File.Exists(Path.Combine(folder.LeasesDirectory, next.Id + ".lock")), "the new build's own lease was taken");
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.LeasesDirectory));
    }

    [Fact]
    public async Task A_lock_wait_that_times_out_is_LIV4152_and_names_the_holder()
    {
        string path = _temp["a.lock"];
        using var held = FileLock.TryAcquire(path);
        Assert.NotNull(held);
        Assert.Null(FileLock.TryAcquire(path));
        Assert.Null(FileLock.TryAcquire(path, exclusive: false));

        var e = await Assert.ThrowsAsync<LivrableException>(() => FileLock.AcquireAsync(path, exclusive: true, TimeSpan.Zero, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.StateLockTimeout, e.Code);
        Assert.Contains($"process {Environment.ProcessId}", e.Message);

        held!.Dispose();
        using var shared1 = FileLock.TryAcquire(path, exclusive: false);
        using var shared2 = FileLock.TryAcquire(path, exclusive: false);
        Assert.NotNull(shared1);
        Assert.NotNull(shared2);
        Assert.Null(FileLock.TryAcquire(path));
    }

    [Fact]
    public async Task Prune_waits_for_no_build_and_names_the_running_builds_when_it_times_out()
    {
        var folder = StateFolder.Open(StatePath);
        using var lease = await folder.AcquireLeaseAsync(null, null, CancellationToken.None);

        Assert.True(StatePruner.TryEnforceCap(folder, 0, null).Skipped);
        var e = await Assert.ThrowsAsync<LivrableException>(() => StatePruner.PruneAsync(folder, 0, verify: false, TimeSpan.Zero, null, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.StateLockTimeout, e.Code);
        Assert.Contains($"process {Environment.ProcessId}", e.Message);
    }

    [Fact]
    public async Task The_cap_evicts_least_recently_used_entries_first_and_a_use_refreshes_an_entry()
    {
        var store = new BlobStore(StatePath);
        var blobs = new List<Digest>();
        for (int i = 0; i < 4; i++)
        {
            var (digest, _) = await store.PutAsync(new byte[1000 + i], CancellationToken.None);
            File.SetLastWriteTimeUtc(store.PathOf(digest), DateTime.UtcNow.AddDays(-10 + i));
            blobs.Add(digest);
        }
        // The oldest is used again now: it becomes the most recent.
        using (store.Open(new Descriptor(MediaTypes.OciLayerGzip, blobs[0], 1000))) { }
        // An extracted layer, older than every blob, its size in its marker.
        string layer = Path.Combine(store.Folder.RootfsDirectory, new string('c', 64));
        Directory.CreateDirectory(layer);
        File.WriteAllBytes(Path.Combine(layer, "file"), new byte[5000]);
        File.WriteAllText(layer + ".done", "sha256:" + new string('c', 64) + "\n5000\n");
        File.SetLastWriteTimeUtc(layer + ".done", DateTime.UtcNow.AddDays(-20));

        // 1000+1001+1002+1003+5000 = 9006 bytes; keep at most 2100: the layer, then blobs 1 and 2 go.
        var result = StatePruner.TryEnforceCap(store.Folder, 2100, null);

        Assert.False(result.Skipped);
        Assert.Equal(9006, result.BytesBefore);
        Assert.Equal(2003, result.BytesAfter);
        Assert.Equal(3, result.EntriesRemoved);
        Assert.False(Directory.Exists(layer));
        Assert.False(File.Exists(layer + ".done"));
        Assert.True(store.Contains(blobs[0]));
        Assert.False(store.Contains(blobs[1]));
        Assert.False(store.Contains(blobs[2]));
        Assert.True(store.Contains(blobs[3]));
    }

    [Fact]
    public async Task Prune_all_empties_the_folder_and_verify_removes_a_blob_that_fails_its_digest()
    {
        var store = new BlobStore(StatePath);
        var (good, _) = await store.PutAsync("good"u8.ToArray(), CancellationToken.None);
        var (bad, _) = await store.PutAsync("bad!"u8.ToArray(), CancellationToken.None);
        File.WriteAllText(store.PathOf(bad), "BAD!"); // a disk that lied
        Directory.CreateDirectory(Path.Combine(store.Folder.CacheDirectory, "layers"));
        File.WriteAllText(Path.Combine(store.Folder.CacheDirectory, "layers", "key"), "{}");

        Assert.Equal([store.PathOf(bad)], StatePruner.VerifyBlobs(store.Folder, remove: false));

        var verified = await StatePruner.PruneAsync(store.Folder, long.MaxValue, verify: true, null, null, CancellationToken.None);
        Assert.Equal([store.PathOf(bad)], verified.CorruptBlobs);
        Assert.False(store.Contains(bad));
        Assert.True(store.Contains(good));

        var all = await StatePruner.PruneAsync(new StatePruneRequest { StateDirectory = StatePath, All = true }, null, CancellationToken.None);
        Assert.Equal(0, all.BytesAfter);
        Assert.Equal(2, all.EntriesRemoved);
        Assert.False(store.Contains(good));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(store.Folder.CacheDirectory, "layers")));
        StateFolder.Open(StatePath); // still a valid state folder
    }

    [Fact]
    public async Task Prune_evicts_every_kind_of_record_the_layout_declares_and_every_extracted_layer_folder()
    {
        StateFolder.Open(StatePath);
        // One record of each declared kind, a RUN cache mount, and a layer extracted in a user namespace (its own
        // rootfs-userns-* folder, which the pruner once never looked at).
        foreach (var kind in CacheRecordKind.All)
        {
            Directory.CreateDirectory(StateLayout.Records(StatePath, kind));
            File.WriteAllBytes(Path.Combine(StateLayout.Records(StatePath, kind), "record"), new byte[10]);
        }
        string mount = Path.Combine(StateLayout.CacheMounts(StatePath), new string('a', 64));
        Directory.CreateDirectory(mount);
        File.WriteAllBytes(Path.Combine(mount, "pip.whl"), new byte[10]);
        string userns = Path.Combine(StateLayout.ExtractedLayers(StatePath, "userns-1000"), new string('b', 64));
        Directory.CreateDirectory(userns);
        File.WriteAllBytes(Path.Combine(userns, "file"), new byte[10]);
        File.WriteAllText(userns + ".done", "sha256:" + new string('b', 64) + "\n10\n");

        var all = await StatePruner.PruneAsync(new StatePruneRequest { StateDirectory = StatePath, All = true }, null, CancellationToken.None);

        Assert.Equal(CacheRecordKind.All.Count + 2, all.EntriesRemoved);
        Assert.Equal(0, all.BytesAfter);
        Assert.All(CacheRecordKind.All, kind => Assert.Empty(Directory.EnumerateFileSystemEntries(StateLayout.Records(StatePath, kind))));
        Assert.False(Directory.Exists(mount));
        Assert.False(Directory.Exists(userns));
        Assert.Equal([StateLayout.ExtractedLayers(StatePath), StateLayout.ExtractedLayers(StatePath, "userns-1000")], StateLayout.AllExtractedLayers(StatePath));
    }

    private static long Recorded(string record) => long.Parse(File.ReadAllLines(record)[1], System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void A_cache_mount_is_walked_once_then_sized_by_its_record_until_a_RUN_forgets_it()
    {
        var folder = StateFolder.Open(StatePath);
        string mount = Path.Combine(StateLayout.CacheMounts(StatePath), new string('d', 64));
        string record = StateLayout.CacheMountSize(mount);
        Directory.CreateDirectory(Path.Combine(mount, "http"));
        File.WriteAllBytes(Path.Combine(mount, "http", "a"), new byte[100]);
        Directory.SetLastWriteTimeUtc(mount, DateTime.UtcNow.AddHours(-1)); // last changed by an earlier build

        Assert.Equal(100, StatePruner.TryEnforceCap(folder, long.MaxValue, null).BytesBefore);
        Assert.Equal([new string('d', 64), "100"], File.ReadAllLines(record));

        // Written below the mount's top behind the record's back: not walked, so not counted.
        File.WriteAllBytes(Path.Combine(mount, "http", "b"), new byte[50]);
        Assert.Equal(100, StatePruner.TryEnforceCap(folder, long.MaxValue, null).BytesBefore);

        // A RUN about to write forgets the record, writes, and its build dies before any size check: the next one walks.
        StatePruner.ForgetCacheMountSize(mount);
        File.WriteAllBytes(Path.Combine(mount, "http", "c"), new byte[25]);
        Assert.Equal(175, StatePruner.TryEnforceCap(folder, long.MaxValue, null).BytesBefore);
        Assert.Equal(175, Recorded(record));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.TempDirectory));
    }

    [Fact]
    public void A_cache_mount_record_older_than_a_change_at_the_mounts_top_is_not_trusted()
    {
        // A writer that knows no record (an older Livrable's RUN) adding an entry at the top changes the folder itself.
        var folder = StateFolder.Open(StatePath);
        string mount = Path.Combine(StateLayout.CacheMounts(StatePath), new string('e', 64));
        Directory.CreateDirectory(mount);
        File.WriteAllBytes(Path.Combine(mount, "a"), new byte[100]);
        Directory.SetLastWriteTimeUtc(mount, DateTime.UtcNow.AddHours(-1));
        Assert.Equal(100, StatePruner.TryEnforceCap(folder, long.MaxValue, null).BytesBefore);

        File.WriteAllBytes(Path.Combine(mount, "pkgcache.bin"), new byte[40]);
        Assert.Equal(140, StatePruner.TryEnforceCap(folder, long.MaxValue, null).BytesBefore);
        Assert.Equal(140, Recorded(StateLayout.CacheMountSize(mount)));
    }

    [Fact]
    public void Evicting_a_cache_mount_removes_its_record_and_its_folder()
    {
        var folder = StateFolder.Open(StatePath);
        string mount = Path.Combine(StateLayout.CacheMounts(StatePath), new string('f', 64));
        Directory.CreateDirectory(Path.Combine(mount, "sub"));
        File.WriteAllBytes(Path.Combine(mount, "sub", "a"), new byte[100]);
        Directory.SetLastWriteTimeUtc(mount, DateTime.UtcNow.AddHours(-1));
        StatePruner.TryEnforceCap(folder, long.MaxValue, null);
        Assert.Equal(100, Recorded(StateLayout.CacheMountSize(mount)));

        var result = StatePruner.TryEnforceCap(folder, 0, null);

        Assert.Equal(1, result.EntriesRemoved);
        Assert.Equal(0, result.BytesAfter);
        Assert.False(File.Exists(StateLayout.CacheMountSize(mount)));
        Assert.False(Directory.Exists(mount));
    }

    [Fact]
    public async Task Four_builds_extracting_one_layer_at_once_extract_it_once()
    {
        var store = new BlobStore(StatePath);
        var image = await TestImages.SimpleAsync(store);
        var logger = new RecordingLogger();
        var rootfs = new LayerRootfs(StatePath, logger);

        var folders = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => rootfs.EnsureAsync(image.Layers[0], CancellationToken.None))));

        Assert.Single(folders.Distinct());
        Assert.Single(logger.Lines, l => l.Contains("extracting layer"));
        Assert.Equal("hello\n", File.ReadAllText(Path.Combine(folders[0], "hello.txt")));
        string[] marker = File.ReadAllLines(folders[0] + ".done");
        Assert.Equal(image.Layers[0].DiffId.ToString(), marker[0]);
        Assert.Equal(11, long.Parse(marker[1], System.Globalization.CultureInfo.InvariantCulture)); // "hello\n" + "data\n"
        Assert.Empty(Directory.EnumerateDirectories(store.Folder.RootfsDirectory, "tmp-*"));
    }

    [Fact]
    public async Task A_layer_extracted_in_another_boot_is_extracted_again()
    {
        var store = new BlobStore(StatePath);
        var image = await TestImages.SimpleAsync(store);
        var logger = new RecordingLogger();
        var rootfs = new LayerRootfs(StatePath, logger);
        string folder;
        using (Livrable.Layers.BootId.Use(() => "11111111-1111-4111-8111-111111111111"))
            folder = await rootfs.EnsureAsync(image.Layers[0], CancellationToken.None);
        // What a power loss can leave: the renamed marker on disk, the file's bytes not.
        File.WriteAllText(Path.Combine(folder, "hello.txt"), "");

        using (Livrable.Layers.BootId.Use(() => "11111111-1111-4111-8111-111111111111"))
            await rootfs.EnsureAsync(image.Layers[0], CancellationToken.None);
        Assert.Single(logger.Lines, l => l.Contains("extracting layer"));

        using (Livrable.Layers.BootId.Use(() => "22222222-2222-4222-8222-222222222222"))
            Assert.Equal(folder, await rootfs.EnsureAsync(image.Layers[0], CancellationToken.None));
        Assert.Equal(2, logger.Lines.Count(l => l.Contains("extracting layer")));
        Assert.Equal("hello\n", File.ReadAllText(Path.Combine(folder, "hello.txt")));
        Assert.Equal("boot=22222222-2222-4222-8222-222222222222", File.ReadAllLines(folder + ".done")[2]);

        using (Livrable.Layers.BootId.Use(() => null))
            await rootfs.EnsureAsync(image.Layers[0], CancellationToken.None);
        Assert.Equal(3, logger.Lines.Count(l => l.Contains("extracting layer")));
    }

    [Fact]
    public async Task A_layer_an_older_Livrable_extracted_in_this_boot_is_extracted_again_once()
    {
        var store = new BlobStore(StatePath);
        var image = await TestImages.SimpleAsync(store);
        var logger = new RecordingLogger();
        var rootfs = new LayerRootfs(StatePath, logger);
        string folder = await rootfs.EnsureAsync(image.Layers[0], CancellationToken.None);
        Assert.Equal(LayerRootfs.ExtractionRules, File.ReadAllLines(folder + ".done")[3]);
        // An older Livrable's marker: the diff id, the size and this boot, no rules line. Its folder may hold what
        // older rules gave (here: a file emptied), which a RUN must not see.
        string[] marker = File.ReadAllLines(folder + ".done");
        File.WriteAllText(folder + ".done", string.Join("\n", marker.Take(3)) + "\n");
        File.WriteAllText(Path.Combine(folder, "hello.txt"), "");

        Assert.Equal(folder, await rootfs.EnsureAsync(image.Layers[0], CancellationToken.None));
        await rootfs.EnsureAsync(image.Layers[0], CancellationToken.None);

        Assert.Equal(2, logger.Lines.Count(l => l.Contains("extracting layer")));
        Assert.Equal("hello\n", File.ReadAllText(Path.Combine(folder, "hello.txt")));
        Assert.Equal(LayerRootfs.ExtractionRules, File.ReadAllLines(folder + ".done")[3]);
    }
}
