using System.Text.Json;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.MSBuild;

/// <summary>
/// Evaluates src/Sdk's real props and targets in generated projects with the installed dotnet, as a PackageReference
/// (build/Livrable.Sdk.props|targets, imported from Directory.Build.props|targets, where nuget.g.props|targets would
/// be) and as an SDK (Sdk/Sdk.props|targets). Each dotnet call costs seconds: keep them few.
/// </summary>
public sealed class SdkEvaluationTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A console app with Livrable as a PackageReference would give it; the task assembly is this test's copy.</summary>
    private string AppProject(string name, string properties = "")
    {
        string dir = Path.Combine(_temp.Path, name);
        Directory.CreateDirectory(dir);
        SdkProjects.WriteDirectoryBuildFiles(dir);
        File.WriteAllText(Path.Combine(dir, name + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                {properties}
              </PropertyGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), "System.Console.WriteLine(\"hi\");\n");
        return Path.Combine(dir, name + ".csproj");
    }

    [Fact]
    public async Task AppDefaults()
    {
        string project = AppProject("My_App.Web");
        var p = await PropertiesAsync(project, ["-t:ComputeContainerBaseImage"], "ContainerRepository", "_LivrableImageTags", "ContainerWorkingDirectory", "ContainerRuntimeIdentifier",
            "ContainerBaseImage", "ContainerArchiveOutputPath", "EnableContainer", "ContainerStateDirectory", "IsContainerImageProject");

        // As the .NET SDK normalizes an assembly name that is no valid repository name.
        Assert.Equal("my_app-web", p["ContainerRepository"]);
        Assert.Equal("latest", p["_LivrableImageTags"]);
        Assert.Equal("/app/", p["ContainerWorkingDirectory"]);
        Assert.Equal("linux-x64", p["ContainerRuntimeIdentifier"]);
        Assert.Equal("mcr.microsoft.com/dotnet/runtime:10.0", p["ContainerBaseImage"]);
        Assert.Equal(Path.Combine(Path.GetDirectoryName(project)!, "bin", "Debug", "net10.0", "container", "my_app-web-latest.tar"), p["ContainerArchiveOutputPath"]);
        Assert.Equal("true", p["EnableContainer"]);
        Assert.EndsWith("livrable", p["ContainerStateDirectory"]);
        Assert.Equal("false", p["IsContainerImageProject"]);
    }

    [Fact]
    public async Task SelfContainedAppDefaultsToRuntimeDepsAndItsRuntimeIdentifier()
    {
        string project = AppProject("sc", "<RuntimeIdentifier>linux-arm64</RuntimeIdentifier><SelfContained>true</SelfContained>");
        var p = await PropertiesAsync(project, ["-t:ComputeContainerImageProperties"], "ContainerBaseImage", "ContainerRuntimeIdentifier", "ContainerArchiveOutputPath");

        Assert.Equal("mcr.microsoft.com/dotnet/runtime-deps:10.0", p["ContainerBaseImage"]);
        Assert.Equal("linux-arm64", p["ContainerRuntimeIdentifier"]);
        Assert.EndsWith(Path.Combine("net10.0", "linux-arm64", "container", "sc-latest.tar"), p["ContainerArchiveOutputPath"]);
    }

    [Theory]
    [InlineData("-p:ContainerTag=a", "a")]
    [InlineData("-p:ContainerImageTag=b", "b")]
    [InlineData("-p:ContainerImageTags=c%3Bd", "c;d")]
    [InlineData("-p:ContainerImageTag=b -p:ContainerImageTags=c", "b")]
    [InlineData("-p:ContainerTag=a -p:ContainerImageTag=b -p:ContainerImageTags=c", "a")]
    public async Task TagPrecedence(string arguments, string tags)
    {
        string project = AppProject("tags");
        var p = await PropertiesAsync(project, arguments.Split(' '), "_LivrableImageTags", "ContainerArchiveOutputPath");
        Assert.Equal(tags, p["_LivrableImageTags"]);
        Assert.EndsWith($"tags-{tags.Split(';')[0]}.tar", p["ContainerArchiveOutputPath"]);
    }

    [Fact]
    public async Task ImageProjectCompilesNothingAndBuildsNoImageOnBuild()
    {
        string dir = Path.Combine(_temp.Path, "base");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), "this is not C#");
        string project = Path.Combine(dir, "base.csproj");
        File.WriteAllText(project, $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerTag>bookworm</ContainerTag>
              </PropertyGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);

        var p = await PropertiesAsync(project, ["-t:ComputeContainerBaseImage"], "TargetFramework", "IsContainerImageProject", "ContainerBaseImage", "ContainerWorkingDirectory", "ContainerRepository");
        Assert.Equal("netstandard2.0", p["TargetFramework"]);
        Assert.Equal("true", p["IsContainerImageProject"]);
        Assert.Equal("scratch", p["ContainerBaseImage"]);
        Assert.Equal("", p["ContainerWorkingDirectory"]);
        Assert.Equal("base", p["ContainerRepository"]);

        string output = await DotnetAsync("build", project, "-v:d");
        Assert.DoesNotContain("Target \"CoreCompile\"", output);
        Assert.DoesNotContain("Target \"BuildContainerImage\"", output);
        Assert.False(Directory.Exists(Path.Combine(dir, "bin")) && Directory.EnumerateFiles(Path.Combine(dir, "bin"), "*.dll", SearchOption.AllDirectories).Any());
    }

    /// <summary>
    /// dotnet build builds no image; -t:PublishContainer runs Livrable's task (its request reaches the detailed log
    /// before the engine runs) and none of the .NET SDK's container targets.
    /// </summary>
    [Fact]
    public async Task BuildMakesNoImageAndPublishContainerIsLivrables()
    {
        string project = AppProject("app", $"<ContainerBaseImage>scratch</ContainerBaseImage><ContainerArchiveOutputPath>{_temp.Path}/out/</ContainerArchiveOutputPath>");

        string build = await DotnetAsync("build", project, "-v:d");
        Assert.Contains("Build succeeded", build);
        Assert.DoesNotContain("Target \"BuildContainerImage\"", build);
        Assert.DoesNotContain("Livrable request:", build);

        string publish = await DotnetAsync("msbuild", project, "-t:PublishContainer", "-v:d");
        Assert.Contains("Target \"BuildContainerImage\"", publish);
        Assert.Contains("Livrable request: base scratch, platform linux/amd64, repository app, tags latest", publish);
        Assert.Contains("entrypoint=[\"dotnet\", \"/app/app.dll\"]", publish);
        foreach (string sdkTarget in new[] { "_PublishSingleContainer", "_ContainerVerifySDKVersion" })
            Assert.DoesNotContain($"Target \"{sdkTarget}\"", publish);
        // ComputeContainerConfig is Livrable's (the name tools call), never the SDK's.
        Assert.DoesNotContain("Microsoft.NET.Build.Containers.targets", publish);
        Assert.DoesNotContain("CreateNewImage", publish);
    }

    /// <summary>
    /// ContainerLayerCompression goes from the targets to the task: zstd gives zstd layers (read back by skopeo), and
    /// zstd with ContainerImageFormat=Docker is LIV4101 before anything is built.
    /// </summary>
    [Fact]
    public async Task ContainerLayerCompressionReachesTheTask()
    {
        string archive = Path.Combine(_temp.Path, "out", "app.tar");
        string project = AppProject("zapp", $"<ContainerBaseImage>scratch</ContainerBaseImage><ContainerArchiveOutputPath>{archive}</ContainerArchiveOutputPath>");

        string publish = await DotnetAsync("msbuild", project, "-restore", "-t:PublishContainer", "-p:ContainerLayerCompression=zstd", "-p:ContainerTag=v1", "-v:d");
        Assert.Contains("format=Oci layers=Zstd", publish);
        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--raw", $"oci-archive:{archive}:v1");
        using (var manifest = JsonDocument.Parse(raw.Stdout))
            Assert.All(manifest.RootElement.GetProperty("layers").EnumerateArray(),
                l => Assert.Equal("application/vnd.oci.image.layer.v1.tar+zstd", l.GetProperty("mediaType").GetString()));

        string docker = await DotnetAsync("msbuild", project, "-t:PublishContainer", "-p:ContainerLayerCompression=zstd", "-p:ContainerImageFormat=Docker");
        Assert.Contains("error LIV4101", docker);
    }

    /// <summary>
    /// Issue 10 item 16: ContainerDockerfile naming a folder failed in the targets' ReadAllText (MSB4184, no LIV code).
    /// It reaches the task, which says it is a folder (LIV2200); a folder named Dockerfile beside the project does
    /// not turn Dockerfile mode on.
    /// </summary>
    [Fact]
    public async Task ContainerDockerfileNamingAFolderIsLIV2200()
    {
        string dir = Path.Combine(_temp.Path, "dfdir");
        Directory.CreateDirectory(Path.Combine(dir, "docker"));
        Directory.CreateDirectory(Path.Combine(dir, "Dockerfile"));
        string project = Path.Combine(dir, "dfdir.csproj");
        File.WriteAllText(project, $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerArchiveOutputPath>{_temp.Path}/out/dfdir.tar</ContainerArchiveOutputPath>
                <ContainerStateDirectory>{_temp.Path}/state</ContainerStateDirectory>
                <LivrableTasksAssembly>{Path.Combine(AppContext.BaseDirectory, "Livrable.Tasks.dll")}</LivrableTasksAssembly>
                <LivrableTasksUseTaskHost>true</LivrableTasksUseTaskHost>
              </PropertyGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);

        var p = await PropertiesAsync(project, [], "ContainerDockerfile", "IsContainerImageProject");
        Assert.Equal("", p["ContainerDockerfile"]);

        string output = await DotnetAsync("msbuild", project, "-restore", "-t:PublishContainer", $"-p:ContainerDockerfile={Path.Combine(dir, "docker")}");
        Assert.Contains("error LIV2200", output);
        Assert.Contains("is a folder", output);
        Assert.DoesNotContain("MSB4184", output);
    }

    /// <summary>
    /// dotnet msbuild -t:PruneContainerState runs the prune task on ContainerStateDirectory: a cap keeps what fits, the
    /// most recently used first; ContainerPruneAll=true empties it; both report what they freed.
    /// </summary>
    [Fact]
    public async Task PruneContainerStateEvictsDownToTheCapAndPruneAllEmptiesTheFolder()
    {
        string project = AppProject("prune");
        string state = Path.Combine(_temp.Path, "state");
        var store = new Livrable.Store.BlobStore(state);
        var (old, _) = await store.PutAsync(new byte[3000], CancellationToken.None);
        var (recent, _) = await store.PutAsync(new byte[2000], CancellationToken.None);
        File.SetLastWriteTimeUtc(store.PathOf(old), DateTime.UtcNow.AddDays(-1));

        string capped = await DotnetAsync("msbuild", project, "-t:PruneContainerState", $"-p:ContainerStateDirectory={state}", "-p:ContainerStateMaxSize=2500");
        Assert.Contains("Pruned " + state + ": freed 3000 bytes in 1 entries, 2000 bytes left", capped);
        Assert.False(store.Contains(old));
        Assert.True(store.Contains(recent));

        string all = await DotnetAsync("msbuild", project, "-t:PruneContainerState", $"-p:ContainerStateDirectory={state}", "-p:ContainerPruneAll=true");
        Assert.Contains("freed 2000 bytes in 1 entries, 0 bytes left", all);
        Assert.False(store.Contains(recent));

        string bad = await DotnetAsync("msbuild", project, "-t:PruneContainerState", $"-p:ContainerStateDirectory={state}", "-p:ContainerStateMaxSize=lots");
        Assert.Contains("error LIV4151", bad);
    }

    private async Task<Dictionary<string, string>> PropertiesAsync(string project, string[] arguments, params string[] names)
    {
        string output = await DotnetAsync("msbuild", project, [.. arguments, .. names.Select(n => "-getProperty:" + n)]);
        int json = output.IndexOf('{');
        Assert.True(json >= 0, output);
        using var doc = JsonDocument.Parse(output[json..]);
        // One property gives a bare value, several give {"Properties": {...}}.
        return doc.RootElement.GetProperty("Properties").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
    }

    /// <summary>
    /// ContainerRegistryTimeout goes from the targets to the task (issue 10, item 5): a duration shows in the request,
    /// a value that is not one is LIV3014 before anything is built.
    /// </summary>
    [Fact]
    public async Task ContainerRegistryTimeoutReachesTheTask()
    {
        string project = AppProject("tapp", $"<ContainerBaseImage>scratch</ContainerBaseImage><ContainerArchiveOutputPath>{_temp.Path}/out/</ContainerArchiveOutputPath>");

        // The bad value first: a failed image step leaves no record, so the next publish runs the step again (the
        // timeout changes no output, so it is not one of the step's inputs).
        string bad = await DotnetAsync("msbuild", project, "-restore", "-t:PublishContainer", "-p:ContainerRegistryTimeout=soon");
        Assert.Contains("error LIV3014", bad);

        string publish = await DotnetAsync("msbuild", project, "-t:PublishContainer", "-p:ContainerRegistryTimeout=1m30s", "-v:d");
        Assert.Contains("registry-timeout=90 s", publish);
    }

    /// <summary>
    /// ContainerMaxParallelism goes from the targets to the task: the core count by default, the value given, and
    /// LIV2511 for a value below 1, before anything is built.
    /// </summary>
    [Fact]
    public async Task ContainerMaxParallelismReachesTheTask()
    {
        string project = AppProject("papp", $"<ContainerBaseImage>scratch</ContainerBaseImage><ContainerArchiveOutputPath>{_temp.Path}/out/</ContainerArchiveOutputPath>");

        var defaults = await PropertiesAsync(project, ["-restore"], "ContainerMaxParallelism", "ContainerRepository");
        Assert.Equal(Environment.ProcessorCount.ToString(System.Globalization.CultureInfo.InvariantCulture), defaults["ContainerMaxParallelism"]);

        string bad = await DotnetAsync("msbuild", project, "-restore", "-t:PublishContainer", "-p:ContainerMaxParallelism=0");
        Assert.Contains("error LIV2511", bad);

        string publish = await DotnetAsync("msbuild", project, "-t:PublishContainer", "-p:ContainerMaxParallelism=1", "-v:d");
        Assert.Contains("parallelism=1", publish);
    }

    [Fact]
    public async Task ContainerOciLayoutPathWritesALayoutSkopeoReadsAndAnUnchangedPublishSkipsTheImageStep()
    {
        string project = AppProject("lapp", "<ContainerBaseImage>scratch</ContainerBaseImage><ContainerImageTag>v1</ContainerImageTag>");
        string layout = Path.Combine(Path.GetDirectoryName(project)!, "oci");

        string first = await DotnetAsync("msbuild", project, "-restore", "-t:PublishContainer", "-p:ContainerOciLayoutPath=oci");
        Assert.DoesNotContain("error", first);
        Assert.Contains("[1/", first);
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--format", "{{.Digest}}", $"oci:{layout}:v1");
        Assert.StartsWith("sha256:", inspect.Stdout.Trim());
        Assert.Contains(inspect.Stdout.Trim(), first);
        Assert.Empty(Directory.EnumerateFiles(Path.GetDirectoryName(project)!, "*.tar", SearchOption.AllDirectories));

        // The layout's index.json is the image step's output: an unchanged publish does not run the task again.
        string second = await DotnetAsync("msbuild", project, "-t:PublishContainer", "-p:ContainerOciLayoutPath=oci", "-v:n");
        Assert.DoesNotContain("[1/", second);
    }

    private async Task<string> DotnetAsync(string verb, string project, params string[] arguments)
        => (await Tools.DotnetAsync(_temp.Path, verb, project, arguments,
            new Dictionary<string, string> { ["XDG_CACHE_HOME"] = Path.Combine(_temp.Path, "cache") })).Output;
}
