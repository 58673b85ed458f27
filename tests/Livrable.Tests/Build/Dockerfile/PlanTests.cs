using System.Text.Json;
using System.Text.RegularExpressions;
using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// The plan of a Dockerfile build (issue 13 item 1, <c>-t:ContainerPlan</c>, <see cref="ImagePlanner"/>): every step of
/// the stages the target needs with its key and CACHED, would run or unknown; before and after a real build (with
/// runc), after an input changes, and for an ADD of a URL; the digest it prints when everything is cached is the one
/// skopeo reads from the built tarball; a plan writes nothing in the state folder (but the context's digest index) or
/// the output; and the MSBuild target prints it for a project.
/// </summary>
public sealed partial class PlanTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string MultiStage = """
        FROM scratch AS tools
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]

        FROM tools AS build
        WORKDIR /src
        COPY data/ ./
        RUN cat a.txt b.txt > /out.txt

        FROM scratch AS final
        ENV MODE=plan
        COPY --from=build /out.txt /out.txt
        LABEL stage=final

        """;

    private string Context => _temp["context"];
    private string State => _temp["state"];

    /// <summary>A folder of the test's temporary folder, created.</summary>
    private string Folder(params string[] parts) => Directory.CreateDirectory(_temp[parts]).FullName;

    private void Write(string relative, string content)
    {
        string path = Path.Combine(Context, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    private ImageBuildRequest Request(string archive) => new()
    {
        Platform = Platform.FromRuntimeIdentifier("linux-x64"),
        Repository = "livrable-test/plan",
        Tags = ["v1"],
        ArchivePath = archive,
        StateDirectory = State,
        Dockerfile = new DockerfileBuild { DockerfilePath = Path.Combine(Context, "Dockerfile"), ContextDirectory = Context },
    };

    /// <summary>The plan's step lines: (stage, status, text), in the order printed.</summary>
    private static List<(string Stage, string Status, string Text)> Steps(ImagePlanResult plan)
    {
        var steps = new List<(string, string, string)>();
        string stage = "";
        foreach (string line in plan.Lines)
        {
            if (line.StartsWith("  stage ", StringComparison.Ordinal)) stage = line["  stage ".Length..];
            var m = StepLine().Match(line);
            if (m.Success) steps.Add((stage, m.Groups["status"].Value.Trim(), m.Groups["text"].Value));
        }
        return steps;
    }

    [GeneratedRegex(@"^    \[\s*\d+\] (?<key>[0-9a-f]{12}| {12})  (?<status>CACHED    |would run |unknown   |          ) (?<text>.*)$")]
    private static partial Regex StepLine();

    /// <summary>
    /// Every file of a folder with its size and last write time, and every folder, but the context's digest index
    /// (<c>cache/files/</c>: a plan may save it, as the brief allows).
    /// </summary>
    private static List<string> Listing(string folder)
        => !Directory.Exists(folder) ? [] : Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories)
            .Select(p => (Path: p, Relative: Path.GetRelativePath(folder, p)))
            .Where(p => !p.Relative.StartsWith(Path.Combine("cache", "files"), StringComparison.Ordinal))
            .Select(p => File.Exists(p.Path) ? $"{p.Relative} {new FileInfo(p.Path).Length} {File.GetLastWriteTimeUtc(p.Path):O}" : p.Relative + "/")
            .Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// A .NET console app project on src/Sdk in its own folder, <paramref name="properties"/> in its PropertyGroup, and
    /// a runner of <c>dotnet msbuild</c> on it with its own state folder and SDK cache.
    /// </summary>
    private (string Dir, Func<string[], Task<string>> Dotnet) AppProject(string name, string properties)
    {
        string dir = Folder(name);
        SdkProjects.WriteDirectoryBuildFiles(dir);
        File.WriteAllText(Path.Combine(dir, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ContainerImageTag>v1</ContainerImageTag>
                {properties}
              </PropertyGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), "System.Console.WriteLine(\"hi\");\n");
        string project = Path.Combine(dir, "app.csproj");
        string state = Folder("state-" + name);
        return (dir, async arguments => (await Tools.DotnetAsync(_temp.Path, "msbuild", project, [.. arguments, $"-p:ContainerStateDirectory={state}"],
            new Dictionary<string, string> { ["XDG_CACHE_HOME"] = _temp["cache"] })).Output);
    }

    private static async Task<ImagePlanResult> PlanAsync(ImageBuildRequest request, RecordingLogger? logger = null)
        => await ImagePlanner.PlanAsync(request, logger ?? new RecordingLogger(), CancellationToken.None);

    [Fact]
    public async Task A_multi_stage_plan_says_what_would_run_then_what_is_cached_and_the_digest_skopeo_reads_from_the_built_image()
    {
        File.Copy(Tools.Require("busybox"), Path.Combine(Directory.CreateDirectory(Context).FullName, "busybox"));
        Write("data/a.txt", "alpha\n");
        Write("data/b.txt", "beta\n");
        Write("Dockerfile", MultiStage);
        string[] keyed = ["COPY busybox /bin/busybox", "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]", "WORKDIR /src", "COPY data/ ./",
            "RUN cat a.txt b.txt > /out.txt", "COPY --from=build /out.txt /out.txt"];

        // Nothing built yet: every keyed step would run, metadata steps and FROM have no status, and no digest.
        var logger = new RecordingLogger();
        var before = await PlanAsync(Request(_temp["plan-0", "image.tar"]), logger);
        var steps = Steps(before);
        Assert.Equal(["tools", "tools", "tools", "build", "build", "build", "build", "final", "final", "final", "final"], steps.Select(s => s.Stage));
        Assert.Equal(keyed, steps.Where(s => s.Status == "would run").Select(s => s.Text));
        Assert.Equal(["ENV MODE=plan", "LABEL stage=final"], steps.Where(s => s.Status == "" && !s.Text.StartsWith("FROM ", StringComparison.Ordinal)).Select(s => s.Text));
        Assert.Null(before.Digest);
        Assert.Equal(6, before.StepsToRun);
        Assert.Contains(logger.Lines, l => l == "info: 6 steps would run; the image digest is known after they run. Nothing was run or written.");
        Assert.False(File.Exists(_temp["plan-0", "image.tar"]));
        // Nothing ran: no layer, no record, no progress line at the info level.
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(State, "blobs", "sha256")));
        Assert.DoesNotContain(logger.Lines, l => l.StartsWith("info: [", StringComparison.Ordinal));

        string tarball = Path.Combine(Folder("build-1"), "image.tar");
        await ImageBuilder.BuildAsync(Request(tarball), new RecordingLogger(), CancellationToken.None);
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--format", "{{.Digest}}", $"oci-archive:{tarball}:v1");
        string built = inspect.Stdout.Trim();
        Assert.StartsWith("sha256:", built);

        // After the build: every keyed step is cached, and the digest is the built one. The plan wrote nothing, and
        // marked nothing used: the files are made two days old, so a touch (StateFolder.Touch) would show.
        foreach (string file in Directory.EnumerateFiles(State, "*", SearchOption.AllDirectories))
            File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddDays(-2));
        var state = Listing(State);
        var outputs = Listing(_temp["build-1"]);
        logger = new RecordingLogger();
        var after = await PlanAsync(Request(_temp["plan-1", "image.tar"]), logger);
        Assert.Equal(keyed, Steps(after).Where(s => s.Status == "CACHED").Select(s => s.Text));
        Assert.DoesNotContain(Steps(after), s => s.Status is "would run" or "unknown");
        Assert.Equal(0, after.StepsToRun);
        Assert.Equal(built, after.Digest?.ToString());
        Assert.Contains($"info: Every step is cached. Digest when built: {built} (nothing was run or written)", logger.Lines);
        Assert.Equal(state, Listing(State));
        Assert.Equal(outputs, Listing(_temp["build-1"]));
        Assert.False(File.Exists(_temp["plan-1", "image.tar"]));

        // An input of the build stage changes: from its COPY on, and the final COPY --from, would run; tools stays cached.
        Write("data/b.txt", "BETA\n");
        var changed = await PlanAsync(Request(_temp["plan-2", "image.tar"]));
        Assert.Equal(["COPY busybox /bin/busybox", "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]", "WORKDIR /src"],
            Steps(changed).Where(s => s.Status == "CACHED").Select(s => s.Text));
        Assert.Equal(["COPY data/ ./", "RUN cat a.txt b.txt > /out.txt", "COPY --from=build /out.txt /out.txt"],
            Steps(changed).Where(s => s.Status == "would run").Select(s => s.Text));
        Assert.Null(changed.Digest);
        Assert.Equal(state, Listing(State));
    }

    [Fact]
    public async Task A_step_after_an_ADD_of_a_URL_is_known_only_after_running_and_the_URL_is_not_fetched()
    {
        Directory.CreateDirectory(Context);
        Write("a.txt", "a\n");
        // Port 9 (discard): a plan never connects, so nothing listens there.
        Write("Dockerfile", """
            FROM scratch
            COPY a.txt /a.txt
            ADD http://127.0.0.1:9/file.txt /file.txt
            COPY a.txt /b.txt
            ENV X=1

            """);
        var plan = await PlanAsync(Request(_temp["plan", "image.tar"]));
        var steps = Steps(plan);
        Assert.Equal([("would run", "COPY a.txt /a.txt"), ("unknown", "ADD http://127.0.0.1:9/file.txt /file.txt"), ("unknown", "COPY a.txt /b.txt"), ("", "ENV X=1")],
            steps.Skip(1).Select(s => (s.Status, s.Text)));
        Assert.Contains(plan.Lines, l => l.Contains("(its inputs are known only by running it", StringComparison.Ordinal));
        Assert.Contains(plan.Lines, l => l.Contains("(its key follows from what \"ADD http://127.0.0.1:9/file.txt /file.txt\" makes)", StringComparison.Ordinal));
        Assert.Equal(3, plan.StepsToRun);
        Assert.Null(plan.Digest);
    }

    /// <summary>Two platforms: each image's plan, then the index digest the build prints, once every step is cached.</summary>
    [Fact]
    public async Task A_two_platform_plan_ends_with_the_index_digest_the_build_prints()
    {
        Directory.CreateDirectory(Context);
        Write("a.txt", "a\n");
        Write("Dockerfile", """
            FROM scratch
            ARG TARGETARCH
            COPY a.txt /a-$TARGETARCH.txt
            LABEL arch=$TARGETARCH

            """);
        var amd64 = Platform.FromRuntimeIdentifier("linux-x64");
        var arm64 = Platform.FromRuntimeIdentifier("linux-arm64");
        ImageBuildRequest Request2(string archive) => Request(archive) with { Platform = amd64, Platforms = [amd64, arm64] };

        var before = await PlanAsync(Request2(_temp["plan-0", "image.tar"]));
        Assert.Equal(2, before.StepsToRun);
        Assert.Equal(["COPY a.txt /a-$TARGETARCH.txt", "COPY a.txt /a-$TARGETARCH.txt"], Steps(before).Where(s => s.Status == "would run").Select(s => s.Text));
        Assert.Null(before.Digest);

        var built = await ImageBuilder.BuildAsync(Request2(Path.Combine(Folder("build"), "image.tar")), new RecordingLogger(), CancellationToken.None);
        var after = await PlanAsync(Request2(_temp["plan-1", "image.tar"]));
        Assert.Equal(0, after.StepsToRun);
        Assert.Equal(built.Digest, after.Digest);
        Assert.Equal(built.PlatformDigests.Select(p => $"  image {p.Platform} when built: {p.Digest}"),
            after.Lines.Where(l => l.StartsWith("  image ", StringComparison.Ordinal)));
    }

    /// <summary>
    /// Properties mode: each layer's key from its inputs' status, nothing read. Before a build both layers would be
    /// written; after it both are cached and the digest is the one skopeo reads from the tarball; an edited file makes
    /// its layer alone run again. The plan writes nothing in the state folder.
    /// </summary>
    [Fact]
    public async Task A_properties_plan_says_which_layers_would_be_written_then_the_digest_skopeo_reads()
    {
        string app = Folder("app");
        string config = Folder("config");
        File.WriteAllText(Path.Combine(app, "app.txt"), "one\n");
        File.WriteAllText(Path.Combine(config, "settings.json"), "{}\n");
        // Older than the racy window, so the build records both layers.
        foreach (string file in new[] { Path.Combine(app, "app.txt"), Path.Combine(config, "settings.json") })
            File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(-5));
        await Task.Delay(300);
        ImageBuildRequest Properties(string archive) => Request(archive) with
        {
            Dockerfile = null,
            BaseImage = "scratch",
            Layers = [new DirectoryLayerSpec(config, "/etc/app") { CreatedBy = "config" }, new DirectoryLayerSpec(app, "/app") { CreatedBy = "app" }],
        };

        var before = await PlanAsync(Properties(_temp["plan-0", "image.tar"]));
        Assert.Equal(2, before.StepsToRun);
        Assert.Equal(["config", "app"], Steps(before).Where(s => s.Status == "would run").Select(s => s.Text));
        Assert.Null(before.Digest);

        string tarball = Path.Combine(Folder("build"), "image.tar");
        var built = await ImageBuilder.BuildAsync(Properties(tarball), new RecordingLogger(), CancellationToken.None);
        var state = Listing(State);
        var after = await PlanAsync(Properties(_temp["plan-1", "image.tar"]));
        Assert.Equal(0, after.StepsToRun);
        Assert.Equal(["config", "app"], Steps(after).Where(s => s.Status == "CACHED").Select(s => s.Text));
        Assert.Equal(built.Digest, after.Digest);
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--format", "{{.Digest}}", $"oci-archive:{tarball}:v1");
        Assert.Equal(after.Digest.ToString(), inspect.Stdout.Trim());
        Assert.Equal(state, Listing(State));
        Assert.False(File.Exists(_temp["plan-1", "image.tar"]));

        File.WriteAllText(Path.Combine(app, "app.txt"), "two\n");
        var edited = await PlanAsync(Properties(_temp["plan-2", "image.tar"]));
        Assert.Equal([("CACHED", "config"), ("would run", "app")], Steps(edited).Where(s => s.Status != "").Select(s => (s.Status, s.Text)));
        Assert.Null(edited.Digest);
    }

    [Fact]
    public async Task A_plan_of_an_index_of_images_published_per_platform_is_LIV2500()
    {
        var request = Request(_temp["plan", "image.tar"]) with
        {
            Dockerfile = null,
            PlatformImages = [new PlatformImage(Platform.FromRuntimeIdentifier("linux-x64"), "archive:" + _temp["x64.tar"])],
        };
        var e = await Assert.ThrowsAsync<LivrableException>(() => PlanAsync(request));
        Assert.Equal(DiagnosticCodes.PlanOfPrebuiltImages, e.Code);
    }

    /// <summary>
    /// A .NET app in properties mode: <c>dotnet publish -p:ContainerDryRun=true</c> publishes the app and plans its
    /// layers instead of building the image (would run, no tarball); after a publish that builds it, the dry run says
    /// every layer is cached and gives the digest that publish printed.
    /// </summary>
    [Fact]
    public async Task A_dry_run_publish_of_a_dotnet_app_plans_its_layers_and_gives_the_digest_publish_then_prints()
    {
        var (dir, run) = AppProject("dotnet-app", "<ContainerBaseImage>scratch</ContainerBaseImage>");
        Task<string> Dotnet(params string[] arguments) => run(arguments);

        string first = await Dotnet("-restore", "-t:Publish", "-p:ContainerDryRun=true");
        Assert.DoesNotContain("error", first);
        Assert.Matches(@"\[ 2\] [0-9a-f]{12}  would run  ", first);
        Assert.Contains("would run; the image digest is known after they run.", first);
        Assert.DoesNotContain("Built ", first);
        Assert.Empty(Directory.EnumerateFiles(dir, "*.tar", SearchOption.AllDirectories));

        string publish = await Dotnet("-t:PublishContainer");
        var builtLine = Regex.Match(publish, @"Built \S+ (?<digest>sha256:[0-9a-f]{64})");
        Assert.True(builtLine.Success, publish);
        string digest = builtLine.Groups["digest"].Value;
        string tarball = Directory.EnumerateFiles(dir, "*.tar", SearchOption.AllDirectories).Single();
        Assert.Equal(digest, (await Tools.RunCheckedAsync("skopeo", "inspect", "--format", "{{.Digest}}", $"oci-archive:{tarball}:v1")).Stdout.Trim());

        string again = await Dotnet("-t:Publish", "-p:ContainerDryRun=true");
        Assert.DoesNotMatch(@"\[ \d\] [0-9a-f]{12}  would run", again);
        Assert.Contains($"Every step is cached. Digest when built: {digest}", again);
    }

    /// <summary>
    /// <c>dotnet msbuild -t:ContainerPlan</c> on a project with a Dockerfile: the plan before the image exists, then
    /// after <c>-t:PublishContainer</c> the digest that publish printed and recorded; the plan leaves the tarball and
    /// the image record as they were. <c>dotnet publish -p:ContainerDryRun=true</c> prints the same plan.
    /// </summary>
    [Fact]
    public async Task The_ContainerPlan_target_prints_the_plan_and_the_digest_publish_then_records()
    {
        var (dir, run) = AppProject("app", "<ContainerDockerfile>Dockerfile</ContainerDockerfile>");
        Task<string> Dotnet(params string[] arguments) => run(arguments);
        File.WriteAllText(Path.Combine(dir, "hello.txt"), "hello\n");
        File.WriteAllText(Path.Combine(dir, "Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\nCMD [\"/hello\"]\n");

        string first = await Dotnet("-restore", "-t:ContainerPlan");
        Assert.DoesNotContain("error", first);
        Assert.Matches(@"\[ 2\] [0-9a-f]{12}  would run  COPY hello.txt /hello.txt", first);
        Assert.Contains("1 step would run; the image digest is known after they run.", first);
        Assert.Empty(Directory.EnumerateFiles(dir, "*.tar", SearchOption.AllDirectories));

        string publish = await Dotnet("-t:PublishContainer");
        var builtLine = Regex.Match(publish, @"Built \S+ (?<digest>sha256:[0-9a-f]{64})");
        Assert.True(builtLine.Success, publish);
        string digest = builtLine.Groups["digest"].Value;
        string tarball = Directory.EnumerateFiles(dir, "*.tar", SearchOption.AllDirectories).Single();
        Assert.Equal(digest, (await Tools.RunCheckedAsync("skopeo", "inspect", "--format", "{{.Digest}}", $"oci-archive:{tarball}:v1")).Stdout.Trim());
        string record = Directory.EnumerateFiles(Path.Combine(dir, "obj"), "image.record", SearchOption.AllDirectories).Single();
        Assert.Contains("digest=" + digest, File.ReadAllText(record));
        var outputs = Listing(Path.GetDirectoryName(tarball)!);
        string recordText = File.ReadAllText(record);

        string second = await Dotnet("-t:ContainerPlan");
        Assert.Matches(@"\[ 2\] [0-9a-f]{12}  CACHED     COPY hello.txt /hello.txt", second);
        Assert.Contains($"Every step is cached. Digest when built: {digest}", second);
        Assert.Equal(outputs, Listing(Path.GetDirectoryName(tarball)!));
        Assert.Equal(recordText, File.ReadAllText(record));

        string dryRun = await Dotnet("-t:Publish", "-p:ContainerDryRun=true", "-p:ContainerIncremental=false");
        Assert.Contains($"Every step is cached. Digest when built: {digest}", dryRun);
        Assert.DoesNotContain("Built ", dryRun);
        Assert.Equal(outputs, Listing(Path.GetDirectoryName(tarball)!));
    }
}
