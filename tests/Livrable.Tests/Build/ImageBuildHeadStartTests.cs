using Livrable.Build;
using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build;

/// <summary>
/// The image step's head start (<see cref="ImageBuildHeadStart"/>, issue 14): started before the build, its base
/// resolution is the build's (the registry sees the request before the build starts, and one manifest request per build
/// in all), the image is the same, one started for another base or platform is not used, and a failure ahead is met
/// again by the build (which then succeeds when the registry has recovered, or reports the error itself). Through a
/// <see cref="FaultProxy"/> in front of the real registry, which counts the requests and plays the faults.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class ImageBuildHeadStartTests(RegistryFixture registry) : IDisposable
{
    private static readonly Platform Amd64 = Platform.FromRuntimeIdentifier("linux-x64");
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Pushes a one-layer base (busybox) as <paramref name="repository"/>:<paramref name="tag"/>.</summary>
    private async Task PushBaseAsync(string repository, string tag, string file = "busybox")
    {
        var push = new ImageBuildRequest
        {
            BaseImage = "scratch",
            Platform = Amd64,
            Repository = repository,
            Tags = [tag],
            StateDirectory = _temp["state-base"],
            Registry = registry.Registry,
            Layers = [new FilesLayerSpec([new LayerFile(Tools.Require("busybox"), "/bin/" + file)]) { CreatedBy = file }],
        };
        await ImageBuilder.BuildAsync(push, NullLogger.Instance, CancellationToken.None);
    }

    /// <summary>A context with a Dockerfile FROM <paramref name="from"/> and a COPY of the context.</summary>
    private string Context(string from)
    {
        string context = _temp["ctx"];
        Directory.CreateDirectory(Path.Combine(context, "files"));
        for (int i = 0; i < 20; i++) File.WriteAllText(Path.Combine(context, "files", $"f{i}.txt"), $"file {i}\n");
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $"FROM {from}\nCOPY files /data\n");
        return context;
    }

    private ImageBuildHeadStartRequest HeadStartRequest(string context, Platform platform, string? state = null) => new()
    {
        Images = new ImageInputsRequest { DockerfilePath = Path.Combine(context, "Dockerfile"), Platforms = [platform], BaseDirectory = context },
        StateDirectory = state ?? _temp["state"],
        ContextDirectory = context,
    };

    private ImageBuildRequest Build(string context, string archive)
        => TestRequests.Dockerfile(context, "livrable-test/headstart-app", _temp["out", archive], _temp["state"]);

    private static List<string> Manifests(FaultProxy proxy) => proxy.Requests.Where(r => r.Contains("/manifests/", StringComparison.Ordinal)).ToList();

    /// <summary>Waits (10 s at most) until the proxy saw a request matching <paramref name="match"/>.</summary>
    private static async Task WaitForAsync(FaultProxy proxy, Func<string, bool> match)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!proxy.Requests.Any(match))
        {
            Assert.True(DateTime.UtcNow < until, "the head start sent no request: " + string.Join(", ", proxy.Requests));
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task A_matching_head_start_resolves_the_base_before_the_build_which_asks_no_more_and_makes_the_same_image()
    {
        string repository = $"livrable-test/headstart-{Guid.NewGuid():N}"[..32];
        await PushBaseAsync(repository, "v1");
        using var proxy = new FaultProxy(registry.Registry);
        string context = Context($"{proxy.Registry}/{repository}:v1");
        // Without a head start first: the state folder keeps the base's manifest, the context's digest index is written.
        var plain = await ImageBuilder.BuildAsync(Build(context, "plain.tar"), NullLogger.Instance, CancellationToken.None);
        proxy.Requests.Clear();

        using var headStart = ImageBuildHeadStart.Start(HeadStartRequest(context, Amd64));
        Assert.NotNull(headStart);
        // The manifest HEAD goes out before the build starts (without a head start, nothing did until the build).
        await WaitForAsync(proxy, r => r.StartsWith("HEAD ", StringComparison.Ordinal) && r.Contains("/manifests/v1", StringComparison.Ordinal));
        var log = new RecordingLogger();
        var early = await ImageBuilder.BuildAsync(Build(context, "early.tar"), log, CancellationToken.None, headStart);

        Assert.Equal(plain.Digest, early.Digest);
        Assert.Equal([$"HEAD /v2/{repository}/manifests/v1"], Manifests(proxy));
        Assert.Contains(log.Lines, l => l.Contains("head start: started ", StringComparison.Ordinal));
        Assert.Contains(log.Lines, l => l.Contains("lease taken ahead", StringComparison.Ordinal));
        // The kept-manifest line the early pull logged reached the build's log.
        Assert.Contains(log.Lines, l => l.Contains("from the state folder: unchanged in the registry", StringComparison.Ordinal));
        var image = await new ArchiveImage(_temp["out", "early.tar"], "v1", new BlobStore(_temp["reader"])).ResolveAsync(Amd64, CancellationToken.None);
        await ImageValidator.ValidateArchiveAsync(_temp["out", "early.tar"], image, "v1", _temp["check"]);
    }

    [Fact]
    public async Task The_context_digest_index_read_ahead_is_given_for_its_own_root_only_and_once()
    {
        string context = Context("scratch");
        Directory.CreateDirectory(_temp["other"]);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), "FROM 127.0.0.1:1/never:v1\nCOPY files /data\n");
        using var headStart = ImageBuildHeadStart.Start(HeadStartRequest(context, Amd64));
        Assert.NotNull(headStart);
        Assert.Null(headStart.TakeContextDigests(BuildContext.RealRoot(_temp["other"])));
        Assert.NotNull(headStart.TakeContextDigests(BuildContext.RealRoot(context)));
        Assert.Null(headStart.TakeContextDigests(BuildContext.RealRoot(context)));
    }

    [Fact]
    public async Task A_head_start_for_another_base_or_platform_is_not_used()
    {
        string repository = $"livrable-test/headstart-{Guid.NewGuid():N}"[..32];
        await PushBaseAsync(repository, "v1");
        await PushBaseAsync(repository, "v2", "sh");
        using var proxy = new FaultProxy(registry.Registry);
        string context = Context($"{proxy.Registry}/{repository}:v1");
        var expected = await ImageBuilder.BuildAsync(Build(context, "v1.tar"), NullLogger.Instance, CancellationToken.None);

        // Another platform: the early pull is for linux/arm64, the build's for linux/amd64, which asks itself.
        proxy.Requests.Clear();
        using (var arm = ImageBuildHeadStart.Start(HeadStartRequest(context, Platform.Parse("linux/arm64"))))
        {
            Assert.NotNull(arm);
            await WaitForAsync(proxy, r => r.Contains("/manifests/v1", StringComparison.Ordinal));
            var result = await ImageBuilder.BuildAsync(Build(context, "arm.tar"), NullLogger.Instance, CancellationToken.None, arm);
            Assert.Equal(expected.Digest, result.Digest);
        }
        Assert.Equal(2, Manifests(proxy).Count(r => r.Contains("/manifests/v1", StringComparison.Ordinal)));

        // Another base: the Dockerfile changed between the head start and the build; v2 is asked by the build itself.
        proxy.Requests.Clear();
        using (var v1 = ImageBuildHeadStart.Start(HeadStartRequest(context, Amd64)))
        {
            await WaitForAsync(proxy, r => r.Contains("/manifests/v1", StringComparison.Ordinal));
            File.WriteAllText(Path.Combine(context, "Dockerfile"), $"FROM {proxy.Registry}/{repository}:v2\nCOPY files /data\n");
            var result = await ImageBuilder.BuildAsync(Build(context, "v2.tar"), NullLogger.Instance, CancellationToken.None, v1);
            var plain = await ImageBuilder.BuildAsync(Build(context, "v2-plain.tar"), NullLogger.Instance, CancellationToken.None);
            Assert.Equal(plain.Digest, result.Digest);
            Assert.NotEqual(expected.Digest, result.Digest);
        }
        // The early HEAD of v1, unused; the build's first pull of v2 (HEAD, then GET), the plain build's HEAD.
        Assert.Equal([$"HEAD /v2/{repository}/manifests/v1", $"HEAD /v2/{repository}/manifests/v2", $"GET /v2/{repository}/manifests/v2",
            $"HEAD /v2/{repository}/manifests/v2"], Manifests(proxy));

        // Other registry settings (the timeout): the head start is not taken at all, and says so.
        proxy.Requests.Clear();
        using (var other = ImageBuildHeadStart.Start(HeadStartRequest(context, Amd64)))
        {
            await WaitForAsync(proxy, r => r.Contains("/manifests/v2", StringComparison.Ordinal));
            var log = new RecordingLogger();
            await ImageBuilder.BuildAsync(Build(context, "timeout.tar") with { RegistryTimeout = TimeSpan.FromSeconds(61) }, log, CancellationToken.None, other);
            Assert.Contains(log.Lines, l => l.Contains("head start: not used", StringComparison.Ordinal));
        }
        Assert.True(2 == Manifests(proxy).Count, string.Join("\n", Manifests(proxy)));
    }

    [Fact]
    public async Task A_failure_ahead_is_met_again_by_the_build_which_succeeds_once_the_registry_answers_or_reports_it_once()
    {
        string repository = $"livrable-test/headstart-{Guid.NewGuid():N}"[..32];
        using var proxy = new FaultProxy(registry.Registry);
        string context = Context($"{proxy.Registry}/{repository}:v1");

        // The tag does not exist yet when the head start asks (LIV3004 ahead), and does when the build runs.
        using (var missing = ImageBuildHeadStart.Start(HeadStartRequest(context, Amd64)))
        {
            Assert.NotNull(missing);
            await WaitForAsync(proxy, r => r.Contains("/manifests/v1", StringComparison.Ordinal));
            await Task.Delay(300);
            await PushBaseAsync(repository, "v1");
            var log = new RecordingLogger();
            var built = await ImageBuilder.BuildAsync(Build(context, "later.tar"), log, CancellationToken.None, missing);
            Assert.Contains(log.Lines, l => l.Contains("failed ahead of the build: asking again", StringComparison.Ordinal));
            var plain = await ImageBuilder.BuildAsync(Build(context, "plain.tar"), NullLogger.Instance, CancellationToken.None);
            Assert.Equal(plain.Digest, built.Digest);
        }

        // Refused ahead (401 to the HEAD and the GET) and still refused when the build asks: the build's own LIV3002,
        // with the FROM's span, thrown once.
        proxy.On("HEAD", "/manifests/", new Fault.Status(401), times: 1000);
        proxy.On("GET", "/manifests/", new Fault.Status(401), times: 1000);
        proxy.Requests.Clear();
        using (var refused = ImageBuildHeadStart.Start(HeadStartRequest(context, Amd64)))
        {
            await WaitForAsync(proxy, r => r.StartsWith("GET ", StringComparison.Ordinal) && r.Contains("/manifests/v1", StringComparison.Ordinal));
            await Task.Delay(300);
            var e = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(Build(context, "refused.tar"), NullLogger.Instance, CancellationToken.None, refused));
            Assert.Equal(DiagnosticCodes.Unauthorized, e.Code);
            Assert.NotNull(e.Span);
        }
        // Asked twice: once ahead, once by the build.
        Assert.Equal(2, Manifests(proxy).Count(r => r.StartsWith("GET ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_head_start_nobody_takes_releases_its_lease_when_disposed()
    {
        string repository = $"livrable-test/headstart-{Guid.NewGuid():N}"[..32];
        await PushBaseAsync(repository, "v1");
        using var proxy = new FaultProxy(registry.Registry);
        string context = Context($"{proxy.Registry}/{repository}:v1");
        string state = _temp["state-alone"];
        var headStart = ImageBuildHeadStart.Start(HeadStartRequest(context, Amd64, state));
        Assert.NotNull(headStart);
        await WaitForAsync(proxy, r => r.Contains("/manifests/v1", StringComparison.Ordinal));
        string leases = StateFolder.Open(state).LeasesDirectory;
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!Directory.EnumerateFiles(leases, "*.lock").Any(l => IsHeld(l)))
        {
            Assert.True(DateTime.UtcNow < until, "the head start took no lease");
            await Task.Delay(10);
        }
        headStart.Dispose();
        Assert.DoesNotContain(Directory.EnumerateFiles(leases, "*.lock"), IsHeld);
    }

    private static bool IsHeld(string lockFile)
    {
        using var free = FileLock.TryAcquire(lockFile);
        return free is null;
    }
}
