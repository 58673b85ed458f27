using System.Globalization;
using System.Text.Json;
using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build;

/// <summary>
/// Platforms and stages built at the same time up to <see cref="ImageBuildRequest.MaxParallelism"/>, through the
/// engine with real runc: a bound of 1 runs one RUN at a time without deadlocking (stages copying from each other, two
/// platforms); a larger bound runs them together and writes the same bytes; lines say their platform; of two failing
/// platforms the first in platform order is reported. Indexes are read by skopeo (<c>inspect --raw</c>) and each
/// platform's image copied out by skopeo and unpacked by umoci.
/// </summary>
public sealed class ConcurrentBuildTests : IDisposable
{
    private static readonly Platform Amd64 = Platform.FromRuntimeIdentifier("linux-x64");
    private static readonly Platform Arm64 = Platform.FromRuntimeIdentifier("linux-arm64");

    // RUN executes on this machine: the work stages run on the build platform (the cross-compiling pattern), reading
    // TARGETARCH, so each target platform's work differs; the image is FROM scratch, so no arm64 binary ever runs.
    private const string Busybox = """
        FROM --platform=$BUILDPLATFORM scratch AS tools
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]

        """;

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private ImageBuildRequest Request(string name, string dockerfile, int bound, IReadOnlyList<Platform> platforms)
    {
        string context = _temp[name, "context"];
        Directory.CreateDirectory(context);
        File.Copy(Tools.Require("busybox"), Path.Combine(context, "busybox"), overwrite: true);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), dockerfile);
        return new ImageBuildRequest
        {
            Platform = platforms[0],
            Platforms = platforms.Count > 1 ? platforms : [],
            Dockerfile = new DockerfileBuild { DockerfilePath = Path.Combine(context, "Dockerfile"), ContextDirectory = context },
            Repository = "livrable-test/concurrent",
            Tags = ["v1"],
            ArchivePath = _temp[name, "out", "image.tar"],
            StateDirectory = _temp[name, "state"],
            MaxParallelism = bound,
        };
    }

    /// <summary>Builds with a deadline: a deadlock fails the test instead of hanging the run.</summary>
    private static async Task<ImageBuildResult> BuildAsync(ImageBuildRequest request, ILogger logger)
        => await ImageBuilder.BuildAsync(request, logger, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(4));

    /// <summary>The index in the tarball as skopeo reads it, checked against the result; then each platform's rootfs, copied out by skopeo and unpacked by umoci.</summary>
    private async Task<IReadOnlyDictionary<Platform, string>> ReadAsync(ImageBuildRequest request, ImageBuildResult result, string name)
    {
        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--raw", $"oci-archive:{request.ArchivePath}:v1");
        Assert.Equal(result.Digest, Digest.Sha256(System.Text.Encoding.UTF8.GetBytes(raw.Stdout)));
        var index = ImageIndex.Parse(System.Text.Encoding.UTF8.GetBytes(raw.Stdout));
        Assert.Equal(request.Platforms, index.Manifests.Select(m => m.Platform));
        Assert.Equal(result.PlatformDigests.Select(p => p.Digest), index.Manifests.Select(m => m.Digest));

        var rootfs = new Dictionary<Platform, string>();
        foreach (var platform in request.Platforms)
        {
            string layout = _temp[name, "read", platform.Architecture, "layout"];
            string bundle = _temp[name, "read", platform.Architecture, "bundle"];
            Directory.CreateDirectory(Path.GetDirectoryName(layout)!);
            await Tools.RunCheckedAsync("skopeo", "--override-arch", platform.Architecture, "copy",
                $"oci-archive:{request.ArchivePath}:v1", $"oci:{layout}:v1");
            await Tools.RunCheckedAsync("umoci", "unpack", "--image", $"{layout}:v1", bundle);
            using (var config = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(bundle, "config.json"))))
                Assert.True(config.RootElement.TryGetProperty("root", out _), "umoci wrote no runtime config");
            rootfs[platform] = Path.Combine(bundle, "rootfs");
        }
        return rootfs;
    }

    /// <summary>
    /// Two work stages and a stage that copies from both and from another stage's result: each RUN notes when it ran
    /// (<c>/proc/uptime</c>, the machine's clock, in every container).
    /// </summary>
    private const string TimedStages = Busybox + """
        FROM tools AS left
        ARG TARGETARCH
        RUN mkdir /out && cut -d' ' -f1 /proc/uptime > /out/left.start && sleep 2 && echo "left $TARGETARCH" > /out/left.txt && cut -d' ' -f1 /proc/uptime > /out/left.end

        FROM tools AS right
        ARG TARGETARCH
        RUN mkdir /out && cut -d' ' -f1 /proc/uptime > /out/right.start && sleep 2 && echo "right $TARGETARCH" > /out/right.txt && cut -d' ' -f1 /proc/uptime > /out/right.end

        FROM tools AS join
        COPY --from=left /out/ /in/
        COPY --from=right /out/ /in/
        RUN cat /in/left.txt /in/right.txt > /in/joined.txt

        FROM scratch
        COPY --from=join /in/ /result/

        """;

    /// <summary>Each RUN's (start, end) on the machine's clock, read from the unpacked image.</summary>
    private static IEnumerable<(double Start, double End)> Intervals(string rootfs)
        => new[] { "left", "right" }.Select(stage => (
            double.Parse(File.ReadAllText(Path.Combine(rootfs, "result", stage + ".start")).Trim(), CultureInfo.InvariantCulture),
            double.Parse(File.ReadAllText(Path.Combine(rootfs, "result", stage + ".end")).Trim(), CultureInfo.InvariantCulture)));

    private static bool Overlap((double Start, double End) a, (double Start, double End) b) => a.Start < b.End && b.Start < a.End;

    [Fact]
    public async Task A_bound_of_1_runs_one_step_at_a_time_across_stages_and_platforms_without_deadlock()
    {
        var request = Request("one", TimedStages, bound: 1, [Amd64, Arm64]);
        var result = await BuildAsync(request, new RecordingLogger());

        var rootfs = await ReadAsync(request, result, "one");
        var intervals = new List<(double Start, double End)>();
        foreach (var (platform, root) in rootfs)
        {
            Assert.Equal($"left {platform.Architecture}\nright {platform.Architecture}\n", File.ReadAllText(Path.Combine(root, "result", "joined.txt")));
            intervals.AddRange(Intervals(root));
        }
        Assert.Equal(4, intervals.Count);
        for (int i = 0; i < intervals.Count; i++)
            for (int j = i + 1; j < intervals.Count; j++)
                Assert.False(Overlap(intervals[i], intervals[j]), $"RUNs {intervals[i]} and {intervals[j]} ran at the same time with a bound of 1");
    }

    [Fact]
    public async Task A_larger_bound_runs_the_platforms_and_stages_together()
    {
        var request = Request("four", TimedStages, bound: 4, [Amd64, Arm64]);
        var logger = new RecordingLogger();
        var result = await BuildAsync(request, logger);

        var rootfs = await ReadAsync(request, result, "four");
        var intervals = rootfs.Values.SelectMany(Intervals).ToList();
        Assert.Contains(intervals, a => intervals.Any(b => a != b && Overlap(a, b)));

        // Each platform's lines name it; the platforms' own lines and the final line do not need a prefix.
        foreach (var platform in request.Platforms)
            Assert.Contains(logger.Lines, l => l.StartsWith($"info: {platform}: [", StringComparison.Ordinal) && l.Contains("RUN mkdir /out", StringComparison.Ordinal));
        Assert.DoesNotContain(logger.Lines, l => l.StartsWith("info: [", StringComparison.Ordinal));
        Assert.Single(logger.Lines, l => l.StartsWith("info: Built ", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.StartsWith($"info: Built livrable-test/concurrent:v1 {result.Digest} (2 platforms: linux/amd64, linux/arm64/v8)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_bound_of_1_and_a_bound_of_4_write_the_same_bytes()
    {
        const string dockerfile = Busybox + """
            FROM tools AS left
            ARG TARGETARCH
            RUN mkdir /out && for i in 1 2 3; do echo "left $TARGETARCH $i" >> /out/left.txt; done

            FROM tools AS right
            ARG TARGETARCH
            RUN mkdir /out && seq 1 2000 | sed "s/^/right $TARGETARCH /" > /out/right.txt

            FROM tools AS join
            COPY --from=left /out/ /in/
            RUN cp /in/left.txt /in/copy.txt
            COPY --from=right /out/right.txt /in/

            FROM scratch
            COPY --from=join /in/ /result/
            LABEL built=concurrently

            """;
        var one = Request("one", dockerfile, bound: 1, [Amd64, Arm64]);
        var four = Request("four", dockerfile, bound: 4, [Amd64, Arm64]);
        var first = await BuildAsync(one, NullLogger.Instance);
        var second = await BuildAsync(four, NullLogger.Instance);

        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(first.PlatformDigests, second.PlatformDigests);
        Assert.Equal(File.ReadAllBytes(one.ArchivePath!), File.ReadAllBytes(four.ArchivePath!));
        var rootfs = await ReadAsync(four, second, "four");
        foreach (var (platform, root) in rootfs)
            Assert.Equal(2000, File.ReadAllLines(Path.Combine(root, "result", "right.txt")).Count(l => l.StartsWith($"right {platform.Architecture} ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Properties_mode_writes_the_same_index_whatever_the_bound()
    {
        Directory.CreateDirectory(_temp["app"]);
        File.WriteAllText(_temp["app", "greeting.txt"], "hello from every platform\n");
        ImageBuildRequest Properties(string name, int bound) => new()
        {
            Platform = Amd64,
            Platforms = [Amd64, Arm64],
            Repository = "livrable-test/concurrent",
            Tags = ["v1"],
            ArchivePath = _temp[name, "out", "image.tar"],
            StateDirectory = _temp[name, "state"],
            MaxParallelism = bound,
            Layers = [new Livrable.Layers.DirectoryLayerSpec(_temp["app"], "/app") { CreatedBy = "app" }],
            Config = new ConfigChanges { WorkingDirectory = "/app" },
        };
        var one = Properties("p1", 1);
        var four = Properties("p4", 4);
        var first = await BuildAsync(one, NullLogger.Instance);
        var logger = new RecordingLogger();
        var second = await BuildAsync(four, logger);
        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(first.PlatformDigests, second.PlatformDigests);
        Assert.Equal(File.ReadAllBytes(one.ArchivePath!), File.ReadAllBytes(four.ArchivePath!));
        Assert.Contains(logger.Lines, l => l.StartsWith("info: linux/arm64/v8: [1/3] FROM scratch", StringComparison.Ordinal));
        var rootfs = await ReadAsync(four, second, "p4");
        Assert.All(rootfs.Values, root => Assert.Equal("hello from every platform\n", File.ReadAllText(Path.Combine(root, "app", "greeting.txt"))));
    }

    [Fact]
    public async Task Of_two_failing_platforms_the_first_in_platform_order_is_reported_whichever_failed_first()
    {
        // amd64's RUN fails after arm64's: the error is still amd64's, as a sequential build reports it.
        const string dockerfile = Busybox + """
            FROM tools
            ARG TARGETARCH
            RUN if [ "$TARGETARCH" = amd64 ]; then sleep 3; exit 3; fi; exit 4

            """;
        var request = Request("fail", dockerfile, bound: 4, [Amd64, Arm64]);
        var error = await Assert.ThrowsAsync<LivrableException>(() => BuildAsync(request, NullLogger.Instance));
        Assert.Equal(DiagnosticCodes.RunFailed, error.Code);
        Assert.Contains("exit code: 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_step_both_platforms_share_runs_once()
    {
        // The build-platform stage does not read the target platform: its step key is the same for both, so the
        // second platform finds the first's record rather than running it again at the same time.
        const string dockerfile = Busybox + """
            FROM tools AS shared
            RUN mkdir /out && echo shared > /out/shared.txt

            FROM scratch
            COPY --from=shared /out/ /result/

            """;
        var request = Request("shared", dockerfile, bound: 4, [Amd64, Arm64]);
        var logger = new RecordingLogger();
        var result = await BuildAsync(request, logger);
        Assert.Single(logger.Lines, l => l.Contains("RUN mkdir /out", StringComparison.Ordinal) && !l.Contains("CACHED", StringComparison.Ordinal));
        Assert.Single(logger.Lines, l => l.Contains("] CACHED ", StringComparison.Ordinal) && l.Contains("RUN mkdir /out", StringComparison.Ordinal));
        // So does its COPY, although the state folder starts empty (the first platform's COPY is keyed after its layer
        // write, issue 14): the second waits for it and then finds its record.
        Assert.Single(logger.Lines, l => l.StartsWith("info: ", StringComparison.Ordinal) && l.Contains("COPY busybox /bin/busybox", StringComparison.Ordinal)
            && !l.Contains("CACHED", StringComparison.Ordinal));
        Assert.Single(logger.Lines, l => l.Contains("] CACHED ", StringComparison.Ordinal) && l.Contains("COPY busybox /bin/busybox", StringComparison.Ordinal));
        var rootfs = await ReadAsync(request, result, "shared");
        Assert.All(rootfs.Values, root => Assert.Equal("shared\n", File.ReadAllText(Path.Combine(root, "result", "shared.txt"))));
    }
}
