using System.Text.Json;
using System.Text.RegularExpressions;
using Livrable.Build;
using Livrable.Build.Cache;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;
using Livrable.Layers;

namespace Livrable.Tests.Build.Cache;

/// <summary>
/// The step cache through a real registry (<c>ContainerCacheTo</c>, <c>ContainerCacheFrom</c>): a build exports its
/// records and layers; a second runner (its own state folder, its own copy of the context in another folder) imports
/// them and builds the same image with every step CACHED, its RUN not run. Read back by skopeo; a missing cache is a
/// warning, a foreign artifact an error; the export is reproducible.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed partial class RegistryCacheTests(RegistryFixture registry) : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Dockerfile = """
        FROM scratch
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        COPY app/ /app/
        RUN cat /app/message > /app/copied && echo ran > /ran
        WORKDIR /app

        """;

    [GeneratedRegex(@"^info: \[\d+/\d+\] (CACHED )?((COPY|RUN|WORKDIR) .*)$")]
    private static partial Regex KeyedStep();

    private string Context(string name)
    {
        string context = _temp[name];
        Directory.CreateDirectory(Path.Combine(context, "app"));
        File.Copy(Tools.Require("busybox"), Path.Combine(context, "busybox"));
        File.WriteAllText(Path.Combine(context, "app", "message"), "hello from the cache\n");
        File.WriteAllText(Path.Combine(context, "Dockerfile"), Dockerfile);
        return context;
    }

    private ImageBuildRequest Request(string context, string runner, IReadOnlyList<string>? cacheFrom = null, string? cacheTo = null) => new()
    {
        Platform = Platform.FromRuntimeIdentifier("linux-x64"),
        Repository = "livrable-test/cache-app",
        Tags = ["v1"],
        ArchivePath = _temp[runner, "image.tar"],
        StateDirectory = _temp[runner, "state"],
        Dockerfile = new DockerfileBuild
        {
            DockerfilePath = Path.Combine(context, "Dockerfile"),
            ContextDirectory = context,
            CacheFrom = cacheFrom ?? [],
            CacheTo = cacheTo,
        },
    };

    private static (List<string> Cached, List<string> Ran) Steps(RecordingLogger logger)
    {
        var steps = logger.Lines.Select(l => KeyedStep().Match(l)).Where(m => m.Success).ToList();
        return (steps.Where(m => m.Groups[1].Success).Select(m => m.Groups[2].Value).ToList(),
            steps.Where(m => !m.Groups[1].Success).Select(m => m.Groups[2].Value).ToList());
    }

    [Fact]
    public async Task A_second_runner_imports_the_exported_cache_and_runs_nothing()
    {
        string cache = $"{registry.Registry}/livrable-test/cache-app:buildcache";
        var first = new RecordingLogger();
        var built = await ImageBuilder.BuildAsync(Request(Context("context-a"), "runner-a", cacheTo: cache), first, CancellationToken.None);
        Assert.Empty(Steps(first).Cached);
        Assert.True(first.Lines.Any(l => l.Contains("Exported the build cache (5 steps, 5 layers)", StringComparison.Ordinal)), string.Join("\n", first.Lines));

        // The artifact as another client sees it.
        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--raw", "--tls-verify=false", "docker://" + cache);
        using (var manifest = JsonDocument.Parse(raw.Stdout))
        {
            Assert.Equal(RegistryCache.ArtifactType, manifest.RootElement.GetProperty("artifactType").GetString());
            Assert.Equal(RegistryCache.ConfigMediaType, manifest.RootElement.GetProperty("config").GetProperty("mediaType").GetString());
            Assert.Equal(5, manifest.RootElement.GetProperty("layers").GetArrayLength());
        }

        // Another runner: an empty state folder, the same files in another folder.
        var second = new RecordingLogger();
        var request = Request(Context("context-b"), "runner-b", cacheFrom: [cache]);
        var rebuilt = await ImageBuilder.BuildAsync(request, second, CancellationToken.None);
        var (cached, ran) = Steps(second);
        Assert.Empty(ran);
        Assert.Equal(["COPY busybox /bin/busybox", "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]", "COPY app/ /app/",
            "RUN cat /app/message > /app/copied && echo ran > /ran", "WORKDIR /app"], cached);
        Assert.Contains(second.Lines, l => l.Contains("Imported the build cache", StringComparison.Ordinal) && l.Contains("5 layers fetched", StringComparison.Ordinal));
        Assert.Equal(built.Digest, rebuilt.Digest);

        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(_temp["reader"])).ResolveAsync(request.Platform, CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", _temp["check"]);
        Assert.Equal("hello from the cache\n", File.ReadAllText(Path.Combine(rootfs, "app", "copied")));

        // A change on the second runner misses from the changed step on, and still hits before it.
        File.WriteAllText(Path.Combine(_temp["context-b"], "app", "message"), "changed\n");
        var third = new RecordingLogger();
        await ImageBuilder.BuildAsync(request, third, CancellationToken.None);
        (cached, ran) = Steps(third);
        Assert.Equal(["COPY app/ /app/", "RUN cat /app/message > /app/copied && echo ran > /ran", "WORKDIR /app"], ran);
        Assert.Equal(2, cached.Count);
    }

    [Fact]
    public async Task Exporting_the_same_cache_twice_gives_the_same_manifest()
    {
        string cache = $"{registry.Registry}/livrable-test/cache-twice:bc";
        var first = new RecordingLogger();
        await ImageBuilder.BuildAsync(Request(Context("twice"), "twice", cacheTo: cache), first, CancellationToken.None);
        var second = new RecordingLogger();
        await ImageBuilder.BuildAsync(Request(_temp["twice"], "twice", cacheTo: cache), second, CancellationToken.None);
        string Exported(RecordingLogger logger) => Regex.Match(string.Join('\n', logger.Lines), @"Exported the build cache .* (sha256:[0-9a-f]{64})").Groups[1].Value;
        Assert.NotEmpty(Exported(first));
        Assert.Equal(Exported(first), Exported(second));
    }

    [Fact]
    public async Task A_missing_cache_is_a_warning_and_a_foreign_artifact_an_error()
    {
        var logger = new RecordingLogger();
        await ImageBuilder.BuildAsync(Request(Context("missing"), "missing", cacheFrom: [$"{registry.Registry}/livrable-test/no-such-cache:bc"]), logger, CancellationToken.None);
        Assert.Contains(logger.Lines, l => l.Contains(DiagnosticCodes.CacheImportSkipped, StringComparison.Ordinal));

        // An ordinary image under the cache's name: refused, nothing imported.
        string image = $"{registry.Registry}/livrable-test/not-a-cache:v1";
        await ImageBuilder.BuildAsync(new ImageBuildRequest
        {
            Platform = Platform.FromRuntimeIdentifier("linux-x64"),
            Repository = "livrable-test/not-a-cache",
            Tags = ["v1"],
            Registry = registry.Registry,
            StateDirectory = _temp["foreign", "state"],
        }, NullLogger.Instance, CancellationToken.None);
        var e = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(
            Request(Context("foreign-context"), "foreign", cacheFrom: [image]), NullLogger.Instance, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.CacheImportInvalid, e.Code);
        Assert.False(Directory.Exists(_temp["foreign", "state", "cache", "steps"]) && Directory.EnumerateFiles(_temp["foreign", "state", "cache", "steps"]).Any());
    }

    [Fact]
    public void Records_with_a_bad_key_or_a_layer_the_manifest_lacks_are_refused()
    {
        var layer = new Descriptor(MediaTypes.OciLayerGzip, Digest.Sha256("layer"u8.ToArray()), 5);
        var history = new HistoryEntry(Reproducibility.DefaultEpoch, "COPY x /x # buildkit", "buildkit.dockerfile.v0");
        var good = new StepRecord(new string('a', 64), [new StepOutput(layer, Digest.Sha256("tar"u8.ToArray()), history)]);
        var (manifest, config, layers) = RegistryCache.Compose([good]);
        var source = ImageReference.Parse("127.0.0.1:5000/cache:bc");
        var (configDescriptor, listed) = RegistryCache.ParseManifest(manifest, source);
        Assert.Equal(Digest.Sha256(config), configDescriptor.Digest);
        Assert.Single(RegistryCache.ParseRecords(config, listed, source));

        var (_, badKeyConfig, _) = RegistryCache.Compose([good with { Key = "../../etc/passwd" + new string('a', 48) }]);
        Assert.Equal(DiagnosticCodes.CacheImportInvalid, Assert.Throws<LivrableException>(() => RegistryCache.ParseRecords(badKeyConfig, listed, source)).Code);
        Assert.Equal(DiagnosticCodes.CacheImportInvalid,
            Assert.Throws<LivrableException>(() => RegistryCache.ParseRecords(config, new Dictionary<Digest, Descriptor>(), source)).Code);
        Assert.Single(layers);
    }
}
