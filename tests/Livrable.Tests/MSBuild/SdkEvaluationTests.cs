using System.Diagnostics;
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
    private static readonly string SdkDirectory = Path.Combine(TestRepository.Root, "src", "Sdk");
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A console app with Livrable as a PackageReference would give it; the task assembly is this test's copy.</summary>
    private string AppProject(string name, string properties = "")
    {
        string dir = Path.Combine(_temp.Path, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "Directory.Build.props"), $"""
            <Project>
              <Import Project="{SdkDirectory}/build/Livrable.Sdk.props" />
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Directory.Build.targets"), $"""
            <Project>
              <PropertyGroup>
                <LivrableTasksAssembly>{Path.Combine(AppContext.BaseDirectory, "Livrable.Tasks.dll")}</LivrableTasksAssembly>
                <LivrableTasksUseTaskHost>true</LivrableTasksUseTaskHost>
              </PropertyGroup>
              <Import Project="{SdkDirectory}/build/Livrable.Sdk.targets" />
            </Project>
            """);
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
    public void AppDefaults()
    {
        string project = AppProject("My_App.Web");
        var p = Properties(project, [], "ContainerRepository", "_LivrableImageTags", "ContainerWorkingDirectory", "ContainerRuntimeIdentifier",
            "_LivrableDefaultBaseImage", "ContainerArchiveOutputPath", "EnableContainer", "ContainerStateDirectory", "IsContainerImageProject");

        Assert.Equal("my_app.web", p["ContainerRepository"]);
        Assert.Equal("latest", p["_LivrableImageTags"]);
        Assert.Equal("/app", p["ContainerWorkingDirectory"]);
        Assert.Equal("linux-x64", p["ContainerRuntimeIdentifier"]);
        Assert.Equal("mcr.microsoft.com/dotnet/runtime:10.0", p["_LivrableDefaultBaseImage"]);
        Assert.Equal(Path.Combine(Path.GetDirectoryName(project)!, "bin", "Debug", "net10.0", "container", "my_app.web-latest.tar"), p["ContainerArchiveOutputPath"]);
        Assert.Equal("true", p["EnableContainer"]);
        Assert.EndsWith("livrable", p["ContainerStateDirectory"]);
        Assert.Equal("false", p["IsContainerImageProject"]);
    }

    [Fact]
    public void SelfContainedAppDefaultsToRuntimeDepsAndItsRuntimeIdentifier()
    {
        string project = AppProject("sc", "<RuntimeIdentifier>linux-arm64</RuntimeIdentifier><SelfContained>true</SelfContained>");
        var p = Properties(project, ["-t:ComputeContainerImageProperties"], "ContainerBaseImage", "ContainerRuntimeIdentifier", "ContainerArchiveOutputPath");

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
    public void TagPrecedence(string arguments, string tags)
    {
        string project = AppProject("tags");
        var p = Properties(project, arguments.Split(' '), "_LivrableImageTags", "ContainerArchiveOutputPath");
        Assert.Equal(tags, p["_LivrableImageTags"]);
        Assert.EndsWith($"tags-{tags.Split(';')[0]}.tar", p["ContainerArchiveOutputPath"]);
    }

    [Fact]
    public void ImageProjectCompilesNothingAndBuildsNoImageOnBuild()
    {
        string dir = Path.Combine(_temp.Path, "base");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), "this is not C#");
        string project = Path.Combine(dir, "base.csproj");
        File.WriteAllText(project, $"""
            <Project>
              <Import Project="{SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerTag>bookworm</ContainerTag>
              </PropertyGroup>
              <Import Project="{SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);

        var p = Properties(project, [], "TargetFramework", "IsContainerImageProject", "_LivrableDefaultBaseImage", "ContainerWorkingDirectory", "ContainerRepository");
        Assert.Equal("netstandard2.0", p["TargetFramework"]);
        Assert.Equal("true", p["IsContainerImageProject"]);
        Assert.Equal("scratch", p["_LivrableDefaultBaseImage"]);
        Assert.Equal("", p["ContainerWorkingDirectory"]);
        Assert.Equal("base", p["ContainerRepository"]);

        string output = Dotnet("build", project, "-v:d");
        Assert.DoesNotContain("Target \"CoreCompile\"", output);
        Assert.DoesNotContain("Target \"BuildContainerImage\"", output);
        Assert.False(Directory.Exists(Path.Combine(dir, "bin")) && Directory.EnumerateFiles(Path.Combine(dir, "bin"), "*.dll", SearchOption.AllDirectories).Any());
    }

    /// <summary>
    /// dotnet build builds no image; -t:PublishContainer runs Livrable's task (its request reaches the detailed log
    /// before the engine runs) and none of the .NET SDK's container targets.
    /// </summary>
    [Fact]
    public void BuildMakesNoImageAndPublishContainerIsLivrables()
    {
        string project = AppProject("app", $"<ContainerBaseImage>scratch</ContainerBaseImage><ContainerArchiveOutputPath>{_temp.Path}/out/</ContainerArchiveOutputPath>");

        string build = Dotnet("build", project, "-v:d");
        Assert.Contains("Build succeeded", build);
        Assert.DoesNotContain("Target \"BuildContainerImage\"", build);
        Assert.DoesNotContain("Livrable request:", build);

        string publish = Dotnet("msbuild", project, "-t:PublishContainer", "-v:d");
        Assert.Contains("Target \"BuildContainerImage\"", publish);
        Assert.Contains("Livrable request: base scratch, platform linux/amd64, repository app, tags latest", publish);
        Assert.Contains("entrypoint=[\"dotnet\", \"/app/app.dll\"]", publish);
        foreach (string sdkTarget in new[] { "ComputeContainerConfig", "_PublishSingleContainer", "_ContainerVerifySDKVersion" })
            Assert.DoesNotContain($"Target \"{sdkTarget}\"", publish);
        Assert.DoesNotContain("CreateNewImage", publish);
    }

    private Dictionary<string, string> Properties(string project, string[] arguments, params string[] names)
    {
        string output = Dotnet("msbuild", project, [.. arguments, .. names.Select(n => "-getProperty:" + n)]);
        int json = output.IndexOf('{');
        Assert.True(json >= 0, output);
        using var doc = JsonDocument.Parse(output[json..]);
        // One property gives a bare value, several give {"Properties": {...}}.
        return doc.RootElement.GetProperty("Properties").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
    }

    private string Dotnet(string verb, string project, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _temp.Path };
        foreach (string a in new[] { verb, project, "-nologo", "-nodeReuse:false" }.Concat(arguments)) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["XDG_CACHE_HOME"] = Path.Combine(_temp.Path, "cache");
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return stdout + stderr.Result;
    }
}
