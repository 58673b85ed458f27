using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Outputs;

/// <summary>
/// Issue 14, item 3: a tarball that is already what a write would make is not written again (same file, same inode,
/// same time), and anything that changes the result or the file (a tag, a touch, a truncation) writes it again.
/// </summary>
public sealed class ArchiveOutputUpToDateTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public ArchiveOutputUpToDateTests() => _store = new BlobStore(_temp["state"]);

    public void Dispose() => _temp.Dispose();

    private Task<IImage> ImageAsync() => TestImages.BuildAsync(_store,
    [
        new Dictionary<string, string> { ["hello.txt"] = "hello\n" },
    ]);

    private ArchiveOutput Output(string path) => new(path) { StateDirectory = _temp["state"] };

    private static async Task<string> InodeAsync(string path) => (await Tools.RunCheckedAsync("stat", "-c", "%i", path)).Stdout.Trim();

    [Fact]
    public async Task The_same_image_and_tags_again_write_nothing()
    {
        var image = await ImageAsync();
        string path = _temp["out/image.tar"];
        var first = Output(path);
        await first.WriteAsync(image, "app", ["v1"], CancellationToken.None);
        Assert.False(first.UpToDate);
        string inode = await InodeAsync(path);
        var time = File.GetLastWriteTimeUtc(path);

        var second = Output(path);
        string written = await second.WriteAsync(image, "app", ["v1"], CancellationToken.None);

        Assert.True(second.UpToDate);
        Assert.Equal(path, written);
        Assert.Equal(inode, await InodeAsync(path));
        Assert.Equal(time, File.GetLastWriteTimeUtc(path));
        Assert.Single(Directory.EnumerateFiles(StateLayout.Records(_temp["state"], CacheRecordKind.Outputs)));
        Assert.Single(Directory.EnumerateFileSystemEntries(_temp["out"]));
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", $"oci-archive:{path}:v1");
        Assert.Contains(image.Digest.ToString(), inspect.Stdout);
    }

    /// <summary>An image whose config bytes are not the ones its manifest names (a store or builder bug).</summary>
    private sealed class WrongConfig(IImage image) : IImage
    {
        public ImageManifest Manifest => image.Manifest;
        public byte[] ManifestBytes => image.ManifestBytes;
        public Digest Digest => image.Digest;
        public ImageConfig Config => image.Config;
        public byte[] ConfigBytes => [.. image.ConfigBytes, (byte)' '];
        public IReadOnlyList<ILayer> Layers => image.Layers;
    }

    [Fact]
    public async Task An_up_to_date_tarball_still_checks_the_documents_against_their_digests()
    {
        var image = await ImageAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(image, "app", ["v1"], CancellationToken.None);
        var time = File.GetLastWriteTimeUtc(path);

        var again = Output(path);
        var e = await Assert.ThrowsAsync<LivrableException>(() => again.WriteAsync(new WrongConfig(image), "app", ["v1"], CancellationToken.None));

        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
        Assert.Equal(time, File.GetLastWriteTimeUtc(path));
    }

    [Fact]
    public async Task A_new_tag_a_touched_or_a_truncated_tarball_is_written_again()
    {
        var image = await ImageAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(image, "app", ["v1"], CancellationToken.None);

        var tagged = Output(path);
        await tagged.WriteAsync(image, "app", ["v2"], CancellationToken.None);
        Assert.False(tagged.UpToDate, "another tag is another tarball");
        // The old tarball, exchanged out of the target's name, is gone: nothing but the tarball in the folder.
        Assert.Equal([path], Directory.EnumerateFileSystemEntries(_temp["out"]));
        Assert.Contains(image.Digest.ToString(), (await Tools.RunCheckedAsync("skopeo", "inspect", $"oci-archive:{path}:v2")).Stdout);

        File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddMinutes(-5));
        var touched = Output(path);
        await touched.WriteAsync(image, "app", ["v2"], CancellationToken.None);
        Assert.False(touched.UpToDate, "a touched tarball may have been changed");

        long size = new FileInfo(path).Length;
        var time = File.GetLastWriteTimeUtc(path);
        using (var file = new FileStream(path, FileMode.Open)) file.SetLength(size / 2);
        File.SetLastWriteTimeUtc(path, time);
        var truncated = Output(path);
        await truncated.WriteAsync(image, "app", ["v2"], CancellationToken.None);
        Assert.False(truncated.UpToDate, "a truncated tarball is not the image");
        Assert.Equal(size, new FileInfo(path).Length);
        Assert.Contains(image.Digest.ToString(), (await Tools.RunCheckedAsync("skopeo", "inspect", $"oci-archive:{path}:v2")).Stdout);

        File.Delete(path);
        var deleted = Output(path);
        await deleted.WriteAsync(image, "app", ["v2"], CancellationToken.None);
        Assert.False(deleted.UpToDate);
        Assert.True(File.Exists(path));
    }

    [Fact]
    public void Two_files_are_exchanged_in_one_step_and_nothing_changes_when_one_is_missing()
    {
        string a = _temp["x/a"], b = _temp["x/b"];
        Directory.CreateDirectory(Path.GetDirectoryName(a)!);
        File.WriteAllText(a, "new");
        File.WriteAllText(b, "old");
        Assert.True(Livrable.Interop.Native.TryExchange(a, b));
        Assert.Equal("old", File.ReadAllText(a));
        Assert.Equal("new", File.ReadAllText(b));

        string missing = _temp["x/missing"];
        Assert.False(Livrable.Interop.Native.TryExchange(a, missing));
        Assert.Equal("old", File.ReadAllText(a));
        Assert.False(File.Exists(missing));
    }

    [Fact]
    public async Task A_record_made_in_another_boot_is_not_trusted()
    {
        // The tarball is not flushed to disk: a crash may have lost its bytes, and a crash reboots (a new boot id).
        var image = await ImageAsync();
        string path = _temp["out/image.tar"];
        using (Livrable.Layers.BootId.Use(() => "11111111-1111-4111-8111-111111111111"))
        {
            Assert.True(OutputRecord.BootBound);
            await Output(path).WriteAsync(image, "app", ["v1"], CancellationToken.None);
            var same = Output(path);
            await same.WriteAsync(image, "app", ["v1"], CancellationToken.None);
            Assert.True(same.UpToDate, "the same boot trusts its record");
        }
        string inode = await InodeAsync(path);
        string record = Assert.Single(Directory.EnumerateFiles(StateLayout.Records(_temp["state"], CacheRecordKind.Outputs)));
        Assert.Contains("boot=11111111-1111-4111-8111-111111111111", File.ReadAllText(record));

        using (Livrable.Layers.BootId.Use(() => "22222222-2222-4222-8222-222222222222"))
        {
            var rebooted = Output(path);
            await rebooted.WriteAsync(image, "app", ["v1"], CancellationToken.None);
            Assert.False(rebooted.UpToDate, "a record of the boot before does not vouch for bytes a crash may have lost");
            Assert.Equal(0, rebooted.LayersCopied);
            Assert.NotEqual(inode, await InodeAsync(path));
            var again = Output(path);
            await again.WriteAsync(image, "app", ["v1"], CancellationToken.None);
            Assert.True(again.UpToDate);
        }
        Assert.Contains(image.Digest.ToString(), (await Tools.RunCheckedAsync("skopeo", "inspect", $"oci-archive:{path}:v1")).Stdout);
    }

    [Fact]
    public async Task Without_a_boot_id_the_record_holds_size_and_time_only()
    {
        var image = await ImageAsync();
        string path = _temp["out/image.tar"];
        using (Livrable.Layers.BootId.Use(() => null))
        {
            Assert.False(OutputRecord.BootBound);
            Assert.Null(Livrable.Layers.UnixFileStatus.IdentityOf(path));
            await Output(path).WriteAsync(image, "app", ["v1"], CancellationToken.None);
            var again = Output(path);
            await again.WriteAsync(image, "app", ["v1"], CancellationToken.None);
            Assert.True(again.UpToDate, "size and time (the tarball was flushed to disk before its record was kept)");
        }
        string record = Assert.Single(Directory.EnumerateFiles(StateLayout.Records(_temp["state"], CacheRecordKind.Outputs)));
        Assert.DoesNotContain("boot=", File.ReadAllText(record));
        Assert.DoesNotContain("ino=", File.ReadAllText(record));
    }

    [Fact]
    public async Task Without_a_state_folder_the_tarball_is_always_written()
    {
        var image = await ImageAsync();
        string path = _temp["out/image.tar"];
        await new ArchiveOutput(path).WriteAsync(image, "app", ["v1"], CancellationToken.None);
        string inode = await InodeAsync(path);
        var again = new ArchiveOutput(path);
        await again.WriteAsync(image, "app", ["v1"], CancellationToken.None);
        Assert.False(again.UpToDate);
        Assert.NotEqual(inode, await InodeAsync(path));
    }
}
