using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// Issue 14 item 3, "unchanged means nothing written", for bench/ workload b's shape: a Dockerfile whose base is a
/// registry tag (so MSBuild's skip cannot apply and the image step runs), <c>COPY . /data</c>, to an image tarball. An
/// unchanged build says <c>Up to date</c>, leaves the tarball's status as it was (inode, size, times), writes no file
/// beside it and reads no layer of the store; and each change that matters builds again, read back by skopeo: a
/// context file edited back to its size and time (<c>touch -r</c>), the base tag moved in the registry, the tarball
/// replaced by another file of its size and time.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class UnchangedBuildTests(RegistryFixture registry) : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A base image in the registry under <paramref name="reference"/>: busybox and a greeting.</summary>
    private async Task PushBaseAsync(string reference, string greeting)
    {
        string app = _temp["base-app-" + Guid.NewGuid().ToString("N")[..8]];
        Directory.CreateDirectory(app);
        File.WriteAllText(Path.Combine(app, "greeting.txt"), greeting);
        File.SetLastWriteTimeUtc(Path.Combine(app, "greeting.txt"), new DateTime(2020, 1, 1));
        int slash = reference.IndexOf('/');
        int colon = reference.LastIndexOf(':');
        await ImageBuilder.BuildAsync(new ImageBuildRequest
        {
            BaseImage = "scratch",
            Platform = Platform.FromRuntimeIdentifier("linux-x64"),
            Registry = reference[..slash],
            Repository = reference[(slash + 1)..colon],
            Tags = [reference[(colon + 1)..]],
            StateDirectory = _temp["base-state"],
            Layers = [new FilesLayerSpec([new LayerFile(Tools.Require("busybox"), "/bin/busybox")]) { CreatedBy = "busybox" },
                      new DirectoryLayerSpec(app, "/base") { CreatedBy = "base" }],
        }, NullLogger.Instance, CancellationToken.None);
    }

    /// <summary>
    /// A context of a few folders and files, and its Dockerfile <c>FROM base; COPY . /data</c>; then a wait past the
    /// racy window (the files' change times cannot be set back), so their digests are recorded as a user's are.
    /// </summary>
    private async Task<string> ContextAsync(string baseReference)
    {
        string context = _temp["context"];
        for (int d = 0; d < 3; d++)
        {
            Directory.CreateDirectory(Path.Combine(context, $"d{d}"));
            for (int f = 0; f < 20; f++)
                File.WriteAllText(Path.Combine(context, $"d{d}", $"f{f}.txt"), $"file {d}/{f}\n");
        }
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $"FROM {baseReference}\nCOPY . /data\n");
        await Task.Delay(TimeSpan.FromSeconds(2.2));
        return context;
    }

    private ImageBuildRequest Request(string context) => new()
    {
        Platform = Platform.FromRuntimeIdentifier("linux-x64"),
        Repository = "livrable-test/unchanged",
        Tags = ["v1"],
        ArchivePath = _temp["out", "image.tar"],
        StateDirectory = _temp["state"],
        Dockerfile = new DockerfileBuild { DockerfilePath = Path.Combine(context, "Dockerfile"), ContextDirectory = context },
        InsecureRegistries = [registry.Registry],
    };

    /// <summary>The tarball's inode, size, and modification and change times in ns, as stat(1) tells them.</summary>
    private static async Task<string> StatusAsync(string path)
        => (await Tools.RunCheckedAsync("stat", "-c", "%i %s %.9Y %.9Z", path)).Stdout;

    /// <summary>What skopeo reads in the tarball: the image digest it computes for tag v1.</summary>
    private static async Task<string> SkopeoDigestAsync(string archive)
        => System.Text.Json.JsonDocument.Parse((await Tools.RunCheckedAsync("skopeo", "inspect", $"oci-archive:{archive}:v1")).Stdout)
            .RootElement.GetProperty("Digest").GetString()!;

    private static async Task<(ImageBuildResult Result, RecordingLogger Log)> BuildAsync(ImageBuildRequest request)
    {
        var log = new RecordingLogger();
        return (await ImageBuilder.BuildAsync(request, log, CancellationToken.None), log);
    }

    private static void AssertBuilt(RecordingLogger log, ImageBuildResult result)
    {
        Assert.Contains(log.Lines, l => l.StartsWith($"info: Built livrable-test/unchanged:v1 {result.Digest} (", StringComparison.Ordinal));
        Assert.DoesNotContain(log.Lines, l => l.StartsWith("info: Up to date:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unchanged_build_on_a_registry_tag_writes_nothing_reads_no_layer_and_says_Up_to_date()
    {
        string baseReference = $"{registry.Registry}/livrable-test/unchanged-base-{Guid.NewGuid():N}:v1";
        await PushBaseAsync(baseReference, "one\n");
        var request = Request(await ContextAsync(baseReference));
        var (first, firstLog) = await BuildAsync(request);
        AssertBuilt(firstLog, first);
        string status = await StatusAsync(request.ArchivePath!);
        var files = Directory.GetFileSystemEntries(_temp["out"]);
        var verified = Directory.GetFiles(StateLayout.Records(request.StateDirectory!, CacheRecordKind.Verified));

        var (again, log) = await BuildAsync(request);

        Assert.Equal(first.Digest, again.Digest);
        Assert.Contains(log.Lines, l => l.StartsWith($"info: Up to date: livrable-test/unchanged:v1 {first.Digest} (", StringComparison.Ordinal)
                                        && l.Contains($" -> {request.ArchivePath} in "));
        Assert.Contains(log.Lines, l => l.Contains("CACHED COPY . /data"));
        Assert.DoesNotContain(log.Lines, l => l.StartsWith("info: Built ", StringComparison.Ordinal));
        // Nothing written in the output folder: the same tarball (inode, size, times) and no other file.
        Assert.Equal(status, await StatusAsync(request.ArchivePath!));
        Assert.Equal(files, Directory.GetFileSystemEntries(_temp["out"]));
        // The COPY layer's check is remembered from the build that wrote it, and it is the same record.
        Assert.Single(verified);
        Assert.Equal(verified, Directory.GetFiles(StateLayout.Records(request.StateDirectory!, CacheRecordKind.Verified)));
        Assert.Equal(first.Digest.ToString(), await SkopeoDigestAsync(request.ArchivePath!));
    }

    /// <summary>The state folder's files (path, size, modification time), to show a build wrote none.</summary>
    private static List<string> StateFiles(string state)
        => Directory.GetFiles(state, "*", SearchOption.AllDirectories).Where(f => !f.Contains("/locks/", StringComparison.Ordinal))
            .Select(f => $"{f} {new FileInfo(f).Length} {File.GetLastWriteTimeUtc(f).Ticks}").Order(StringComparer.Ordinal).ToList();

    [Fact]
    public async Task An_unchanged_build_on_a_registry_tag_asks_the_registry_one_manifest_HEAD_and_writes_no_state_file()
    {
        string repository = $"livrable-test/unchanged-base-{Guid.NewGuid():N}";
        await PushBaseAsync($"{registry.Registry}/{repository}:v1", "one\n");
        using var proxy = new FaultProxy(registry.Registry);
        var request = Request(await ContextAsync($"{proxy.Registry}/{repository}:v1"));
        var (first, _) = await BuildAsync(request);
        var state = StateFiles(request.StateDirectory!);
        proxy.Requests.Clear();

        var (again, log) = await BuildAsync(request);

        Assert.Equal(first.Digest, again.Digest);
        Assert.Contains(log.Lines, l => l.StartsWith("info: Up to date:", StringComparison.Ordinal));
        // The tag's digest names the manifest and config the first build kept: no GET, no second request.
        Assert.Equal([$"HEAD /v2/{repository}/manifests/v1"], proxy.Requests);
        Assert.Equal(state, StateFiles(request.StateDirectory!));
    }

    [Fact]
    public async Task A_base_tag_moved_behind_the_kept_manifest_is_fetched_and_built_on()
    {
        string repository = $"livrable-test/unchanged-base-{Guid.NewGuid():N}";
        await PushBaseAsync($"{registry.Registry}/{repository}:v1", "one\n");
        using var proxy = new FaultProxy(registry.Registry);
        var request = Request(await ContextAsync($"{proxy.Registry}/{repository}:v1"));
        await BuildAsync(request);
        await BuildAsync(request);

        await PushBaseAsync($"{registry.Registry}/{repository}:v1", "two\n");
        proxy.Requests.Clear();
        var (moved, log) = await BuildAsync(request);

        AssertBuilt(log, moved);
        var requests = proxy.Requests.ToList();
        Assert.Equal($"HEAD /v2/{repository}/manifests/v1", requests[0]);
        Assert.Contains($"GET /v2/{repository}/manifests/v1", requests);
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(_temp["reader"])).ResolveAsync(request.Platform, CancellationToken.None);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", _temp["check"]);
        Assert.Equal("two\n", File.ReadAllText(Path.Combine(rootfs, "base", "greeting.txt")));
    }

    [Fact]
    public async Task A_damaged_kept_base_manifest_is_fetched_again()
    {
        string repository = $"livrable-test/unchanged-base-{Guid.NewGuid():N}";
        string baseReference = $"{registry.Registry}/{repository}:v1";
        await PushBaseAsync(baseReference, "one\n");
        var request = Request(await ContextAsync(baseReference));
        var (first, _) = await BuildAsync(request);
        // The base's manifest as the registry names it, damaged in the state folder (a flipped byte: same size).
        var digest = Digest.Parse(JsonDigest((await Tools.RunCheckedAsync("skopeo", "inspect", "--tls-verify=false", $"docker://{baseReference}")).Stdout));
        string kept = new BlobStore(request.StateDirectory!).PathOf(digest);
        var bytes = File.ReadAllBytes(kept);
        bytes[^2] ^= 1;
        File.WriteAllBytes(kept, bytes);

        var (again, log) = await BuildAsync(request);

        Assert.Equal(first.Digest, again.Digest);
        Assert.Contains(log.Lines, l => l.StartsWith("info: Up to date:", StringComparison.Ordinal));
        Assert.Equal(digest, Digest.Sha256(File.ReadAllBytes(kept)));
    }

    private static string JsonDigest(string json) => System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("Digest").GetString()!;

    [Fact]
    public async Task After_a_reboot_the_tarball_is_written_again_and_each_cached_layer_hashed_once()
    {
        // Neither the tarball nor the store's blobs are flushed to disk: a crash may have lost their bytes, and a crash
        // reboots, so the records of the boot before (the tarball's, the layers' verified status) vouch for nothing.
        string baseReference = $"{registry.Registry}/livrable-test/unchanged-base-{Guid.NewGuid():N}:v1";
        await PushBaseAsync(baseReference, "one\n");
        var request = Request(await ContextAsync(baseReference));
        const string before = "33333333-3333-4333-8333-333333333333", after = "44444444-4444-4444-8444-444444444444";
        ImageBuildResult first;
        using (BootId.Use(() => before))
        {
            (first, _) = await BuildAsync(request);
            var (same, sameLog) = await BuildAsync(request);
            Assert.Contains(sameLog.Lines, l => l.StartsWith("info: Up to date:", StringComparison.Ordinal));
        }
        string verified = Assert.Single(Directory.GetFiles(StateLayout.Records(request.StateDirectory!, CacheRecordKind.Verified)));
        Assert.Contains($"boot={before}", File.ReadAllText(verified));
        string status = await StatusAsync(request.ArchivePath!);

        using (BootId.Use(() => after))
        {
            var (rebooted, log) = await BuildAsync(request);
            Assert.Equal(first.Digest, rebooted.Digest);
            AssertBuilt(log, rebooted);
            Assert.Contains(log.Lines, l => l.Contains("CACHED COPY . /data"));
            Assert.NotEqual(status, await StatusAsync(request.ArchivePath!));
            // The layer was hashed (found right) and its check remembered for this boot.
            Assert.Contains($"boot={after}", File.ReadAllText(verified));
            var (again, againLog) = await BuildAsync(request);
            Assert.Contains(againLog.Lines, l => l.StartsWith("info: Up to date:", StringComparison.Ordinal));
        }
        Assert.Equal(first.Digest.ToString(), await SkopeoDigestAsync(request.ArchivePath!));
    }

    [Fact]
    public async Task A_context_file_edited_back_to_its_size_and_time_is_copied_again()
    {
        string baseReference = $"{registry.Registry}/livrable-test/unchanged-base-{Guid.NewGuid():N}:v1";
        await PushBaseAsync(baseReference, "one\n");
        string context = await ContextAsync(baseReference);
        var request = Request(context);
        var (first, _) = await BuildAsync(request);

        // Same size, other bytes, the modification time put back by touch -r: only the change time says it moved.
        string file = Path.Combine(context, "d1", "f7.txt");
        File.Copy(file, _temp["reference-time"]);
        File.WriteAllText(file, "FILE 1/7\n");
        await Tools.RunCheckedAsync("touch", "-r", _temp["reference-time"], file);
        var (edited, log) = await BuildAsync(request);

        AssertBuilt(log, edited);
        Assert.NotEqual(first.Digest, edited.Digest);
        Assert.Equal(edited.Digest.ToString(), await SkopeoDigestAsync(request.ArchivePath!));
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(_temp["reader"])).ResolveAsync(request.Platform, CancellationToken.None);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", _temp["check"]);
        Assert.Equal("FILE 1/7\n", File.ReadAllText(Path.Combine(rootfs, "data", "d1", "f7.txt")));
    }

    [Fact]
    public async Task A_base_tag_moved_in_the_registry_builds_again()
    {
        string baseReference = $"{registry.Registry}/livrable-test/unchanged-base-{Guid.NewGuid():N}:v1";
        await PushBaseAsync(baseReference, "one\n");
        var request = Request(await ContextAsync(baseReference));
        var (first, _) = await BuildAsync(request);

        await PushBaseAsync(baseReference, "two\n");
        var (moved, log) = await BuildAsync(request);

        AssertBuilt(log, moved);
        Assert.NotEqual(first.Digest, moved.Digest);
        Assert.Equal(moved.Digest.ToString(), await SkopeoDigestAsync(request.ArchivePath!));
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(_temp["reader"])).ResolveAsync(request.Platform, CancellationToken.None);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", _temp["check"]);
        Assert.Equal("two\n", File.ReadAllText(Path.Combine(rootfs, "base", "greeting.txt")));
    }

    [Fact]
    public async Task A_tarball_replaced_by_a_file_of_its_size_and_time_is_written_again()
    {
        string baseReference = $"{registry.Registry}/livrable-test/unchanged-base-{Guid.NewGuid():N}:v1";
        await PushBaseAsync(baseReference, "one\n");
        var request = Request(await ContextAsync(baseReference));
        var (first, _) = await BuildAsync(request);

        // Another file moved into its place, with the same size and modification time: not the bytes written.
        string other = _temp["out", "other.tmp"];
        File.WriteAllBytes(other, new byte[new FileInfo(request.ArchivePath!).Length]);
        await Tools.RunCheckedAsync("touch", "-r", request.ArchivePath!, other);
        File.Move(other, request.ArchivePath!, overwrite: true);
        var (again, log) = await BuildAsync(request);

        AssertBuilt(log, again);
        Assert.Equal(first.Digest, again.Digest);
        Assert.Equal(first.Digest.ToString(), await SkopeoDigestAsync(request.ArchivePath!));
    }
}
