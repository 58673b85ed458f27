using System.Text.Json;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Sdk;

/// <summary>
/// What tools read from the .NET SDK's container targets, asked of the SDK (no Livrable) and of Livrable on the same
/// projects: <c>ComputeContainerConfig</c>'s properties (SDKContainerSupportEnabled, ContainerRepository,
/// ContainerWorkingDirectory, ContainerRuntimeIdentifier) and <c>ComputeContainerBaseImage</c>'s inference for the
/// cases its rules tell apart (aspnet, runtime-deps, AOT, trimming, invariant globalization, ContainerFamily, musl,
/// an older target framework). One <c>dotnet msbuild</c> per side evaluates every case through a report target.
/// Then Livrable's own contract: comma-separated tags, PublishContainer's outputs, and <c>dotnet clean</c>.
/// </summary>
public sealed class SdkContractTests : IDisposable
{
    private static readonly string SdkDirectory = Path.Combine(TestRepository.Root, "src", "Sdk");
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Case name, project SDK, properties.</summary>
    private static readonly (string Name, string Sdk, string Properties)[] InferenceCases =
    [
        ("Console", "Microsoft.NET.Sdk", ""),
        ("My_Web.App", "Microsoft.NET.Sdk.Web", ""),
        ("selfcontained", "Microsoft.NET.Sdk", "<RuntimeIdentifier>linux-x64</RuntimeIdentifier><SelfContained>true</SelfContained>"),
        ("aot", "Microsoft.NET.Sdk", "<RuntimeIdentifier>linux-x64</RuntimeIdentifier><PublishAot>true</PublishAot>"),
        ("trimmedinvariant", "Microsoft.NET.Sdk", "<RuntimeIdentifier>linux-arm64</RuntimeIdentifier><SelfContained>true</SelfContained><PublishTrimmed>true</PublishTrimmed><InvariantGlobalization>true</InvariantGlobalization>"),
        ("chiseled", "Microsoft.NET.Sdk.Web", "<ContainerFamily>noble-chiseled</ContainerFamily>"),
        ("chiseledinvariant", "Microsoft.NET.Sdk.Web", "<ContainerFamily>noble-chiseled</ContainerFamily><InvariantGlobalization>true</InvariantGlobalization>"),
        ("alpinefamily", "Microsoft.NET.Sdk", "<ContainerFamily>alpine</ContainerFamily>"),
        ("musl", "Microsoft.NET.Sdk.Web", "<RuntimeIdentifier>linux-musl-x64</RuntimeIdentifier>"),
        ("muslaot", "Microsoft.NET.Sdk", "<RuntimeIdentifier>linux-musl-arm64</RuntimeIdentifier><PublishAot>true</PublishAot>"),
        ("net8", "Microsoft.NET.Sdk", "<TargetFramework>net8.0</TargetFramework>"),
        ("explicitbase", "Microsoft.NET.Sdk", "<ContainerBaseImage>registry.example/base:1</ContainerBaseImage><ContainerRuntimeIdentifier>linux-arm64</ContainerRuntimeIdentifier>"),
        ("oldname", "Microsoft.NET.Sdk", "<ContainerImageName>team/oldname</ContainerImageName>"),
    ];

