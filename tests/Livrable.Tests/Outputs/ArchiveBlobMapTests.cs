using System.Security.Cryptography;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Outputs;

/// <summary>
/// Issue 14, item 2: a tarball written over the one of the previous build copies the layers they share from it
/// (<see cref="ArchiveBlobMap"/>), and the result is byte for byte the tarball a write from the store alone makes. The
/// old bytes are taken only while the old file is the one written: an edit that kept its size and time, a file put in
/// its place, a truncation or a damaged map make the write read every layer from the store.
/// </summary>
public sealed class ArchiveBlobMapTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public ArchiveBlobMapTests() => _store = new BlobStore(_temp["state"]);

    public void Dispose() => _temp.Dispose();

    /// <summary>Two images sharing their first (large, random) layer, as a base under a one-line edit.</summary>
    private async Task<(IImage Before, IImage After)> ImagesAsync()
    {
        var base1 = new Dictionary<string, byte[]> { ["base.bin"] = RandomNumberGenerator.GetBytes(300_000) };
        var before = await TestImages.BuildAsync(_store, [base1, TestImages.TextLayer("app.py", "print(1)\n")]);
        var after = await TestImages.BuildAsync(_store, [base1, TestImages.TextLayer("app.py", "print(1)\n# edited\n")]);
        Assert.Equal(before.Layers[0].Descriptor.Digest, after.Layers[0].Descriptor.Digest);
        return (before, after);
    }

    private ArchiveOutput Output(string path) => new(path) { StateDirectory = _temp["state"] };

    /// <summary>The tarball the store alone makes (no state folder: nothing reused).</summary>
    private Task<byte[]> FreshAsync(IImage image) => TestImages.TarballBytesAsync(image, _temp["fresh", Guid.NewGuid().ToString("N") + ".tar"]);

    private static async Task AssertReadableAsync(string path, IImage image)
        => Assert.Contains(image.Digest.ToString(), (await Tools.RunCheckedAsync("skopeo", "inspect", $"oci-archive:{path}:v1")).Stdout);

    [Fact]
    public async Task An_edit_copies_the_shared_layer_from_the_old_tarball_and_writes_the_same_bytes()
    {
        var (before, after) = await ImagesAsync();
        string path = _temp["out/image.tar"];
        var first = Output(path);
        await first.WriteAsync(before, "app", ["v1"], CancellationToken.None);
        Assert.Equal(0, first.LayersCopied);

        var edit = Output(path);
        await edit.WriteAsync(after, "app", ["v1"], CancellationToken.None);

        Assert.Equal(1, edit.LayersCopied);
        Assert.Equal(await FreshAsync(after), await File.ReadAllBytesAsync(path));
        await AssertReadableAsync(path, after);
        await ImageValidator.ValidateArchiveAsync(path, after, "v1", _temp["check"]);

        // And back: the map of the tarball just written is right too.
        var back = Output(path);
        await back.WriteAsync(before, "app", ["v1"], CancellationToken.None);
        Assert.Equal(1, back.LayersCopied);
        Assert.Equal(await FreshAsync(before), await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task A_copied_layer_is_not_read_from_the_store()
    {
        var (before, after) = await ImagesAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(before, "app", ["v1"], CancellationToken.None);
        byte[] expected = await FreshAsync(after);
        string blob = _store.PathOf(before.Layers[0].Descriptor.Digest);
        File.Move(blob, blob + ".away");

        var edit = Output(path);
        await edit.WriteAsync(after, "app", ["v1"], CancellationToken.None);

        Assert.Equal(1, edit.LayersCopied);
        Assert.Equal(expected, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task A_tarball_edited_with_its_size_and_time_put_back_is_not_copied_from()
    {
        var (before, after) = await ImagesAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(before, "app", ["v1"], CancellationToken.None);
        string reference = _temp["time-reference"];
        await Tools.RunCheckedAsync("touch", "-r", path, reference); // the time to the nanosecond, as statx gives it
        long size = new FileInfo(path).Length;
        // One byte of every 4 kB changed (the shared layer's bytes among them), then the time put back (touch -r).
        using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
            for (long at = 2048; at < size - 2048; at += 4096)
            {
                file.Position = at;
                int b = file.ReadByte();
                file.Position = at;
                file.WriteByte((byte)(b ^ 0xFF));
            }
        await Tools.RunCheckedAsync("touch", "-r", reference, path);
        Assert.Equal(size, new FileInfo(path).Length);

        var edit = Output(path);
        await edit.WriteAsync(after, "app", ["v1"], CancellationToken.None);

        Assert.Equal(0, edit.LayersCopied);
        Assert.Equal(await FreshAsync(after), await File.ReadAllBytesAsync(path));
        await AssertReadableAsync(path, after);
    }

    [Fact]
    public async Task A_link_or_another_file_in_the_tarballs_place_is_not_copied_from()
    {
        var (before, after) = await ImagesAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(before, "app", ["v1"], CancellationToken.None);

        // A symbolic link to a copy with the same bytes, size and time.
        string copy = _temp["elsewhere", "image.tar"];
        Directory.CreateDirectory(_temp["elsewhere"]);
        await Tools.RunCheckedAsync("cp", "-p", path, copy);
        File.Delete(path);
        File.CreateSymbolicLink(path, copy);
        var linked = Output(path);
        await linked.WriteAsync(after, "app", ["v1"], CancellationToken.None);
        Assert.Equal(0, linked.LayersCopied);
        Assert.Equal(await FreshAsync(after), await File.ReadAllBytesAsync(path));

        // The map of that write, then a copy of another image moved in its place with the same time.
        string other = _temp["elsewhere", "other.tar"];
        await new ArchiveOutput(other).WriteAsync(before, "app", ["v1"], CancellationToken.None);
        await Tools.RunCheckedAsync("touch", "-r", path, other);
        File.Move(other, path, overwrite: true);
        var replaced = Output(path);
        await replaced.WriteAsync(after, "app", ["v1"], CancellationToken.None);
        Assert.Equal(0, replaced.LayersCopied);
        Assert.Equal(await FreshAsync(after), await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task A_truncated_tarball_or_a_damaged_map_makes_the_write_read_the_store()
    {
        var (before, after) = await ImagesAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(before, "app", ["v1"], CancellationToken.None);
        string map = ArchiveBlobMap.PathOf(_temp["state"], Path.GetFullPath(path));
        Assert.True(File.Exists(map));
        string[] lines = await File.ReadAllLinesAsync(map);
        // The first layer's place moved by one block: the status still matches, the line does not.
        await File.WriteAllLinesAsync(map, lines.Select(l => l.StartsWith("sha256:", StringComparison.Ordinal) ? l + "x" : l));
        var damaged = Output(path);
        await damaged.WriteAsync(after, "app", ["v1"], CancellationToken.None);
        Assert.Equal(0, damaged.LayersCopied);
        Assert.Equal(await FreshAsync(after), await File.ReadAllBytesAsync(path));

        long size = new FileInfo(path).Length;
        var time = File.GetLastWriteTimeUtc(path);
        using (var file = new FileStream(path, FileMode.Open)) file.SetLength(size / 3);
        File.SetLastWriteTimeUtc(path, time);
        var truncated = Output(path);
        await truncated.WriteAsync(before, "app", ["v1"], CancellationToken.None);
        Assert.Equal(0, truncated.LayersCopied);
        Assert.Equal(await FreshAsync(before), await File.ReadAllBytesAsync(path));
    }

    /// <summary>
    /// Another build renames its tarball over the path while this one copies from the old: the map holds the old file
    /// open from the moment it checked it, so the bytes come from the file the map describes.
    /// </summary>
    [Fact]
    public async Task A_tarball_renamed_over_the_path_during_a_write_does_not_change_what_is_copied()
    {
        var (before, _) = await ImagesAsync();
        string path = Path.GetFullPath(_temp["out/image.tar"]);
        await Output(path).WriteAsync(before, "app", ["v1"], CancellationToken.None);
        var layer = before.Layers[0];
        byte[] expected = await File.ReadAllBytesAsync(_store.PathOf(layer.Descriptor.Digest));

        using var map = ArchiveBlobMap.TryLoad(_temp["state"], path);
        Assert.NotNull(map);
        // The other build's tarball: the same size, its bytes all different.
        string other = path + ".other";
        await File.WriteAllBytesAsync(other, Enumerable.Repeat((byte)0x5A, (int)new FileInfo(path).Length).ToArray());
        File.Move(other, path, overwrite: true);

        var place = map!.TryLocate(layer.Descriptor);
        Assert.NotNull(place);
        byte[] copy = new byte[layer.Descriptor.Size];
        Assert.Equal(copy.Length, RandomAccess.Read(place!.Value.File, copy, place.Value.Offset));
        Assert.Equal(expected, copy);
    }

    [Fact]
    public async Task Rewrite_and_a_write_without_a_state_folder_read_the_store()
    {
        var (before, after) = await ImagesAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(before, "app", ["v1"], CancellationToken.None);
        var rewrite = new ArchiveOutput(path) { StateDirectory = _temp["state"], Rewrite = true };
        await rewrite.WriteAsync(after, "app", ["v1"], CancellationToken.None);
        Assert.Equal(0, rewrite.LayersCopied);
        Assert.Equal(await FreshAsync(after), await File.ReadAllBytesAsync(path));
        Assert.Equal([path], Directory.EnumerateFileSystemEntries(_temp["out"]));
    }
}
