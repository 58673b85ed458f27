using System.Text;
using System.Text.Json;
using Livrable.Images;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.MSBuild;

/// <summary>
/// The targets' multi-platform properties in generated projects: ContainerRuntimeIdentifiers adds every runtime
/// identifier to restore (their runtime packs) and is unescaped from the dotnet CLI's form; ContainerPlatforms
/// builds a RUN-free Dockerfile of an image project for two platforms with <c>dotnet publish</c>.
/// </summary>
public sealed class MultiPlatformTargetsTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task ContainerRuntimeIdentifiers_reach_restore_and_make_the_build_multi_platform()
    {
        string dir = _temp["app"];
        Directory.CreateDirectory(dir);
        SdkProjects.WriteDirectoryBuildFiles(dir);
        string project = Path.Combine(dir, "app.csproj");
        File.WriteAllText(project, """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework></PropertyGroup>
            </Project>
            """);

        var result = await Tools.DotnetAsync(_temp.Path, "msbuild", project,
            ["-p:ContainerRuntimeIdentifiers=\"linux-x64;linux-arm64\"", "-getProperty:RuntimeIdentifiers", "-getProperty:_LivrableIsMultiPlatform", "-getProperty:_LivrableRuntimeIdentifiers"]);
        string output = result.Output;
        using var doc = JsonDocument.Parse(output[output.IndexOf('{')..]);
        var p = doc.RootElement.GetProperty("Properties");
        Assert.Equal("true", p.GetProperty("_LivrableIsMultiPlatform").GetString());
        Assert.Equal("linux-x64;linux-arm64", p.GetProperty("_LivrableRuntimeIdentifiers").GetString());
        Assert.Equal(["linux-x64", "linux-arm64"], p.GetProperty("RuntimeIdentifiers").GetString()!.Split(';', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("<RuntimeIdentifiers>linux-x64;linux-arm64</RuntimeIdentifiers>", "", "true", "linux-x64;linux-arm64")]
    [InlineData("<RuntimeIdentifiers>linux-x64;linux-arm64</RuntimeIdentifiers>", "-p:RuntimeIdentifier=linux-arm64", "false", "")]
    [InlineData("<RuntimeIdentifiers>linux-x64;linux-arm64</RuntimeIdentifiers>", "-p:ContainerRuntimeIdentifier=linux-x64", "false", "")]
    [InlineData("<RuntimeIdentifiers>linux-x64;linux-arm64</RuntimeIdentifiers>", "-p:BuildingInsideVisualStudio=true", "false", "")]
    [InlineData("", "", "false", "")]
    public async Task RuntimeIdentifiers_alone_make_the_build_multi_platform_as_in_the_NET_SDK(string property, string argument, string multi, string identifiers)
    {
        // The SDK's _ContainerEstablishRIDNess: RuntimeIdentifiers and no RuntimeIdentifier, ContainerRuntimeIdentifier
        // or ContainerRuntimeIdentifiers is a multi-RID container publish, outside Visual Studio.
        string dir = _temp[$"rids-{Guid.NewGuid():N}"];
        Directory.CreateDirectory(dir);
        SdkProjects.WriteDirectoryBuildFiles(dir);
        string project = Path.Combine(dir, "app.csproj");
        File.WriteAllText(project, $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework>{property}</PropertyGroup>
            </Project>
            """);
        string[] arguments = argument.Length == 0
            ? ["-getProperty:_LivrableIsMultiPlatform", "-getProperty:_LivrableRuntimeIdentifiers"]
            : [argument, "-getProperty:_LivrableIsMultiPlatform", "-getProperty:_LivrableRuntimeIdentifiers"];
        var result = await Tools.DotnetAsync(_temp.Path, "msbuild", project, arguments);
        string output = result.Output;
        using var doc = JsonDocument.Parse(output[output.IndexOf('{')..]);
        var p = doc.RootElement.GetProperty("Properties");
        Assert.Equal((multi, identifiers), (p.GetProperty("_LivrableIsMultiPlatform").GetString(), p.GetProperty("_LivrableRuntimeIdentifiers").GetString()));
    }

    [Fact]
    public async Task ContainerPlatforms_builds_a_Dockerfile_image_project_for_both_platforms()
    {
        string dir = _temp["image"];
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "Dockerfile"), "FROM scratch\nARG TARGETARCH\nCOPY a.txt /\nLABEL arch=$TARGETARCH\n");
        File.WriteAllText(Path.Combine(dir, "a.txt"), "a\n");
        string project = Path.Combine(dir, "image.csproj");
        File.WriteAllText(project, $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <LivrableTasksAssembly>{Path.Combine(AppContext.BaseDirectory, "Livrable.Tasks.dll")}</LivrableTasksAssembly>
                <LivrableTasksUseTaskHost>true</LivrableTasksUseTaskHost>
                <ContainerRepository>multi-image</ContainerRepository>
                <ContainerStateDirectory>{_temp["state"]}</ContainerStateDirectory>
                <ContainerArchiveOutputPath>{_temp["out"]}/</ContainerArchiveOutputPath>
              </PropertyGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);

        var result = await Tools.DotnetAsync(_temp.Path, "publish", project, ["-p:ContainerPlatforms=\"linux/amd64;linux/arm64\""]);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("(2 platforms: linux/amd64, linux/arm64/v8)", result.Output);

        string tarball = Path.Combine(_temp["out"], "multi-image-latest.tar");
        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--raw", $"oci-archive:{tarball}:latest");
        var index = ImageIndex.Parse(Encoding.UTF8.GetBytes(raw.Stdout));
        Assert.Equal(["amd64", "arm64"], index.Manifests.Select(m => m.Platform!.Architecture));
        var arm = await Tools.RunCheckedAsync("skopeo", "--override-arch", "arm64", "inspect", $"oci-archive:{tarball}:latest");
        using var doc = JsonDocument.Parse(arm.Stdout);
        Assert.Equal("arm64", doc.RootElement.GetProperty("Labels").GetProperty("arch").GetString());
    }
}
