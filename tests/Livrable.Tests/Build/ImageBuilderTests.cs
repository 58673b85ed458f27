using System.Text.Json;
using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;
using Livrable.Layers;

namespace Livrable.Tests.Build;

/// <summary>
/// The engine end to end, with no MSBuild: real layers from files, real outputs, read back by skopeo and umoci, run
/// with runc, pushed to a real registry.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class ImageBuilderTests(RegistryFixture registry) : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A FROM-scratch image holding a static busybox, whose entrypoint prints a greeting.</summary>
    private ImageBuildRequest BusyboxRequest(string appDirectory, string stateDirectory, string? archive = null) => new()
    {
        BaseImage = "scratch",
        Platform = Platform.FromRuntimeIdentifier("linux-x64"),
        Repository = "livrable-test/busybox",
        Tags = ["v1", "stable"],
        ArchivePath = archive ?? Path.Combine(_temp.Path, "out", "image.tar"),
        StateDirectory = stateDirectory,
        Layers =
        [
            new FilesLayerSpec([new LayerFile(Tools.Require("busybox"), "/bin/busybox")]) { CreatedBy = "busybox" },
            new DirectoryLayerSpec(appDirectory, "/app") { CreatedBy = "app" },
        ],
        Config = new ConfigChanges
        {
            WorkingDirectory = "/app",
            Entrypoint = ["/bin/busybox", "sh", "-c"],
            Cmd = ["cat /app/greeting.txt; echo \"$GREETING_SUFFIX\""],
            Environment = [new("GREETING_SUFFIX", "from scratch")],
            Labels = [new("org.opencontainers.image.title", "test")],
            Ports = ["8080/tcp"],
        },
    };

    private string App(string name, string greeting, DateTime mtime)
    {
        string dir = Path.Combine(_temp.Path, name);
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        File.WriteAllText(Path.Combine(dir, "greeting.txt"), greeting);
        File.WriteAllText(Path.Combine(dir, "data", "a.txt"), "a");
        foreach (string f in Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories))
            File.SetLastWriteTimeUtc(f, mtime);
        return dir;
    }

    [Fact]
    public async Task A_tarball_from_scratch_is_read_by_skopeo_and_umoci_and_runs_with_runc()
    {
        var request = BusyboxRequest(App("app", "Hello from Livrable\n", DateTime.UtcNow), Path.Combine(_temp.Path, "state"));
        var logger = new RecordingLogger();

        var result = await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);

        Assert.Equal(request.ArchivePath, result.Destination);
        Assert.Contains(logger.Lines, l => l.Contains(result.Digest.ToString()) && l.Contains(request.ArchivePath!));
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(Path.Combine(_temp.Path, "reader")))
            .ResolveAsync(request.Platform, CancellationToken.None);
        Assert.Equal(result.Digest, image.Digest);
        await ImageValidator.ValidateAsync(image);
        Assert.Equal(["/bin/busybox", "sh", "-c"], image.Config.Entrypoint);
        Assert.Equal("/app", image.Config.WorkingDir);
        Assert.Contains("8080/tcp", image.Config.ExposedPorts);
        Assert.Equal(Reproducibility.DefaultEpoch, image.Config.Created);

        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "stable", Path.Combine(_temp.Path, "check"));
        Assert.True(File.Exists(Path.Combine(rootfs, "app", "data", "a.txt")));
        string output = await Runc.RunAsync(Path.GetDirectoryName(rootfs)!);
        Assert.Equal("Hello from Livrable\nfrom scratch\n", output);
    }

    [Fact]
    public async Task An_OCI_layout_destination_is_read_by_skopeo_and_umoci_runs_with_runc_and_a_rebuild_writes_only_what_changed()
    {
        // A folder other tools already use: its own image stays listed, and the build adds beside it.
        string layout = Path.Combine(_temp.Path, "layout");
        string app = App("layout-app", "Hello from a layout\n", DateTime.UtcNow.AddMinutes(-1));
        var request = BusyboxRequest(app, Path.Combine(_temp.Path, "state")) with { OciLayoutPath = layout };
        var result = await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);
        Assert.Equal(layout, result.Destination);
        Assert.False(File.Exists(request.ArchivePath), "the layout replaces the tarball");

        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--raw", $"oci:{layout}:stable");
        Assert.Equal(result.Digest, Digest.Sha256(System.Text.Encoding.UTF8.GetBytes(inspect.Stdout)));
        var image = await new LayoutImage(layout, "v1").ResolveAsync(request.Platform, CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string bundle = Path.Combine(_temp.Path, "bundle");
        await Tools.RunCheckedAsync("umoci", "unpack", "--image", $"{layout}:v1", bundle);
        Assert.Equal("Hello from a layout\nfrom scratch\n", await Runc.RunAsync(bundle));

        // Unchanged: nothing written, index.json included (its inode and time stay), and the log says so.
        string indexFile = Path.Combine(layout, "index.json");
        var indexStat = (await Tools.RunCheckedAsync("stat", "-c", "%i %Y", indexFile)).Stdout;
        var unchangedLog = new RecordingLogger();
        var unchanged = await ImageBuilder.BuildAsync(request, unchangedLog, CancellationToken.None);
        Assert.Equal(result.Digest, unchanged.Digest);
        Assert.Equal(indexStat, (await Tools.RunCheckedAsync("stat", "-c", "%i %Y", indexFile)).Stdout);
        Assert.Contains(unchangedLog.Lines, l => l.StartsWith($"info: Up to date: livrable-test/busybox:v1 {result.Digest} (", StringComparison.Ordinal));

        // A change of the app: the busybox layer's blob is kept as it was (same file), the tag moves, v0 stays.
        await Tools.RunCheckedAsync("skopeo", "copy", $"oci:{layout}:v1", $"oci:{layout}:v0");
        string busybox = Path.Combine(layout, "blobs", "sha256", image.Layers[0].Descriptor.Digest.Hex);
        var before = File.GetLastWriteTimeUtc(busybox);
        File.SetLastWriteTimeUtc(busybox, before.AddDays(-1));
        File.WriteAllText(Path.Combine(app, "greeting.txt"), "Changed\n");
        var changed = await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);
        Assert.NotEqual(result.Digest, changed.Digest);
        Assert.Equal(before.AddDays(-1), File.GetLastWriteTimeUtc(busybox));
        var tags = await Tools.RunCheckedAsync("skopeo", "inspect", "--format", "{{.Digest}}", $"oci:{layout}:v0");
        Assert.Equal(result.Digest.ToString(), tags.Stdout.Trim());
        tags = await Tools.RunCheckedAsync("skopeo", "inspect", "--format", "{{.Digest}}", $"oci:{layout}:v1");
        Assert.Equal(changed.Digest.ToString(), tags.Stdout.Trim());
        Assert.Empty(Directory.EnumerateFiles(layout, "*.tmp-*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task An_unchanged_build_writes_nothing_and_says_Up_to_date_and_a_new_tag_writes_the_tarball_again()
    {
        var request = BusyboxRequest(App("same-app", "same\n", new DateTime(2020, 1, 1)), Path.Combine(_temp.Path, "state"));
        var first = await ImageBuilder.BuildAsync(request, new RecordingLogger(), CancellationToken.None);
        var inode = (await Tools.RunCheckedAsync("stat", "-c", "%i %Y", request.ArchivePath!)).Stdout;

        var logger = new RecordingLogger();
        var second = await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);

        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(inode, (await Tools.RunCheckedAsync("stat", "-c", "%i %Y", request.ArchivePath!)).Stdout);
        Assert.Contains(logger.Lines, l => l.StartsWith($"info: Up to date: livrable-test/busybox:v1 {second.Digest} (", StringComparison.Ordinal) && l.Contains($" -> {request.ArchivePath} in "));
        Assert.DoesNotContain(logger.Lines, l => l.StartsWith("info: Built ", StringComparison.Ordinal));
        Assert.Contains(second.Digest.ToString(), (await Tools.RunCheckedAsync("skopeo", "inspect", $"oci-archive:{request.ArchivePath}:stable")).Stdout);

        var retagged = new RecordingLogger();
        await ImageBuilder.BuildAsync(request with { Tags = ["v2"] }, retagged, CancellationToken.None);
        Assert.Contains(retagged.Lines, l => l.StartsWith($"info: Built livrable-test/busybox:v2 {second.Digest} (", StringComparison.Ordinal));
        Assert.NotEqual(inode, (await Tools.RunCheckedAsync("stat", "-c", "%i %Y", request.ArchivePath!)).Stdout);
        Assert.Contains(second.Digest.ToString(), (await Tools.RunCheckedAsync("skopeo", "inspect", $"oci-archive:{request.ArchivePath}:v2")).Stdout);
    }

    [Fact]
    public async Task An_OCI_layout_path_that_is_not_a_layout_is_LIV6004_and_left_as_it_was()
    {
        string folder = Path.Combine(_temp.Path, "not-a-layout");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "mine\n");
        var request = BusyboxRequest(App("nl-app", "x\n", DateTime.UtcNow.AddMinutes(-1)), Path.Combine(_temp.Path, "state")) with { OciLayoutPath = folder };
        var e = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None));
        Assert.Equal("LIV6004", e.Code);
        Assert.Equal(["notes.txt"], Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName));
    }

    [Fact]
    public async Task The_same_inputs_in_other_folders_at_other_times_give_the_same_digest()
    {
        var first = BusyboxRequest(App("one", "same\n", new DateTime(2001, 1, 1)), Path.Combine(_temp.Path, "state1"), Path.Combine(_temp.Path, "1.tar"));
        var second = BusyboxRequest(App("two", "same\n", new DateTime(2024, 6, 6)), Path.Combine(_temp.Path, "state2"), Path.Combine(_temp.Path, "2.tar"));

        var a = await ImageBuilder.BuildAsync(first, NullLogger.Instance, CancellationToken.None);
        var b = await ImageBuilder.BuildAsync(second, NullLogger.Instance, CancellationToken.None);
        Assert.Equal(a.Digest, b.Digest);
        Assert.Equal(File.ReadAllBytes(first.ArchivePath!), File.ReadAllBytes(second.ArchivePath!));

        var c = await ImageBuilder.BuildAsync(second with { Created = DateTimeOffset.FromUnixTimeSeconds(1700000000) }, NullLogger.Instance, CancellationToken.None);
        Assert.NotEqual(a.Digest, c.Digest);
    }

    [Fact]
    public async Task A_push_lists_every_tag_a_second_push_uploads_nothing_and_a_change_uploads_only_its_layer()
    {
        string app = App("pushed", "v1\n", DateTime.UtcNow);
        var request = BusyboxRequest(app, Path.Combine(_temp.Path, "state")) with
        {
            Registry = registry.Registry,
            ArchivePath = null,
            Repository = "livrable-test/pushed-" + Guid.NewGuid().ToString("N")[..8],
        };

        var first = await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);
        Assert.Equal(3, first.BlobsUploaded); // two layers and the config

        var tags = await Tools.RunCheckedAsync("skopeo", "list-tags", "--tls-verify=false", $"docker://{registry.Registry}/{request.Repository}");
        using (var doc = JsonDocument.Parse(tags.Stdout))
            Assert.Equal(["stable", "v1"], doc.RootElement.GetProperty("Tags").EnumerateArray().Select(t => t.GetString()).Order());
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--tls-verify=false", $"docker://{registry.Registry}/{request.Repository}:stable");
        using (var doc = JsonDocument.Parse(inspect.Stdout))
            Assert.Equal(first.Digest.ToString(), doc.RootElement.GetProperty("Digest").GetString());

        // Unchanged: one manifest HEAD per tag finds the digest under both, and nothing is pushed, not even a blob HEAD.
        var againLog = new RecordingLogger();
        var again = await ImageBuilder.BuildAsync(request, againLog, CancellationToken.None);
        Assert.Equal(first.Digest, again.Digest);
        Assert.Equal(0, again.BlobsUploaded);
        Assert.Contains(againLog.Lines, l => l.StartsWith($"info: Up to date: {registry.Registry}/{request.Repository}:v1 {first.Digest} (", StringComparison.Ordinal));
        Assert.DoesNotContain(againLog.Lines, l => l.Contains("Skipped ") || l.Contains("Tagged "));

        File.WriteAllText(Path.Combine(app, "greeting.txt"), "v2\n");
        var changed = await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);
        Assert.NotEqual(first.Digest, changed.Digest);
        Assert.Equal(2, changed.BlobsUploaded); // the app layer and the config; busybox's layer was there
    }

    [Theory]
    [InlineData("scratch", "Bad_Repo", "v1", DiagnosticCodes.InvalidRepository)]
    [InlineData("scratch", "ok", "-bad", DiagnosticCodes.InvalidTag)]
    [InlineData("Not A Reference", "ok", "v1", DiagnosticCodes.InvalidReference)]
    [InlineData("./no/such/base.tar", "ok", "v1", DiagnosticCodes.InputNotFound)]
    public async Task Bad_input_is_a_coded_error_and_writes_no_tarball(string baseImage, string repository, string tag, string code)
    {
        var request = BusyboxRequest(App("bad", "x", DateTime.UtcNow), Path.Combine(_temp.Path, "state")) with
        {
            BaseImage = baseImage,
            Repository = repository,
            Tags = [tag],
        };

        var e = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None));

        Assert.Equal(code, e.Code);
        Assert.False(Directory.Exists(Path.GetDirectoryName(request.ArchivePath)) && Directory.EnumerateFiles(Path.GetDirectoryName(request.ArchivePath)!).Any(),
            "a failed build left a file in the output folder");
    }

    [Fact]
    public async Task A_full_disk_is_LIV4006_and_leaves_neither_a_tarball_nor_a_blob()
    {
        string small = _temp["small-disk"];
        Directory.CreateDirectory(small);
        await Tools.RunCheckedAsync("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small);
        try
        {
            string big = _temp["big"];
            Directory.CreateDirectory(big);
            // Random bytes do not compress: a 3 MB layer cannot fit in 1 MB.
            File.WriteAllBytes(Path.Combine(big, "random.bin"), System.Security.Cryptography.RandomNumberGenerator.GetBytes(3_000_000));
            var request = BusyboxRequest(big, Path.Combine(small, "state"), Path.Combine(small, "out", "image.tar")) with
            {
                Layers = [new DirectoryLayerSpec(big, "/data") { CreatedBy = "big" }],
            };

            var e = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None));

            Assert.Equal(DiagnosticCodes.DiskFull, e.Code);
            Assert.False(File.Exists(request.ArchivePath), "a tarball was left behind");
            Assert.Empty(Directory.EnumerateFiles(Path.Combine(small, "state", "blobs"), "*", SearchOption.AllDirectories));
            Assert.Empty(Directory.EnumerateFiles(Path.Combine(small, "state", "tmp"), "*", SearchOption.AllDirectories));
        }
        finally
        {
            await Tools.RunAsync("umount", ["--lazy", small]);
        }
    }

    [Fact]
    public async Task ContainerImageFormat_Docker_writes_docker_media_types_that_skopeo_and_the_registry_accept()
    {
        var request = BusyboxRequest(App("docker", "d\n", DateTime.UtcNow), Path.Combine(_temp.Path, "state")) with
        {
            Format = ImageFormat.Docker,
            Registry = registry.Registry,
            ArchivePath = null,
            Repository = "livrable-test/docker-format",
        };

        var result = await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);

        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--raw", "--tls-verify=false", $"docker://{registry.Registry}/{request.Repository}:v1");
        using var doc = JsonDocument.Parse(raw.Stdout);
        Assert.Equal(MediaTypes.DockerManifest, doc.RootElement.GetProperty("mediaType").GetString());
        Assert.Equal(MediaTypes.DockerConfig, doc.RootElement.GetProperty("config").GetProperty("mediaType").GetString());
        Assert.All(doc.RootElement.GetProperty("layers").EnumerateArray(), l => Assert.Equal(MediaTypes.DockerLayerGzip, l.GetProperty("mediaType").GetString()));
        Assert.Equal(result.Digest, Digest.Sha256(System.Text.Encoding.UTF8.GetBytes(raw.Stdout)));
    }

    [Fact]
    public async Task An_unchanged_layer_is_reused_from_the_cache_and_a_changed_one_is_written_again()
    {
        // Inputs older than the cache's racy window, as files are by the time a build reads them again.
        string app = App("cached", "one\n", DateTime.UtcNow.AddMinutes(-1));
        await Task.Delay(Livrable.Build.Cache.LayerSpecStep.FineWindow * 2); // and changed (made) before that window
        var request = BusyboxRequest(app, Path.Combine(_temp.Path, "state"));
        var first = await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);

        var logger = new RecordingLogger();
        var again = await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);
        Assert.Equal(first.Digest, again.Digest);
        Assert.Equal(2, logger.Lines.Count(l => l.EndsWith(" CACHED")));

        File.WriteAllText(Path.Combine(app, "greeting.txt"), "two\n");
        logger.Clear();
        var changed = await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);
        Assert.NotEqual(first.Digest, changed.Digest);
        Assert.Single(logger.Lines, l => l.EndsWith(" CACHED")); // busybox's layer only
        // The layer written again says how long it took; so does FROM.
        Assert.Single(logger.Lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^info: \[\d+/\d+\] .*: [0-9a-f]{12} \(.*\) \d+\.\d+s$"));
        Assert.Single(logger.Lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^info: \[1/\d+\] FROM .* \d+\.\d+s$"));

        logger.Clear();
        var uncached = await ImageBuilder.BuildAsync(request with { NoCache = true }, logger, CancellationToken.None);
        Assert.Equal(changed.Digest, uncached.Digest);
        Assert.DoesNotContain(logger.Lines, l => l.EndsWith(" CACHED"));
    }
}