    /// <summary>Writes the cases under <c>TEMP/ROOT</c>, each with a report target, with or without Livrable.</summary>
    private string WriteTree(string root, bool livrable)
    {
        string dir = Directory.CreateDirectory(_temp[root]).FullName;
        string imports = livrable ? $"""<Import Project="{SdkDirectory}/build/Livrable.Sdk.targets" />""" : "";
        File.WriteAllText(Path.Combine(dir, "Directory.Build.props"), livrable ? $"""
            <Project>
              <Import Project="{SdkDirectory}/build/Livrable.Sdk.props" />
            </Project>
            """ : "<Project />");
        File.WriteAllText(Path.Combine(dir, "Directory.Build.targets"), $"""
            <Project>
              <PropertyGroup>
                <LivrableTasksAssembly>{Path.Combine(AppContext.BaseDirectory, "Livrable.Tasks.dll")}</LivrableTasksAssembly>
                <LivrableTasksUseTaskHost>true</LivrableTasksUseTaskHost>
              </PropertyGroup>
              {imports}
              <Target Name="ReportContainerConfig" DependsOnTargets="ComputeContainerConfig" Returns="@(_Report)">
                <ItemGroup>
                  <_Report Include="$(MSBuildProjectName)" BaseImage="$(ContainerBaseImage)" Repository="$(ContainerRepository)"
                           WorkingDirectory="$(ContainerWorkingDirectory)" Enabled="$(SDKContainerSupportEnabled)" RuntimeIdentifier="$(ContainerRuntimeIdentifier)" />
                </ItemGroup>
              </Target>
            </Project>
            """);
        foreach (var (name, sdk, properties) in InferenceCases)
        {
            string project = Path.Combine(dir, name);
            Directory.CreateDirectory(project);
            string tfm = properties.Contains("<TargetFramework>", StringComparison.Ordinal) ? "" : "<TargetFramework>net10.0</TargetFramework>";
            File.WriteAllText(Path.Combine(project, name + ".csproj"), $"""
                <Project Sdk="{sdk}">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    {tfm}
                    {properties}
                  </PropertyGroup>
                </Project>
                """);
        }
        File.WriteAllText(Path.Combine(dir, "report.proj"), """
            <Project>
              <ItemGroup>
                <CaseProject Include="*/*.csproj" />
              </ItemGroup>
              <Target Name="Report">
                <MSBuild Projects="@(CaseProject)" Targets="ReportContainerConfig">
                  <Output TaskParameter="TargetOutputs" ItemName="_Report" />
                </MSBuild>
                <WriteLinesToFile File="report.txt" Overwrite="true"
                                  Lines="@(_Report->'%(Identity)|%(BaseImage)|%(Repository)|%(WorkingDirectory)|%(Enabled)|%(RuntimeIdentifier)')" />
              </Target>
            </Project>
            """);
        return dir;
    }

    private static async Task<Dictionary<string, string>> ReportAsync(string dir)
    {
        var result = await Tools.DotnetAsync(dir, "msbuild", "report.proj", ["-t:Report"]);
        Assert.True(result.ExitCode == 0, result.Output);
        return File.ReadAllLines(Path.Combine(dir, "report.txt")).ToDictionary(l => l.Split('|')[0], l => l);
    }

    [Fact]
    public async Task ComputeContainerConfigAnswersWhatTheSdkAnswers()
    {
        var sdkTask = ReportAsync(WriteTree("sdk", livrable: false));
        var livrableTask = ReportAsync(WriteTree("livrable", livrable: true));
        var sdk = await sdkTask;
        var livrable = await livrableTask;

        Assert.Equal(InferenceCases.Length, sdk.Count);
        foreach (var (name, _, _) in InferenceCases)
            Assert.Equal(sdk[name], livrable[name]);
        // The oracle says what the rules give, so a change of the SDK's rules shows here too.
        Assert.Equal("aot|mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled-extra|aot|/app/|true|linux-x64", livrable["aot"]);
        Assert.Equal("muslaot|mcr.microsoft.com/dotnet/runtime-deps:10.0-alpine-extra|muslaot|/app/|true|linux-musl-arm64", livrable["muslaot"]);
    }

    [Fact]
    public async Task GetPropertyOnComputeContainerConfigIsTheSdks()
    {
        string[] arguments = ["-t:ComputeContainerConfig", "-getProperty:SDKContainerSupportEnabled", "-getProperty:ContainerRepository", "-getProperty:ContainerWorkingDirectory"];
        string sdkDir = WriteTree("sdk-get", livrable: false), livrableDir = WriteTree("livrable-get", livrable: true);
        var sdk = await Tools.DotnetAsync(sdkDir, "msbuild", Path.Combine("My_Web.App", "My_Web.App.csproj"), arguments);
        var livrable = await Tools.DotnetAsync(livrableDir, "msbuild", Path.Combine("My_Web.App", "My_Web.App.csproj"), arguments);

        Assert.True(sdk.ExitCode == 0, sdk.Output);
        Assert.True(livrable.ExitCode == 0, livrable.Output);
        Assert.Equal(Properties(sdk.Stdout), Properties(livrable.Stdout));
        Assert.Equal("/app/", Properties(livrable.Stdout)["ContainerWorkingDirectory"]);
    }

