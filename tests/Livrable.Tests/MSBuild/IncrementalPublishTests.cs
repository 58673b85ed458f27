using System.Text.RegularExpressions;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.MSBuild;

/// <summary>
/// Incremental publish (src/Sdk/README.md, "Incremental publish"): a publish with no change skips the image step
/// through MSBuild's own up-to-date check of <c>_LivrableBuildImage</c> and prints the recorded line as
/// <c>Up to date: ...</c> with the same digest; each kind of change builds again. Tiny projects in a temporary folder
/// on src/Sdk's real targets: <c>base</c>, an image project (busybox and a text file as a folder layer, FROM scratch),
/// and on it a .NET console app (properties mode) and a Dockerfile project (base as the named context). Each
/// <c>dotnet publish</c> costs seconds, so each test walks through its changes in order. In the registry collection
/// for the push test's registry.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed partial class IncrementalPublishTests : IDisposable
{
    private const string SkippedLine = "Skipping target \"_LivrableBuildImage\" because all output files are up-to-date";
    private readonly TempDirectory _temp = new();
    private readonly RegistryFixture _registry;

    public IncrementalPublishTests(RegistryFixture registry)
    {
        _registry = registry;
        // As samples/Directory.Build.*: an app gets build/Livrable.Sdk.props|targets as a PackageReference would give
        // them, an image project imports Sdk/Sdk.props|targets itself; the task assembly is this test's copy.
        SdkProjects.WriteDirectoryBuildFiles(_temp.Path, $"<ContainerStateDirectory>{_temp["state"]}</ContainerStateDirectory>");
        Directory.CreateDirectory(_temp["base", "root", "bin"]);
        File.Copy(Tools.Require("busybox"), _temp["base", "root", "bin", "busybox"]);
        File.WriteAllText(_temp["base", "root", "hello.txt"], "hello from base\n");
        File.WriteAllText(_temp["base", "base.csproj"], $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerTag>v1</ContainerTag>
              </PropertyGroup>
              <ItemGroup>
                <ContainerLayer Include="root" Destination="/" />
                <ContainerEntrypoint Include="/bin/busybox;cat;/hello.txt" />
              </ItemGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task An_app_is_up_to_date_until_its_source_a_property_or_its_base_changes()
    {
        Directory.CreateDirectory(_temp["app"]);
        File.WriteAllText(_temp["app", "app.csproj"], """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ContainerTag>v1</ContainerTag>
              </PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="../base/base.csproj" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(_temp["app", "Program.cs"], "System.Console.WriteLine(\"one\");\n");
        string project = _temp["app", "app.csproj"];

        var first = await PublishAsync(project);
        string d1 = Built(first, "app:v1");
        Built(first, "base:v1");
        await ValidateAsync(Tarball(first, "app:v1"), "v1");

        // Nothing changed: both image steps are skipped by MSBuild, and report the recorded lines.
        var same = await PublishAsync(project);
        Assert.Equal(2, Regex.Matches(same.Output, Regex.Escape(SkippedLine)).Count);
        Assert.Equal(d1, UpToDate(same, "app:v1"));
        UpToDate(same, "base:v1");
        Assert.Equal(Tarball(first, "app:v1"), Tarball(same, "app:v1"));

        // A source file: the publish output changes.
        File.WriteAllText(_temp["app", "Program.cs"], "System.Console.WriteLine(\"two\");\n");
        var source = await PublishAsync(project);
        string d2 = Built(source, "app:v1");
        Assert.NotEqual(d1, d2);
        UpToDate(source, "base:v1");

        // A property given on the command line (ContainerUser is in image.inputs), then the same again.
        var user = await PublishAsync(project, "-p:ContainerUser=1000");
        string d3 = Built(user, "app:v1");
        Assert.NotEqual(d2, d3);
        Assert.Equal(d3, UpToDate(await PublishAsync(project, "-p:ContainerUser=1000"), "app:v1"));

        // The tarball deleted: built again, to the same digest.
        File.Delete(Tarball(first, "app:v1"));
        Assert.Equal(d3, Built(await PublishAsync(project, "-p:ContainerUser=1000"), "app:v1"));

        // ContainerNoCache=true forces the step (and so would ContainerIncremental=false).
        Assert.Equal(d3, Built(await PublishAsync(project, "-p:ContainerUser=1000", "-p:ContainerNoCache=true"), "app:v1"));

        // The referenced base project changed: it builds, and so does the app on it.
        File.WriteAllText(_temp["base", "root", "hello.txt"], "hello again\n");
        var rebased = await PublishAsync(project, "-p:ContainerUser=1000");
        Built(rebased, "base:v1");
        string d4 = Built(rebased, "app:v1");
        Assert.NotEqual(d3, d4);
        await ValidateAsync(Tarball(rebased, "app:v1"), "v1");
    }

    [Fact]
    public async Task A_Dockerfile_image_is_up_to_date_until_its_Dockerfile_dockerignore_context_or_named_context_changes()
    {
        string dir = _temp["ctx"];
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        File.WriteAllText(Path.Combine(dir, "ctx.csproj"), $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerTag>v1</ContainerTag>
              </PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="../base/base.csproj" ContainerContextName="base" />
              </ItemGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Dockerfile"), "FROM base\nCOPY . /data/\n");
        File.WriteAllText(Path.Combine(dir, ".dockerignore"), "bin/\nobj/\n*.csproj\nDockerfile\n.dockerignore\nlater.txt\n");
        File.WriteAllText(Path.Combine(dir, "a.txt"), "a\n");
        File.WriteAllText(Path.Combine(dir, "sub", "b.txt"), "b\n");
        File.WriteAllText(Path.Combine(dir, "later.txt"), "ignored, for now\n");
        string project = Path.Combine(dir, "ctx.csproj");

        var first = await PublishAsync(project);
        string d1 = Built(first, "ctx:v1");
        string rootfs = await ValidateAsync(Tarball(first, "ctx:v1"), "v1");
        Assert.Equal("b\n", File.ReadAllText(Path.Combine(rootfs, "data", "sub", "b.txt")));
        Assert.False(File.Exists(Path.Combine(rootfs, "data", "later.txt")));

        var same = await PublishAsync(project);
        Assert.Equal(2, Regex.Matches(same.Output, Regex.Escape(SkippedLine)).Count);
        Assert.Equal(d1, UpToDate(same, "ctx:v1"));

        // A context file.
        File.WriteAllText(Path.Combine(dir, "sub", "b.txt"), "b, changed\n");
        string d2 = Built(await PublishAsync(project), "ctx:v1");
        Assert.NotEqual(d1, d2);

        // The .dockerignore: later.txt is now in the context.
        File.WriteAllText(Path.Combine(dir, ".dockerignore"), "bin/\nobj/\n*.csproj\nDockerfile\n.dockerignore\n");
        string d3 = Built(await PublishAsync(project), "ctx:v1");
        Assert.NotEqual(d2, d3);

        // The Dockerfile.
        File.WriteAllText(Path.Combine(dir, "Dockerfile"), "FROM base\nCOPY . /data/\nLABEL step=four\n");
        string d4 = Built(await PublishAsync(project), "ctx:v1");
        Assert.NotEqual(d3, d4);

        // A file added with a timestamp older than the image (as cp -p or tar -x would): image.inputs lists the names.
        File.WriteAllText(Path.Combine(dir, "old.txt"), "old\n");
        File.SetLastWriteTimeUtc(Path.Combine(dir, "old.txt"), new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        string d5 = Built(await PublishAsync(project), "ctx:v1");
        Assert.NotEqual(d4, d5);

        // The named context's project changed: both build.
        File.WriteAllText(_temp["base", "root", "hello.txt"], "hello again\n");
        var rebased = await PublishAsync(project);
        Built(rebased, "base:v1");
        string d6 = Built(rebased, "ctx:v1");
        Assert.NotEqual(d5, d6);
        Assert.Equal(d6, UpToDate(await PublishAsync(project), "ctx:v1"));
        await ValidateAsync(Tarball(rebased, "ctx:v1"), "v1");
    }

    /// <summary>
    /// A push with no change is skipped too (the record stands for it: see src/Sdk/README.md for the risk), until
    /// ContainerNoCache=true forces it. What the registry holds is read back by skopeo and run with runc.
    /// </summary>
    [Fact]
    public async Task A_push_with_no_change_is_skipped_until_forced()
    {
        string project = _temp["base", "base.csproj"];
        string registry = $"-p:ContainerRegistry={_registry.Registry}";
        string reference = $"{_registry.Registry}/base:v1";

        string d1 = Built(await PublishAsync(project, registry), reference);
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--tls-verify=false", $"docker://{reference}");
        using (var doc = System.Text.Json.JsonDocument.Parse(inspect.Stdout))
            Assert.Equal(d1, doc.RootElement.GetProperty("Digest").GetString());
        await Tools.RunCheckedAsync("skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", $"docker://{reference}", $"oci:{_temp["pulled"]}:v1");
        await Tools.RunCheckedAsync("umoci", "unpack", "--image", $"{_temp["pulled"]}:v1", _temp["bundle"]);
        Assert.Equal("hello from base\n", await Runc.RunAsync(_temp["bundle"]));

        Assert.Equal(d1, UpToDate(await PublishAsync(project, registry), reference));
        var forced = await PublishAsync(project, registry, "-p:ContainerNoCache=true");
        Assert.Equal(d1, Built(forced, reference));
        Assert.Contains("uploaded 0 blobs", forced.Stdout);
    }

    /// <summary>
    /// The rule for images named by a registry tag: the image step always runs (they are resolved again on every
    /// build). Evaluated only (the targets that compute the inputs), so no registry is needed.
    /// </summary>
    [Theory]
    [InlineData("FROM scratch\nCOPY a.txt /\n", null)]
    [InlineData("FROM alpine:3.20\n", "alpine:3.20")]
    [InlineData("FROM alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000\n", null)]
    [InlineData("FROM scratch AS build\nFROM --platform=linux/amd64 build AS final\nCOPY --from=0 / /\n", null)]
    [InlineData("ARG BASE=alpine\nFROM $BASE\n", "alpine")]
    [InlineData("ARG V=3.20\nFROM alpine:${V} AS a\nFROM a\n", "alpine:3.20")]
    [InlineData("FROM scratch AS Tools\nFROM scratch\nCOPY --from=TOOLS / /\nCOPY --from=0 / /\n", null)]
    [InlineData("FROM alpine:3.20 AS base\nFROM base\n", null)]
    [InlineData("# escape=`\nFROM `\n  scratch\nCOPY `\n--from=busybox:1.36 /bin/busybox /\n", "busybox:1.36")]
    [InlineData("FROM scratch\nCOPY --from=busybox:1.36 /bin/busybox /\n", "busybox:1.36")]
    [InlineData("# FROM alpine:3.20 is only a comment\nfrom base\nRUN --mount=type=bind,from=registry.example.com/tools:1,target=/t true\n", "registry.example.com/tools:1")]
    public async Task An_image_named_by_a_registry_tag_always_builds(string dockerfile, string? unpinned)
    {
        string dir = _temp["rule"];
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "Dockerfile"), dockerfile);
        File.WriteAllText(Path.Combine(dir, "rule.csproj"), $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <ItemGroup>
                <ContainerNamedContext Include="base" Value="scratch" />
              </ItemGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
        string always = await AlwaysBuildAsync(Path.Combine(dir, "rule.csproj"));
        if (unpinned is null) Assert.Equal("", always);
        else Assert.StartsWith($"'{unpinned}' is an image in a registry by tag", always);
    }

    [Fact]
    public async Task A_base_image_by_tag_always_builds_and_one_by_digest_does_not()
    {
        Assert.StartsWith("'mcr.microsoft.com/dotnet/runtime:10.0' is an image in a registry by tag",
            await AlwaysBuildAsync(_temp["base", "base.csproj"], "-p:ContainerBaseImage=mcr.microsoft.com/dotnet/runtime:10.0"));
        Assert.Equal("", await AlwaysBuildAsync(_temp["base", "base.csproj"],
            "-p:ContainerBaseImage=mcr.microsoft.com/dotnet/runtime@sha256:0000000000000000000000000000000000000000000000000000000000000000"));
        Assert.Equal("ContainerIncremental is false", await AlwaysBuildAsync(_temp["base", "base.csproj"], "-p:ContainerIncremental=false"));
    }

    /// <summary>
    /// When the step runs whatever changed (here: a base by registry tag), no folder is walked for its inputs: the
    /// engine walks the context anyway, and a second walk (20,000 files: a third of a second by MSBuild's glob) would
    /// compare nothing. With the base pinned, WriteContainerImageInputs walks the context (or a ContainerLayer folder)
    /// and compares it with the record; its files are never MSBuild items (one per file cost more than the step).
    /// </summary>
    [Fact]
    public async Task A_step_that_always_runs_walks_no_folder_for_its_inputs()
    {
        string dir = _temp["walk"];
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        File.WriteAllText(Path.Combine(dir, "sub", "a.txt"), "a\n");
        File.WriteAllText(Path.Combine(dir, "walk.csproj"), $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <ItemGroup>
                <ContainerLayer Include="sub" Destination="/layer/" />
              </ItemGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
        string project = Path.Combine(dir, "walk.csproj");
        string file = Path.Combine(dir, "sub", "a.txt");

        File.WriteAllText(Path.Combine(dir, "Dockerfile"), "FROM alpine:3.20\nCOPY sub /sub\n");
        Assert.Null(await WalkedAsync(project));
        File.WriteAllText(Path.Combine(dir, "Dockerfile"), "FROM alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000\nCOPY sub /sub\n");
        // The project folder, sub/, its file, the Dockerfile and the project file; obj/ (no .dockerignore) too.
        Assert.True(await WalkedAsync(project) >= 5);
        Assert.DoesNotContain(file, await InputFilesAsync(project));
        Assert.Null(await WalkedAsync(project, "-p:ContainerNoCache=true"));

        // Properties mode: a ContainerLayer folder (itself and its file), the same way.
        File.Delete(Path.Combine(dir, "Dockerfile"));
        Assert.Null(await WalkedAsync(project, "-p:ContainerBaseImage=alpine:3.20"));
        Assert.Equal(2, await WalkedAsync(project, "-p:ContainerBaseImage=scratch"));
        Assert.DoesNotContain(file, await InputFilesAsync(project, "-p:ContainerBaseImage=scratch"));
    }

    /// <summary>How many entries WriteContainerImageInputs compared with the record (its detailed log), or null when it walked none.</summary>
    private async Task<int?> WalkedAsync(string project, params string[] properties)
    {
        var result = await Tools.DotnetAsync(_temp.Path, "msbuild", project, ["-t:_LivrableComputeImageInputs", "-v:d", .. properties]);
        result.EnsureSuccess();
        var match = Regex.Match(result.Stdout, @"Compared (\d+) entries of the image step's input folders");
        return match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    /// <summary>The files <c>_LivrableBuildImage</c> compares with its record (<c>_LivrableImageInput</c>), full paths.</summary>
    private async Task<IReadOnlyList<string>> InputFilesAsync(string project, params string[] properties)
    {
        var result = await Tools.DotnetAsync(_temp.Path, "msbuild", project,
            ["-t:_LivrableComputeImageInputs", "-getItem:_LivrableImageInput", .. properties]);
        result.EnsureSuccess();
        using var doc = System.Text.Json.JsonDocument.Parse(result.Stdout);
        return doc.RootElement.GetProperty("Items").GetProperty("_LivrableImageInput").EnumerateArray()
            .Select(i => i.GetProperty("FullPath").GetString()!).ToList();
    }

    private async Task<string> AlwaysBuildAsync(string project, params string[] properties)
    {
        var result = await Tools.DotnetAsync(_temp.Path, "msbuild", project,
            ["-t:_LivrableComputeImageInputs", "-getProperty:_LivrableImageAlwaysBuild", .. properties]);
        result.EnsureSuccess();
        return result.Stdout.Trim();
    }

    private async Task<ToolResult> PublishAsync(string project, params string[] properties)
        => (await Tools.DotnetAsync(_temp.Path, "publish", project, ["-v:d", .. properties])).EnsureSuccess();

    /// <summary>The digest on the final line of a build of <paramref name="reference"/>; fails when it was not built.</summary>
    private static string Built(ToolResult publish, string reference)
    {
        var match = Regex.Match(publish.Stdout, $@"^\s*(?:\d+>)?\s*Built {Regex.Escape(reference)} (sha256:[0-9a-f]{{64}}) \([^)]*\) -> \S+ in [0-9.]+s", RegexOptions.Multiline);
        Assert.True(match.Success, $"{reference} was not built:\n{Tail(publish)}");
        Assert.DoesNotContain($"Up to date: {reference} ", publish.Stdout);
        return match.Groups[1].Value;
    }

    /// <summary>The digest on the "Up to date" line of <paramref name="reference"/>; fails when it was built.</summary>
    private static string UpToDate(ToolResult publish, string reference)
    {
        var match = Regex.Match(publish.Stdout, $@"^\s*(?:\d+>)?\s*Up to date: {Regex.Escape(reference)} (sha256:[0-9a-f]{{64}}) \([^)]*\) -> \S+\s*$", RegexOptions.Multiline);
        Assert.True(match.Success, $"{reference} was not reported up to date:\n{Tail(publish)}");
        Assert.DoesNotMatch($@"(?m)^\s*(?:\d+>)?\s*Built {Regex.Escape(reference)} ", publish.Stdout);
        return match.Groups[1].Value;
    }

    /// <summary>The tarball named on the final line (built or up to date) of <paramref name="reference"/>.</summary>
    private static string Tarball(ToolResult publish, string reference)
        => Regex.Match(publish.Stdout, $@"(?m)^\s*(?:\d+>)?\s*(?:Built|Up to date:) {Regex.Escape(reference)} sha256:[0-9a-f]{{64}} \([^)]*\) -> (\S+)").Groups[1].Value;

    private async Task<string> ValidateAsync(string tarball, string tag)
    {
        Assert.True(File.Exists(tarball), tarball);
        var image = await new ArchiveImage(tarball, tag, new BlobStore(_temp["reader"]))
            .ResolveAsync(Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        return await ImageValidator.ValidateArchiveAsync(tarball, image, tag, _temp["check-" + Guid.NewGuid().ToString("N")[..8]]);
    }

    private static string Tail(ToolResult result)
    {
        var lines = result.Output.Split('\n').Where(l => l.Contains("Built") || l.Contains("Up to date") || l.Contains("error") || l.Contains("Skipping target")).ToList();
        return string.Join('\n', lines.TakeLast(40));
    }
}
