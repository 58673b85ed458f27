using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// The step cache of Dockerfile builds (docs/build-cache.md) through <see cref="ImageBuilder"/>, with real runc: a hit
/// on an unchanged rebuild runs nothing (a RUN that counts its runs in a cache mount says so), each kind of input
/// change misses from the changed step on, a cached build gives the image a build without the cache gives, and a build
/// cancelled halfway then run again gives the image of a clean build. Every image is read by the shared validator,
/// skopeo and umoci. Each test has its own state folder, so no other test's records can answer.
/// </summary>
public sealed partial class BuildCacheTests
{
    private const string Busybox = """
        FROM scratch
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]

        """;

    private sealed record Built(IImage Image, RecordingLogger Logger, string Rootfs)
    {
        /// <summary>The COPY/ADD/RUN/WORKDIR steps the build reused, as their progress lines name them.</summary>
        public IReadOnlyList<string> Cached => Steps().Where(s => s.Cached).Select(s => s.Text).ToList();

        /// <summary>The COPY/ADD/RUN/WORKDIR steps the build ran.</summary>
        public IReadOnlyList<string> Ran => Steps().Where(s => !s.Cached).Select(s => s.Text).ToList();

        private IEnumerable<(bool Cached, string Text)> Steps()
            => Logger.Lines.Select(l => ProgressLine().Match(l)).Where(m => m.Success && Keyed().IsMatch(m.Groups[2].Value))
                .Select(m => (m.Groups[1].Success, m.Groups[2].Value));
    }

    [GeneratedRegex(@"^info: \[\d+/\d+\] (CACHED )?(.*)$")]
    private static partial Regex ProgressLine();

    [GeneratedRegex(@"^([\w-]+: )?(COPY|ADD|RUN|WORKDIR) ")]
    private static partial Regex Keyed();

    /// <summary>A state folder and a build context that successive builds share.</summary>
    private sealed class Workspace : IDisposable
    {
        private readonly TempDirectory _temp = new();
        private int _builds;

        public Workspace()
        {
            Directory.CreateDirectory(Context);
            File.Copy(Tools.Require("busybox"), Path.Combine(Context, "busybox"));
        }

        public string State => _temp["state"];
        public string Context => _temp["context"];
        public string NewFolder(string name) => _temp[$"{name}-{Interlocked.Increment(ref _builds)}"];

        public void Write(string relative, string content)
        {
            string path = Path.Combine(Context, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, content);
        }

        public void Dispose() => _temp.Dispose();
    }

    private static ImageBuildRequest Request(Workspace w, string work, string? stateDirectory = null, IReadOnlyDictionary<string, string>? buildArgs = null,
        IReadOnlyDictionary<string, string>? namedContexts = null, bool noCache = false) => new()
    {
        Platform = Platform.FromRuntimeIdentifier("linux-x64"),
        Repository = "livrable-test/cache",
        Tags = ["v1"],
        ArchivePath = Path.Combine(work, "image.tar"),
        StateDirectory = stateDirectory ?? w.State,
        NoCache = noCache,
        Dockerfile = new DockerfileBuild
        {
            DockerfilePath = Path.Combine(w.Context, "Dockerfile"),
            ContextDirectory = w.Context,
            BuildArgs = buildArgs ?? new Dictionary<string, string>(),
            NamedContexts = namedContexts ?? new Dictionary<string, string>(),
        },
    };

    private static async Task<Built> BuildAsync(Workspace w, string dockerfile, IReadOnlyDictionary<string, string>? buildArgs = null,
        IReadOnlyDictionary<string, string>? namedContexts = null, bool noCache = false, string? stateDirectory = null)
    {
        // Written only when it changes: two builds at once must not see it truncated by the other's write.
        string path = Path.Combine(w.Context, "Dockerfile");
        if (!File.Exists(path) || File.ReadAllText(path) != dockerfile) w.Write("Dockerfile", dockerfile);
        string work = w.NewFolder("build");
        var request = Request(w, work, stateDirectory, buildArgs, namedContexts, noCache);
        var logger = new RecordingLogger();
        await ImageBuilder.BuildAsync(request, logger, CancellationToken.None);
        return await ReadAsync(request, logger, work);
    }