    /// <summary>
    /// org.opencontainers.image.created of a .NET app (ContainerCreated) is the last commit's time wherever git finds a
    /// repository, however it finds it: a .git folder above the project, a .git file (a worktree), GIT_DIR; and
    /// Livrable's fixed epoch outside one (where the targets no longer start git at all), a bare repository's own folder
    /// included (no work tree, so not the project's sources).
    /// </summary>
    [Fact]
    public async Task CreatedIsTheLastCommitsTimeWhereGitFindsARepository()
    {
        string project = Path.Combine("Console", "Console.csproj");
        string[] arguments = ["-t:ComputeContainerConfig", "-getProperty:ContainerCreated"];
        async Task<string> CreatedAsync(string dir, IReadOnlyDictionary<string, string>? environment = null)
        {
            var result = await Tools.DotnetAsync(dir, "msbuild", project, arguments, environment);
            Assert.True(result.ExitCode == 0, result.Output);
            return result.Stdout.Trim();
        }
        async Task GitAsync(string dir, params string[] arguments)
        {
            var result = await Tools.RunAsync("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid", .. arguments],
                environment: new Dictionary<string, string> { ["GIT_AUTHOR_DATE"] = "2001-02-03T04:05:06Z", ["GIT_COMMITTER_DATE"] = "2001-02-03T04:05:06Z" });
            Assert.True(result.ExitCode == 0, result.Output);
        }
        const string Epoch = "1980-01-01T00:00:01.0000000Z", Commit = "2001-02-03T04:05:06.0000000Z";

        string outside = WriteTree("created-outside", livrable: true);
        Assert.Equal(Epoch, await CreatedAsync(outside));

        string repository = WriteTree("created-repository", livrable: true);
        await GitAsync(repository, "init", "--quiet");
        await GitAsync(repository, "add", "-A");
        await GitAsync(repository, "commit", "--quiet", "-m", "c");
        Assert.Equal(Commit, await CreatedAsync(repository));

        string worktree = _temp["created-worktree"];
        await GitAsync(repository, "worktree", "add", "--quiet", worktree);
        Assert.True(File.Exists(Path.Combine(worktree, ".git")), "a worktree's .git is a file");
        Assert.Equal(Commit, await CreatedAsync(worktree));

        Assert.Equal(Commit, await CreatedAsync(outside, new Dictionary<string, string> { ["GIT_DIR"] = Path.Combine(repository, ".git") }));

