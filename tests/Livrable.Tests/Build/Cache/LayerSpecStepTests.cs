using Livrable.Build;
using Livrable.Build.Cache;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Cache;

/// <summary>
/// Properties mode's layers go through the step cache (records in <c>cache/steps/</c>, as a Dockerfile's): an
/// unchanged input is reused, and nothing stale is: an edit whose size and modification time were put back, and an
/// edit of the file a listed symbolic link leads to, are both written again. Each image is read back by skopeo and
/// umoci.
/// </summary>
public sealed class LayerSpecStepTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private ImageBuildRequest Request(IReadOnlyList<LayerSpec> layers) => new()
    {
        BaseImage = "scratch",
        Platform = Platform.FromRuntimeIdentifier("linux-x64"),
        Repository = "livrable-test/layer-step",
        Tags = ["v1"],
        ArchivePath = _temp["out", "image.tar"],
        StateDirectory = _temp["state"],
        Layers = layers,
    };

    /// <summary>A file with old modification times, as a publish copy leaves them (its change time is now).</summary>
    private string OldFile(string name, string text)
    {
        string path = _temp["inputs", name];
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        File.SetLastWriteTimeUtc(path, new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        return path;
    }

    /// <summary>Builds, reads the tarball back with skopeo and umoci, and returns the digest and the file's content.</summary>
    private async Task<(Digest Digest, string Content, RecordingLogger Log)> BuildAsync(ImageBuildRequest request, string imagePath)
    {
        // Past the change-time window, as a publish's copy is by the time its image step runs.
        await Task.Delay(LayerSpecStep.FineWindow + TimeSpan.FromMilliseconds(100));
        var logger = new RecordingLogger();
        var result = await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(_temp[$"reader-{Guid.NewGuid():N}"]))
            .ResolveAsync(request.Platform, CancellationToken.None);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", _temp[$"check-{Guid.NewGuid():N}"]);
        return (result.Digest, File.ReadAllText(Path.Combine(rootfs, imagePath.TrimStart('/'))), logger);
    }

    [Fact]
    public async Task An_unchanged_layer_is_a_step_cache_record_and_is_reused()
    {
        string file = OldFile("app.dll", "one\n");
        var request = Request([new FilesLayerSpec([new LayerFile(file, "/app/app.dll")]) { CreatedBy = "app" }]);

        var first = await BuildAsync(request, "/app/app.dll");
        Assert.DoesNotContain(first.Log.Lines, l => l.EndsWith(" CACHED"));
        Assert.Single(Directory.GetFiles(StateLayout.Records(_temp["state"], CacheRecordKind.Steps), "*.json"));

        var again = await BuildAsync(request, "/app/app.dll");
        Assert.Equal(first.Digest, again.Digest);
        Assert.Single(again.Log.Lines, l => l.EndsWith(" CACHED"));
        Assert.Equal("one\n", again.Content);
    }

    [Fact]
    public async Task An_edit_with_its_size_and_modification_time_put_back_is_written_again()
    {
        string file = OldFile("app.dll", "one\n");
        var request = Request([new FilesLayerSpec([new LayerFile(file, "/app/app.dll")]) { CreatedBy = "app" }]);
        var first = await BuildAsync(request, "/app/app.dll");

        var time = File.GetLastWriteTimeUtc(file);
        File.WriteAllText(file, "two\n");
        File.SetLastWriteTimeUtc(file, time); // touch -r: only the change time tells
        var edited = await BuildAsync(request, "/app/app.dll");

        Assert.NotEqual(first.Digest, edited.Digest);
        Assert.Equal("two\n", edited.Content);
        Assert.DoesNotContain(edited.Log.Lines, l => l.EndsWith(" CACHED"));
    }

    [Fact]
    public async Task An_edit_of_the_file_a_listed_link_leads_to_is_written_again()
    {
        string target = OldFile("real/app.dll", "one\n");
        string link = _temp["inputs", "app.dll"];
        File.CreateSymbolicLink(link, target);
        await Tools.RunCheckedAsync("touch", "-h", "-d", "2020-01-01", link); // the link itself old too: recorded
        var request = Request([new FilesLayerSpec([new LayerFile(link, "/app/app.dll")]) { CreatedBy = "app" }]);
        var first = await BuildAsync(request, "/app/app.dll");
        Assert.Single((await BuildAsync(request, "/app/app.dll")).Log.Lines, l => l.EndsWith(" CACHED")); // recorded

        File.WriteAllText(target, "two, longer\n");
        File.SetLastWriteTimeUtc(target, new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        var edited = await BuildAsync(request, "/app/app.dll");

        Assert.DoesNotContain(edited.Log.Lines, l => l.EndsWith(" CACHED"));
        Assert.NotEqual(first.Digest, edited.Digest);
        Assert.Equal("two, longer\n", edited.Content);
    }

    [Fact]
    public async Task A_layer_whose_input_was_modified_moments_ago_is_used_but_not_recorded()
    {
        string file = _temp["inputs", "app.dll"];
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, "one\n");
        // Modified now, in whole seconds (as a file system counting seconds gives it): within the 2 s window.
        var now = DateTime.UtcNow;
        File.SetLastWriteTimeUtc(file, new DateTime(now.Ticks - now.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc));
        var spec = new FilesLayerSpec([new LayerFile(file, "/app/app.dll")]) { CreatedBy = "app" };
        var store = new BlobStore(_temp["state"]);
        var cache = new StepCache(store);

        var fresh = await LayerSpecStep.WriteAsync(spec, new LayerWriteOptions(), store, cache, CancellationToken.None);
        Assert.False(fresh.FromCache);
        Assert.True(store.ContainsIntact(fresh.Descriptor.Digest, fresh.Descriptor.Size));
        string records = StateLayout.Records(_temp["state"], CacheRecordKind.Steps);
        Assert.False(Directory.Exists(records) && Directory.EnumerateFiles(records).Any(), "a racy layer was recorded");
    }

    [Fact]
    public async Task A_file_written_a_moment_ago_with_fine_timestamps_is_recorded_after_the_short_window()
    {
        string file = _temp["inputs", "app.dll"];
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, "one\n"); // as the compiler writes the app moments before the image step
        var status = Livrable.Layers.UnixFileStatus.TryRead(file);
        Assert.NotNull(status);
        Assert.NotEqual(0, status.Value.ModificationTime % 1_000_000_000); // this file system keeps sub-second times
        await Task.Delay(LayerSpecStep.FineWindow + TimeSpan.FromMilliseconds(100));
        var spec = new FilesLayerSpec([new LayerFile(file, "/app/app.dll")]) { CreatedBy = "app" };
        var store = new BlobStore(_temp["state"]);
        var cache = new StepCache(store);

        var written = await LayerSpecStep.WriteAsync(spec, new LayerWriteOptions(), store, cache, CancellationToken.None);
        var hit = await LayerSpecStep.WriteAsync(spec, new LayerWriteOptions(), store, cache, CancellationToken.None);
        Assert.False(written.FromCache);
        Assert.True(hit.FromCache, "a file modified 200 ms ago on a file system with nanosecond times was not recorded");
        Assert.Equal(written.Descriptor, hit.Descriptor);
    }
}
