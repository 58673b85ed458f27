using System.Security.Cryptography;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Outputs;

/// <summary>
/// Issue 14, pyapp's edit: a tarball's write started with the image's first layers before the image is complete
/// (<see cref="ArchivePrefix"/>) and taken on by <see cref="ArchiveOutput"/> gives the bytes a write in one go gives,
/// whether the early part finished before the rest was asked or after; an early part that fails, is stopped (the build
/// failed) or was for other layers leaves the old tarball, its record and its blob map as they were, and no file
/// beside them. Every tarball is read by skopeo and umoci.
/// </summary>
public sealed class ArchivePrefixTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public ArchivePrefixTests() => _store = new BlobStore(_temp["state"]);

    public void Dispose() => _temp.Dispose();

    /// <summary>A base of two layers (one large, random) under an app layer, before and after a one-line edit.</summary>
    private async Task<(IImage Before, IImage After)> ImagesAsync()
    {
        var base1 = new Dictionary<string, byte[]> { ["base.bin"] = RandomNumberGenerator.GetBytes(300_000) };
        var base2 = TestImages.TextLayer("etc/apt.txt", "installed\n");
        var before = await TestImages.BuildAsync(_store, [base1, base2, TestImages.TextLayer("app.py", "print(1)\n")]);
        var after = await TestImages.BuildAsync(_store, [base1, base2, TestImages.TextLayer("app.py", "print(1)\n# edited\n")]);
        return (before, after);
    }

    private ArchiveOutput Output(string path, ArchivePrefix? prefix = null) => new(path) { StateDirectory = _temp["state"], Prefix = prefix };

    private ArchivePrefix Start(string path, IReadOnlyList<ILayer> layers, Func<CancellationToken, Task>? before = null)
        => ArchivePrefix.Start(path, null, _temp["state"], rewrite: false, layers, CancellationToken.None, before);

    /// <summary>The tarball a write in one go makes, from the store alone.</summary>
    private Task<byte[]> FreshAsync(IImage image) => TestImages.TarballBytesAsync(image, _temp["fresh", Guid.NewGuid().ToString("N") + ".tar"]);

    private static async Task<string> InodeAsync(string path) => (await Tools.RunCheckedAsync("stat", "-c", "%i", path)).Stdout.Trim();

    [Fact]
    public async Task An_early_part_done_before_the_image_gives_the_bytes_of_a_write_in_one_go()
    {
        var (before, after) = await ImagesAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(before, "app", ["v1"], CancellationToken.None);

        var prefix = Start(path, after.Layers.Take(2).ToList());
        await prefix.Writing;
        var output = Output(path, prefix);
        await output.WriteAsync(after, "app", ["v1"], CancellationToken.None);

        Assert.Equal(2, output.LayersWrittenEarly);
        Assert.Equal(2, output.LayersCopied); // from the old tarball, through its blob map
        Assert.Equal(await FreshAsync(after), await File.ReadAllBytesAsync(path));
        Assert.Single(Directory.EnumerateFileSystemEntries(_temp["out"]));
        await ImageValidator.ValidateArchiveAsync(path, after, "v1", _temp["check"]);
        // The record and the blob map are this tarball's: the same image again writes nothing; the next edit copies.
        var again = Output(path);
        await again.WriteAsync(after, "app", ["v1"], CancellationToken.None);
        Assert.True(again.UpToDate);
        var back = Output(path);
        await back.WriteAsync(before, "app", ["v1"], CancellationToken.None);
        Assert.Equal(2, back.LayersCopied);
        Assert.Equal(await FreshAsync(before), await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task An_early_part_still_running_when_the_image_is_done_is_waited_for_and_gives_the_same_bytes()
    {
        var (before, after) = await ImagesAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(before, "app", ["v1"], CancellationToken.None);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var prefix = Start(path, after.Layers.Take(2).ToList(), token => gate.Task.WaitAsync(token));
        var output = Output(path, prefix);
        var writing = output.WriteAsync(after, "app", ["v1"], CancellationToken.None);
        await Task.Delay(200);
        Assert.False(writing.IsCompleted);
        gate.SetResult();
        await writing;

        Assert.Equal(2, output.LayersWrittenEarly);
        Assert.Equal(await FreshAsync(after), await File.ReadAllBytesAsync(path));
        Assert.Single(Directory.EnumerateFileSystemEntries(_temp["out"]));
        await ImageValidator.ValidateArchiveAsync(path, after, "v1", _temp["check"]);
    }

    [Fact]
    public async Task A_build_that_fails_after_the_early_start_leaves_the_old_tarball_and_its_record()
    {
        var (before, after) = await ImagesAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(before, "app", ["v1"], CancellationToken.None);
        byte[] old = await File.ReadAllBytesAsync(path);
        string inode = await InodeAsync(path);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Stopped while it runs (the build failed in its last step, or was cancelled): never taken.
        var prefix = Start(path, after.Layers.Take(2).ToList(), token => gate.Task.WaitAsync(token));
        await Task.Delay(100);
        Assert.Equal(2, Directory.EnumerateFileSystemEntries(_temp["out"]).Count()); // its temporary file, held open
        await prefix.DisposeAsync();

        Assert.Equal(old, await File.ReadAllBytesAsync(path));
        Assert.Equal(inode, await InodeAsync(path));
        Assert.Single(Directory.EnumerateFileSystemEntries(_temp["out"]));
        // The record still vouches for the old tarball, and its blob map still places the layers.
        var same = Output(path);
        await same.WriteAsync(before, "app", ["v1"], CancellationToken.None);
        Assert.True(same.UpToDate);
        var edit = Output(path);
        await edit.WriteAsync(after, "app", ["v1"], CancellationToken.None);
        Assert.Equal(2, edit.LayersCopied);
        Assert.Equal(await FreshAsync(after), await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task A_first_build_that_fails_after_the_early_start_leaves_no_folder_it_made()
    {
        var (_, after) = await ImagesAsync();
        Directory.CreateDirectory(_temp["bin"]);
        string path = _temp["bin/Release/container/image.tar"];

        var prefix = Start(path, after.Layers.Take(2).ToList());
        await prefix.Writing;
        Assert.True(File.Exists(prefix.Temp));
        await prefix.DisposeAsync();

        Assert.Empty(Directory.EnumerateFileSystemEntries(_temp["bin"]));
    }

    [Fact]
    public async Task An_early_part_that_failed_is_thrown_away_and_the_tarball_written_whole()
    {
        var (before, after) = await ImagesAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(before, "app", ["v1"], CancellationToken.None);

        var prefix = Start(path, after.Layers.Take(2).ToList(), _ => throw new IOException("No space left on device"));
        var output = Output(path, prefix);
        await output.WriteAsync(after, "app", ["v1"], CancellationToken.None);

        Assert.Equal(0, output.LayersWrittenEarly);
        Assert.Equal(2, output.LayersCopied);
        Assert.Equal(await FreshAsync(after), await File.ReadAllBytesAsync(path));
        Assert.Single(Directory.EnumerateFileSystemEntries(_temp["out"]));
        await ImageValidator.ValidateArchiveAsync(path, after, "v1", _temp["check"]);
    }

    [Fact]
    public async Task An_early_part_of_other_layers_is_thrown_away()
    {
        var (before, after) = await ImagesAsync();
        string path = _temp["out/image.tar"];

        // The before image's app layer is no start of the after image's tarball.
        var prefix = Start(path, [after.Layers[0], before.Layers[2]]);
        var output = Output(path, prefix);
        await output.WriteAsync(after, "app", ["v1"], CancellationToken.None);

        Assert.Equal(0, output.LayersWrittenEarly);
        Assert.Equal(await FreshAsync(after), await File.ReadAllBytesAsync(path));
        Assert.Single(Directory.EnumerateFileSystemEntries(_temp["out"]));
    }

    [Fact]
    public async Task An_early_part_is_thrown_away_when_the_tarball_is_up_to_date()
    {
        var (before, _) = await ImagesAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(before, "app", ["v1"], CancellationToken.None);
        string inode = await InodeAsync(path);

        var prefix = Start(path, before.Layers.Take(2).ToList());
        var output = Output(path, prefix);
        await output.WriteAsync(before, "app", ["v1"], CancellationToken.None);

        Assert.True(output.UpToDate);
        Assert.Equal(inode, await InodeAsync(path));
        Assert.Single(Directory.EnumerateFileSystemEntries(_temp["out"]));
    }

    [Fact]
    public async Task A_layer_that_is_not_what_it_says_fails_the_write_and_leaves_the_old_tarball()
    {
        var (before, after) = await ImagesAsync();
        string path = _temp["out/image.tar"];
        await Output(path).WriteAsync(before, "app", ["v1"], CancellationToken.None);
        byte[] old = await File.ReadAllBytesAsync(path);

        // The app layer's blob damaged in the store: the early part stops with the base, the rest fails on it.
        File.WriteAllText(_store.PathOf(after.Layers[2].Descriptor.Digest), "not the layer");
        var prefix = Start(path, after.Layers.Take(2).ToList());
        var e = await Assert.ThrowsAsync<LivrableException>(() => Output(path, prefix).WriteAsync(after, "app", ["v1"], CancellationToken.None));

        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
        Assert.Equal(old, await File.ReadAllBytesAsync(path));
        Assert.Single(Directory.EnumerateFileSystemEntries(_temp["out"]));
    }
}