        // A bare repository has no work tree: a project in its own folder is none of its sources, so its last commit
        // does not date them, and the fixed epoch stays (git would find it, as git before 2.38's safe.bareRepository
        // finds any bare repository above; the targets do not follow it: docs/reproducibility.md). A worktree of it
        // placed in that folder is its sources again (its .git file), and gets the commit's time.
        string bare = _temp["created-bare.git"];
        await GitAsync(repository, "clone", "--bare", "--quiet", ".", bare);
        string inBare = WriteTree(Path.Combine("created-bare.git", "project"), livrable: true);
        Assert.Equal(Epoch, await CreatedAsync(inBare));
        string bareWorktree = Path.Combine(bare, "worktree");
        await GitAsync(bare, "worktree", "add", "--quiet", bareWorktree);
        Assert.Equal(Commit, await CreatedAsync(bareWorktree));
    }

    /// <summary>
    /// A publish with comma-separated tags (<c>-p:ContainerImageTags='"1.2.0,latest"'</c> in bash: MSBuild's -p takes
    /// an unquoted ',' or ';' as the end of the property) names the
    /// image with both in the tarball; PublishContainer's outputs are the SDK's; dotnet clean removes the tarball.
    /// </summary>
    [Fact]
    public async Task CommaTagsOutputsAndClean()
    {
        string dir = WriteTree("publish", livrable: true);
        string project = Path.Combine("Console", "Console.csproj");
        File.WriteAllText(Path.Combine(dir, "Console", "Program.cs"), "System.Console.WriteLine(\"hi\");\n");
        string state = _temp["state"];
        var publish = await Tools.DotnetAsync(dir, "msbuild", project,
            ["-restore", "-t:PublishContainer", "-p:ContainerBaseImage=scratch", "-p:ContainerImageTags=\"1.2.0,latest\"", $"-p:ContainerStateDirectory={state}",
             "-getProperty:GeneratedContainerDigest", "-getProperty:GeneratedArchiveOutputPath", "-getProperty:GeneratedContainerConfiguration",
             "-getItem:GeneratedContainerName", "-getTargetResult:PublishContainer"]);
        Assert.True(publish.ExitCode == 0, publish.Output);
        using var json = JsonDocument.Parse(publish.Stdout);
        var properties = json.RootElement.GetProperty("Properties");
        string tarball = properties.GetProperty("GeneratedArchiveOutputPath").GetString()!;
        string digest = properties.GetProperty("GeneratedContainerDigest").GetString()!;
        Assert.StartsWith(Path.Combine(dir, "Console", "bin"), tarball);
        Assert.True(File.Exists(tarball), tarball);
        Assert.StartsWith("sha256:", digest);
        using (var config = JsonDocument.Parse(properties.GetProperty("GeneratedContainerConfiguration").GetString()!))
            Assert.Equal("10.0", config.RootElement.GetProperty("config").GetProperty("Labels").GetProperty("net.dot.runtime.majorminor").GetString());
        Assert.Equal(["console:1.2.0", "console:latest"],
            json.RootElement.GetProperty("Items").GetProperty("GeneratedContainerName").EnumerateArray().Select(i => i.GetProperty("Identity").GetString()!).ToList());
        var result = json.RootElement.GetProperty("TargetResults").GetProperty("PublishContainer");
        Assert.Equal("Success", result.GetProperty("Result").GetString());
        Assert.Equal(digest, result.GetProperty("Items")[0].GetProperty("ManifestDigest").GetString());

        // Both tags, as docker load and skopeo read them.
        string manifest = (await Tools.RunCheckedAsync("tar", "-xOf", tarball, "manifest.json")).Stdout;
        Assert.Contains("\"console:1.2.0\"", manifest);
        Assert.Contains("\"console:latest\"", manifest);
        var inspect = await Tools.RunAsync("skopeo", ["inspect", "--config", "docker-archive:" + tarball + ":console:1.2.0"]);
        Assert.True(inspect.ExitCode == 0, inspect.Output);

        var clean = await Tools.DotnetAsync(dir, "clean", project, []);
        Assert.True(clean.ExitCode == 0, clean.Output);
        Assert.False(File.Exists(tarball), "dotnet clean left " + tarball);
    }

    /// <summary>
    /// A project Visual Studio gave a Dockerfile: DockerfileContext is the build context (relative to the project, as
    /// in Visual Studio), and LIV2302 says that the Dockerfile is built, with which context, and how to choose.
    /// ContainerDockerfile set explicitly silences it.
    /// </summary>
    [Fact]
    public async Task VisualStudioDockerfileProjectUsesDockerfileContextAndSaysSo()
    {
        string dir = WriteTree("vs", livrable: true);
        string project = Path.Combine(dir, "Console", "Console.csproj");
        File.WriteAllText(project, """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <DockerfileContext>..</DockerfileContext>
                <DockerfileTag>vsapp:dev</DockerfileTag>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Microsoft.VisualStudio.Azure.Containers.Tools.Targets" Version="1.21.0" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Console", "Dockerfile"), "FROM scratch\nCOPY Console/Console.csproj /\n");

        var evaluated = await Tools.DotnetAsync(dir, "msbuild", project, ["-getProperty:_LivrableBuildContext", "-getProperty:ContainerRepository", "-getProperty:_LivrableImageTags"]);
        Assert.True(evaluated.ExitCode == 0, evaluated.Output);
        var p = Properties(evaluated.Stdout);
        Assert.Equal(dir + Path.DirectorySeparatorChar, p["_LivrableBuildContext"]);
        Assert.Equal(("vsapp", "dev"), (p["ContainerRepository"], p["_LivrableImageTags"]));

        var warned = await Tools.DotnetAsync(dir, "msbuild", project, ["-t:ComputeContainerConfig"]);
        Assert.True(warned.ExitCode == 0, warned.Output);
        Assert.Contains("warning LIV2302", warned.Output);
        Assert.Contains($"build context '{dir}{Path.DirectorySeparatorChar}'", warned.Output);
        Assert.Contains("ContainerDockerfile=false", warned.Output);

        var chosen = await Tools.DotnetAsync(dir, "msbuild", project, ["-t:ComputeContainerConfig", "-p:ContainerDockerfile=Dockerfile"]);
        Assert.True(chosen.ExitCode == 0, chosen.Output);
        Assert.DoesNotContain("LIV2302", chosen.Output);
    }

    private static Dictionary<string, string> Properties(string stdout)
    {
        using var json = JsonDocument.Parse(stdout);
        return json.RootElement.GetProperty("Properties").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
    }
}