    private static async Task<Built> ReadAsync(ImageBuildRequest request, RecordingLogger logger, string work)
    {
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(Path.Combine(work, "reader"))).ResolveAsync(request.Platform, CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", Path.Combine(work, "check"));
        return new Built(image, logger, rootfs);
    }

    private static string Read(Built built, string path) => File.ReadAllText(Path.Combine(built.Rootfs, path.TrimStart('/')));

    /// <summary>The host folder of a cache mount (<c>&lt;state&gt;/cache/&lt;sha256 of the id&gt;</c>, RunStep's layout).</summary>
    private static string CacheMount(string state, string id)
        => Path.Combine(state, "cache", Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(id))).ToLowerInvariant());

    [Fact]
    public async Task An_unchanged_rebuild_reuses_every_step_runs_nothing_and_gives_the_image_a_build_without_the_cache_gives()
    {
        using var w = new Workspace();
        w.Write("data/a.txt", "alpha\n");
        w.Write("data/sub/b.txt", "beta\n");
        string id = "counter-" + Guid.NewGuid().ToString("N");
        string dockerfile = Busybox + $"""
            WORKDIR /app
            COPY data/ /data/
            RUN --mount=type=cache,target=/cache,id={id} echo ran >> /cache/runs && cat /data/a.txt /data/sub/b.txt > /app/out
            """;

        var first = await BuildAsync(w, dockerfile);
        Assert.Empty(first.Cached);
        Assert.Equal(5, first.Ran.Count);
        Assert.Equal("alpha\nbeta\n", Read(first, "/app/out"));
        // Each step that ran ends with BuildKit's DONE line and its time; FROM gives the time its image took.
        Assert.Equal(5, first.Logger.Lines.Count(l => Regex.IsMatch(l, @"^info: \[\d+/\d+\] DONE \d+\.\d+s$")));
        Assert.Contains(first.Logger.Lines, l => Regex.IsMatch(l, @"^info: \[1/\d+\] FROM scratch \(linux/amd64\) \d+\.\d+s$"));

        var second = await BuildAsync(w, dockerfile);
        Assert.Empty(second.Ran);
        Assert.DoesNotContain(second.Logger.Lines, l => l.Contains("] DONE ", StringComparison.Ordinal));
        Assert.Equal(["COPY busybox /bin/busybox", "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]", "WORKDIR /app", "COPY data/ /data/",
            $"RUN --mount=type=cache,target=/cache,id={id} echo ran >> /cache/runs && cat /data/a.txt /data/sub/b.txt > /app/out"], second.Cached);
        // Nothing ran: the RUN's counter in its cache mount was written once, and no RUN printed a line.
        Assert.Equal(["ran"], File.ReadAllLines(Path.Combine(CacheMount(w.State, id), "runs")));
        Assert.DoesNotContain(second.Logger.Lines, l => Regex.IsMatch(l, @"^info:\s+#\d+ "));
        Assert.Equal(first.Image.Digest, second.Image.Digest);
        Assert.Equal("alpha\nbeta\n", Read(second, "/app/out"));

        // ContainerNoCache runs every step again, and the image is the same to the bit.
        var uncached = await BuildAsync(w, dockerfile, noCache: true);
        Assert.Empty(uncached.Cached);
        Assert.Equal(["ran", "ran"], File.ReadAllLines(Path.Combine(CacheMount(w.State, id), "runs")));
        Assert.Equal(first.Image.Digest, uncached.Image.Digest);

        // A record whose blob is gone (evicted, pruned) is a miss, not a broken image.
        foreach (var layer in first.Image.Layers.Skip(3))
            File.Delete(Path.Combine(w.State, "blobs", "sha256", layer.Descriptor.Digest.Hex));
        var evicted = await BuildAsync(w, dockerfile);
        Assert.Equal(first.Image.Digest, evicted.Image.Digest);
        Assert.Contains("COPY data/ /data/", evicted.Ran);
    }

    /// <summary>
    /// Issue 10 item 3: a step record's layer with one byte flipped (same size, so only its digest tells) was a hit,
    /// and the build failed with LIV4001 when the layer was read; now the hit is checked, the damaged blob evicted, the
    /// step runs again in this build, and the image is the same to the bit.
    /// </summary>
    [Fact]
    public async Task A_step_records_layer_damaged_in_the_store_makes_the_step_run_again_in_the_same_build()
    {
        using var w = new Workspace();
        string dockerfile = Busybox + "RUN echo made > /made\n";
        var first = await BuildAsync(w, dockerfile);
        string blob = Path.Combine(w.State, "blobs", "sha256", first.Image.Layers[^1].Descriptor.Digest.Hex);
        using (var file = new FileStream(blob, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = file.Length / 2;
            int b = file.ReadByte();
            file.Position = file.Length / 2;
            file.WriteByte((byte)(b ^ 0x01));
        }

        var second = await BuildAsync(w, dockerfile);

        Assert.Contains("RUN echo made > /made", second.Ran);
        Assert.Equal(first.Image.Digest, second.Image.Digest);
        Assert.Equal("made\n", Read(second, "/made"));
        Assert.Empty(StatePruner.VerifyBlobs(StateFolder.Open(w.State), remove: false));
    }

    [Fact]
    public async Task Instruction_text_a_build_arg_an_env_before_and_a_parent_step_miss_from_the_changed_step_on()
    {
        using var w = new Workspace();
        string Dockerfile(string one = "one", string env = "1") => Busybox + $"""
            RUN echo {one} > /one
            ARG A=1
            RUN echo $A > /a
            ENV E={env}
            RUN echo $E > /e
            """;
        const string Install = "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]";

        var first = await BuildAsync(w, Dockerfile());
        Assert.Empty(first.Cached);

        var arg = await BuildAsync(w, Dockerfile(), buildArgs: new Dictionary<string, string> { ["A"] = "2" });
        Assert.Equal(["COPY busybox /bin/busybox", Install, "RUN echo one > /one"], arg.Cached);
        Assert.Equal(["RUN echo $A > /a", "RUN echo $E > /e"], arg.Ran);
        Assert.Equal("2\n", Read(arg, "/a"));

        var env = await BuildAsync(w, Dockerfile(env: "2"));
        Assert.Equal(["COPY busybox /bin/busybox", Install, "RUN echo one > /one", "RUN echo $A > /a"], env.Cached);
        Assert.Equal(["RUN echo $E > /e"], env.Ran);
        Assert.Equal("2\n", Read(env, "/e"));

        // A changed instruction misses, and so does every step after it: their parent changed.
        var text = await BuildAsync(w, Dockerfile(one: "two"));
        Assert.Equal(["COPY busybox /bin/busybox", Install], text.Cached);
        Assert.Equal(["RUN echo two > /one", "RUN echo $A > /a", "RUN echo $E > /e"], text.Ran);
        Assert.Equal("two\n", Read(text, "/one"));

        // Back to the first Dockerfile: its records are still there.
        var again = await BuildAsync(w, Dockerfile());
        Assert.Empty(again.Ran);
        Assert.Equal(first.Image.Digest, again.Image.Digest);
    }

    [Fact]
    public async Task A_context_file_changed_with_size_and_time_put_back_and_a_dockerignore_change_miss_only_the_copy_that_reads_them()
    {
        using var w = new Workspace();
        w.Write("a.txt", "a\n");
        w.Write("data/x.txt", "xxxx\n");
        w.Write("data/y.txt", "yyyy\n");
        string dockerfile = Busybox + """
            COPY a.txt /a.txt
            COPY data/ /data/
            RUN cat /data/* > /all
            """;
        var first = await BuildAsync(w, dockerfile);
        Assert.Equal("xxxx\nyyyy\n", Read(first, "/all"));

        // Same size, same modification time: only the content differs. The file's change time (which no call can
        // put back) sends it to be read again, and its digest misses. Had it been changed within the racy window
        // (2 s) of the first build, it would not even have been recorded, and would have been read anyway.
        string x = Path.Combine(w.Context, "data", "x.txt");
        var time = File.GetLastWriteTimeUtc(x);
        File.WriteAllText(x, "XXXX\n");
        File.SetLastWriteTimeUtc(x, time);
        var content = await BuildAsync(w, dockerfile);
        Assert.Equal(["COPY busybox /bin/busybox", "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]", "COPY a.txt /a.txt"], content.Cached);
        Assert.Equal(["COPY data/ /data/", "RUN cat /data/* > /all"], content.Ran);
        Assert.Equal("XXXX\nyyyy\n", Read(content, "/all"));

        // A .dockerignore that removes a file the COPY reads misses; taking it back hits the earlier record.
        w.Write(".dockerignore", "data/y.txt\n");
        var ignored = await BuildAsync(w, dockerfile);
        Assert.Equal(["COPY data/ /data/", "RUN cat /data/* > /all"], ignored.Ran);
        Assert.Equal("XXXX\n", Read(ignored, "/all"));
        File.Delete(Path.Combine(w.Context, ".dockerignore"));
        var restored = await BuildAsync(w, dockerfile);
        Assert.Empty(restored.Ran);
        Assert.Equal(content.Image.Digest, restored.Image.Digest);

        // A file the COPY does not read (the Dockerfile aside) changes nothing.
        w.Write("unrelated.txt", "u\n");
        var unrelated = await BuildAsync(w, dockerfile);
        Assert.Empty(unrelated.Ran);
    }

    [Fact]
    public async Task A_hard_link_added_in_the_context_misses_the_copy_that_reads_it()
    {
        // The layer holds hard links as such (fsutil's inode map), so the key must see them: same content, other layer.
        using var w = new Workspace();
        w.Write("data/x.txt", "same\n");
        w.Write("data/y.txt", "same\n");
        const string dockerfile = "FROM scratch\nCOPY data/ /data/\n";
        var first = await BuildAsync(w, dockerfile);
        File.Delete(Path.Combine(w.Context, "data", "y.txt"));
        await Tools.RunCheckedAsync("ln", Path.Combine(w.Context, "data", "x.txt"), Path.Combine(w.Context, "data", "y.txt"));
        var linked = await BuildAsync(w, dockerfile);
        Assert.Equal(["COPY data/ /data/"], linked.Ran);
        Assert.NotEqual(first.Image.Digest, linked.Image.Digest);
        var again = await BuildAsync(w, dockerfile);
        Assert.Empty(again.Ran);
        Assert.Equal(linked.Image.Digest, again.Image.Digest);
    }

    [Fact]
    public async Task A_changed_base_image_and_a_changed_copy_from_stage_miss()
    {
        using var w = new Workspace();
        using var baseSide = new Workspace();
        baseSide.Write("version", "1\n");
        string baseDockerfile = Busybox + "COPY version /version\n";
        string baseWork = baseSide.NewFolder("base");
        await BuildBaseAsync("1\n");
        var contexts = new Dictionary<string, string> { ["base"] = Path.Combine(baseWork, "image.tar") };
        string Dockerfile(string suffix) => $"""
            FROM base AS gen
            RUN cat /version > /gen{suffix}
            FROM base
            COPY --from=gen /gen /from-gen
            RUN cat /from-gen > /final
            """;

        var first = await BuildAsync(w, Dockerfile(""), namedContexts: contexts);
        Assert.Equal("1\n", Read(first, "/final"));
        var same = await BuildAsync(w, Dockerfile(""), namedContexts: contexts);
        Assert.Empty(same.Ran);
        Assert.Equal(first.Image.Digest, same.Image.Digest);

        // The stage COPY --from reads changes: its RUN, the COPY and what follows miss.
        var stage = await BuildAsync(w, Dockerfile(" && echo more >> /gen"), namedContexts: contexts);
        Assert.Equal(["gen: RUN cat /version > /gen && echo more >> /gen", "stage-1: COPY --from=gen /gen /from-gen", "stage-1: RUN cat /from-gen > /final"], stage.Ran);
        Assert.Equal("1\nmore\n", Read(stage, "/final"));

        // The base image changes (same path, same tag, another manifest): every step misses.
        await BuildBaseAsync("2\n");
        var rebased = await BuildAsync(w, Dockerfile(""), namedContexts: contexts);
        Assert.Empty(rebased.Cached);
        Assert.Equal("2\n", Read(rebased, "/final"));

        async Task BuildBaseAsync(string version)
        {
            baseSide.Write("version", version);
            baseSide.Write("Dockerfile", baseDockerfile);
            await ImageBuilder.BuildAsync(Request(baseSide, baseWork), NullLogger.Instance, CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_build_cancelled_halfway_then_run_again_gives_the_image_of_a_clean_build()
    {
        using var w = new Workspace();
        w.Write("data/a.txt", "a\n");
        string id = "flag-" + Guid.NewGuid().ToString("N");
        // The first run of the RUN waits until it is cancelled; a later run goes straight on. Its layer is the same.
        string dockerfile = Busybox + $"""
            COPY data/ /data/
            RUN --mount=type=cache,target=/flag,id={id} if [ -e /flag/seen ]; then echo again; else touch /flag/seen; echo started; sleep 120; fi; echo done > /done
            RUN cat /data/a.txt > /b
            """;
        w.Write("Dockerfile", dockerfile);
        using var cancel = new CancellationTokenSource();
        var logger = new CancellingLogger(cancel, "started");
        string work = w.NewFolder("cancelled");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ImageBuilder.BuildAsync(Request(w, work), logger, cancel.Token));
        Assert.False(File.Exists(Path.Combine(work, "image.tar")));

        var rerun = await BuildAsync(w, dockerfile);
        Assert.Equal(["COPY busybox /bin/busybox", "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]", "COPY data/ /data/"], rerun.Cached);
        Assert.Equal(2, rerun.Ran.Count);
        Assert.Equal("done\n", Read(rerun, "/done"));

        string cleanState = w.NewFolder("clean-state");
        Directory.CreateDirectory(CacheMount(cleanState, id));
        File.WriteAllText(Path.Combine(CacheMount(cleanState, id), "seen"), "");
        var clean = await BuildAsync(w, dockerfile, stateDirectory: cleanState);
        Assert.Empty(clean.Cached);
        Assert.Equal(clean.Image.Digest, rerun.Image.Digest);
    }

    [Fact]
    public async Task Two_builds_at_once_on_one_state_folder_give_the_same_image_and_leave_records_a_third_build_uses()
    {
        using var w = new Workspace();
        w.Write("data/a.txt", "a\n");
        string dockerfile = Busybox + """
            COPY data/ /data/
            RUN cat /data/a.txt > /b
            """;
        w.Write("Dockerfile", dockerfile);
        var builds = await Task.WhenAll(BuildAsync(w, dockerfile), BuildAsync(w, dockerfile));
        Assert.Equal(builds[0].Image.Digest, builds[1].Image.Digest);

        var third = await BuildAsync(w, dockerfile);
        Assert.Empty(third.Ran);
        Assert.Equal(builds[0].Image.Digest, third.Image.Digest);
    }

    /// <summary>Cancels the build when a line containing a marker is logged (a RUN's output), and records every line.</summary>
    private sealed class CancellingLogger(CancellationTokenSource cancel, string marker) : ILogger
    {
        public void Info(string message)
        {
            if (message.Contains(marker, StringComparison.Ordinal)) cancel.Cancel();
        }

        public void Detail(string message) { }
        public void Warning(string code, string message, SourceSpan? span = null) { }
    }
}
