using System.Text.Json;
using System.Text.RegularExpressions;
using Livrable.Tests.Infrastructure;
using Livrable.Tests.Samples;
using Xunit;

namespace Livrable.Tests.Sdk;

/// <summary>
/// What an image project (<c>&lt;Project Sdk="Livrable.Sdk/version"&gt;</c>, the packed SDK from a local feed) is built on
/// (src/Sdk/Sdk/Livrable.Sdk.Base.targets): the Livrable base by default, which runs no NuGet restore and no
/// Microsoft.NET.Sdk target, and Microsoft.NET.Sdk for design-time builds, <c>LivrableSdkBase=Microsoft.NET.Sdk</c>
/// (command line or project body) and several target frameworks. Each verb and the ProjectReference protocol in real
/// <c>dotnet</c> runs, in both bases; every image is read by skopeo.
/// In the registry collection, not for the registry, but so that it never packs src/Sdk at the same time as the
/// other package tests.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class SdkBaseTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly TestPackage _package = new();

    public void Dispose()
    {
        _temp.Dispose();
    }

    private Task PackAsync() => _package.PackAsync(_temp["feed"], _temp["NuGet.config"], TimeSpan.FromMinutes(5));

    private async Task<ToolResult> DotnetAsync(string verb, string project, params string[] arguments)
        => await Tools.DotnetAsync(_temp.Path, verb, project, ["-tl:off", $"-p:ContainerStateDirectory={_temp["state"]}", .. arguments]);

    private static string Property(ToolResult result) => result.EnsureSuccess().Stdout.Trim();

    private string ImageProject(string name, string body, string extension = ".proj")
    {
        string project = _temp[name, name + extension];
        Directory.CreateDirectory(Path.GetDirectoryName(project)!);
        File.WriteAllText(project, $"""
            <Project Sdk="Livrable.Sdk/{_package.Version}">
            {body}
            </Project>
            """);
        return project;
    }

    private static string BuiltDigest(ToolResult publish)
        => Regex.Match(publish.Stdout, @"Built \S+ (sha256:[0-9a-f]{64})").Groups[1].Value is { Length: > 0 } digest ? digest
            : throw new Xunit.Sdk.XunitException("no 'Built' line:\n" + publish.Output);

    private static async Task<JsonElement> InspectAsync(string archive)
    {
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--config", "docker-archive:" + archive);
        return JsonDocument.Parse(inspect.Stdout).RootElement.Clone();
    }

    [Fact]
    public async Task A_Dockerfile_project_is_built_on_the_Livrable_base_without_NuGet_and_gives_the_image_Microsoft_NET_Sdk_gives()
    {
        await PackAsync();
        string project = ImageProject("img", """
              <PropertyGroup>
                <ContainerRepository>img</ContainerRepository>
              </PropertyGroup>
            """);
        File.WriteAllText(_temp["img", "Dockerfile"], "FROM scratch\nCOPY hello.txt /hello.txt\nCMD [\"/hello\"]\n");
        File.WriteAllText(_temp["img", "hello.txt"], "hello\n");

        Assert.Equal("Livrable", Property(await DotnetAsync("msbuild", project, "-getProperty:LivrableSdkBase")));
        // Design-time builds (Visual Studio, C# Dev Kit, Rider) load it on Microsoft.NET.Sdk.
        Assert.Equal("true", Property(await DotnetAsync("msbuild", project, "-p:DesignTimeBuild=true", "-getProperty:UsingMicrosoftNETSdk")));
        Assert.Equal("true", Property(await DotnetAsync("msbuild", project, "-p:BuildingInsideVisualStudio=true", "-getProperty:UsingMicrosoftNETSdk")));

        // Livrable base: the image, with ContainerTag, in Microsoft.NET.Sdk's default place; no NuGet restore at all.
        var publish = (await DotnetAsync("publish", project, "-p:ContainerTag=v1")).EnsureSuccess();
        string archive = _temp["img", "bin", "Debug", "netstandard2.0", "container", "img-v1.tar"];
        Assert.True(File.Exists(archive), publish.Output);
        Assert.False(File.Exists(_temp["img", "obj", "project.assets.json"]), "the Livrable base ran NuGet's restore");
        Assert.Equal("/hello", (await InspectAsync(archive)).GetProperty("config").GetProperty("Cmd")[0].GetString());
        string lightDigest = BuiltDigest(publish);
        Assert.Contains("Up to date", (await DotnetAsync("publish", project, "-p:ContainerTag=v1")).EnsureSuccess().Stdout);

        // The other verbs succeed and make nothing of their own; clean removes the tarball.
        (await DotnetAsync("build", project)).EnsureSuccess();
        var pack = (await DotnetAsync("pack", project, "-o", _temp["packages"])).EnsureSuccess();
        Assert.False(Directory.Exists(_temp["packages"]) && Directory.EnumerateFiles(_temp["packages"]).Any(), pack.Output);
        (await DotnetAsync("test", project)).EnsureSuccess();
        (await DotnetAsync("clean", project, "-p:ContainerTag=v1")).EnsureSuccess();
        Assert.False(File.Exists(archive), "clean left the tarball");

        // Microsoft.NET.Sdk (LivrableSdkBase on the command line): NuGet restores, and the image is the same one.
        var full = (await DotnetAsync("publish", project, "-p:ContainerTag=v1", "-p:LivrableSdkBase=Microsoft.NET.Sdk", "-p:ContainerIncremental=false")).EnsureSuccess();
        Assert.True(File.Exists(_temp["img", "obj", "project.assets.json"]), full.Output);
        Assert.Equal(lightDigest, BuiltDigest(full));
        Assert.Equal("/hello", (await InspectAsync(archive)).GetProperty("config").GetProperty("Cmd")[0].GetString());
    }

    [Fact]
    public async Task UseArtifactsOutput_in_Directory_Build_props_gives_Microsoft_NET_Sdk_and_its_artifacts_layout()
    {
        // The artifacts layout must be known right after Directory.Build.props (Microsoft.NET.Sdk's NETSDK1199 otherwise):
        // on the Livrable base's props, as on that SDK's, UseArtifactsOutputPath.props is read there.
        await PackAsync();
        string project = _temp["art", "img", "img.proj"];
        Directory.CreateDirectory(Path.GetDirectoryName(project)!);
        File.WriteAllText(_temp["art", "Directory.Build.props"], "<Project><PropertyGroup><UseArtifactsOutput>true</UseArtifactsOutput></PropertyGroup></Project>\n");
        File.WriteAllText(project, $"""
            <Project Sdk="Livrable.Sdk/{_package.Version}">
              <PropertyGroup>
                <ContainerRepository>art</ContainerRepository>
              </PropertyGroup>
            </Project>
            """);
        File.WriteAllText(_temp["art", "img", "Dockerfile"], "FROM scratch\nCOPY Dockerfile /d\n");

        Assert.Equal("Microsoft.NET.Sdk", Property(await DotnetAsync("msbuild", project, "-getProperty:LivrableSdkBase")));
        var publish = (await DotnetAsync("publish", project)).EnsureSuccess();
        string archive = _temp["art", "artifacts", "bin", "img", "debug", "container", "art-latest.tar"];
        Assert.True(File.Exists(archive), publish.Output);
        Assert.True(File.Exists(_temp["art", "artifacts", "obj", "img", "project.assets.json"]), publish.Output);
        Assert.False(Directory.Exists(_temp["art", "img", "obj"]), "obj/ beside the project, not under artifacts/");
        Assert.Equal(1, (await InspectAsync(archive)).GetProperty("rootfs").GetProperty("diff_ids").GetArrayLength());
    }

    [Fact]
    public async Task A_solution_of_image_projects_and_a_dotnet_app_that_references_one_builds_tests_packs_publishes_and_cleans()
    {
        await PackAsync();
        // Directory.Build.props and .targets are imported on the Livrable base too.
        File.WriteAllText(_temp["Directory.Build.props"], """
            <Project>
              <PropertyGroup><SolutionMarker>from-directory-build-props</SolutionMarker></PropertyGroup>
            </Project>
            """);
        File.WriteAllText(_temp["Directory.Build.targets"], """
            <Project>
              <Target Name="WriteMarker" AfterTargets="Build">
                <WriteLinesToFile File="$(MSBuildProjectDirectory)/marker.txt" Lines="$(SolutionMarker) $(LivrableSdkBase)" Overwrite="true" />
              </Target>
            </Project>
            """);
        // base: an image from a folder; top: an image project whose base is base's image; app: a .NET app whose base is base's image.
        Directory.CreateDirectory(_temp["base", "root", "etc"]);
        File.WriteAllText(_temp["base", "root", "etc", "base.txt"], "base\n");
        string baseProject = ImageProject("base", """
              <PropertyGroup>
                <ContainerRepository>base</ContainerRepository>
                <ContainerBaseImage>scratch</ContainerBaseImage>
              </PropertyGroup>
              <ItemGroup><ContainerLayer Include="root" Destination="/" /></ItemGroup>
            """, ".csproj");
        Directory.CreateDirectory(_temp["top", "root", "etc"]);
        File.WriteAllText(_temp["top", "root", "etc", "top.txt"], "top\n");
        string top = ImageProject("top", """
              <PropertyGroup><ContainerRepository>top</ContainerRepository></PropertyGroup>
              <ItemGroup>
                <ContainerLayer Include="root" Destination="/" />
                <ProjectReference Include="../base/base.csproj" />
              </ItemGroup>
            """, ".csproj");
        Directory.CreateDirectory(_temp["app"]);
        string app = _temp["app", "app.csproj"];
        File.WriteAllText(app, $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Livrable.Sdk" Version="{_package.Version}" />
                <ProjectReference Include="../base/base.csproj" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(_temp["app", "Program.cs"], "System.Console.WriteLine(\"hi\");");
        string solution = _temp["all.sln"];
        (await Tools.RunAsync("dotnet", ["new", "sln", "-n", "all", "--format", "sln"], TimeSpan.FromMinutes(2), _temp.Path, Tools.DotnetEnvironment)).EnsureSuccess();
        (await Tools.RunAsync("dotnet", ["sln", solution, "add", baseProject, top, app], TimeSpan.FromMinutes(2), _temp.Path, Tools.DotnetEnvironment)).EnsureSuccess();
        Assert.Equal(3, Regex.Matches(File.ReadAllText(solution), @"^Project\(", RegexOptions.Multiline).Count);

        // The solution's verbs call Build, Restore, VSTest, Pack, Clean on every project: the image projects have them all.
        var build = (await DotnetAsync("build", solution)).EnsureSuccess();
        Assert.Equal("from-directory-build-props Livrable", File.ReadAllText(_temp["base", "marker.txt"]).Trim());
        Assert.Equal("from-directory-build-props Livrable", File.ReadAllText(_temp["top", "marker.txt"]).Trim());
        Assert.DoesNotContain("LIV2640", build.Output);
        Assert.DoesNotContain("NU1503", build.Output); // NuGet's "skipping restore" of a project that does not answer its restore protocol
        Assert.False(File.Exists(_temp["base", "obj", "project.assets.json"]), "NuGet restored an image project on the Livrable base");
        (await DotnetAsync("test", solution)).EnsureSuccess();
        (await DotnetAsync("pack", solution, "-o", _temp["packages"])).EnsureSuccess();
        Assert.Equal(["app.1.0.0.nupkg"], Directory.EnumerateFiles(_temp["packages"]).Select(Path.GetFileName));

        // An image project using another's image; a .NET app using it as its base: base's layer, then each one's own.
        (await DotnetAsync("publish", top, $"-p:ContainerArchiveOutputPath={_temp["out", "top.tar"]}")).EnsureSuccess();
        Assert.Equal(2, (await InspectAsync(_temp["out", "top.tar"])).GetProperty("rootfs").GetProperty("diff_ids").GetArrayLength());
        var appPublish = (await DotnetAsync("publish", app, $"-p:ContainerArchiveOutputPath={_temp["out", "app.tar"]}")).EnsureSuccess();
        var appImage = await InspectAsync(_temp["out", "app.tar"]);
        Assert.Equal(2, appImage.GetProperty("rootfs").GetProperty("diff_ids").GetArrayLength());
        Assert.Equal(["dotnet", "/app/app.dll"], appImage.GetProperty("config").GetProperty("Entrypoint").EnumerateArray().Select(e => e.GetString()));
        Assert.True(File.Exists(_temp["app", "bin", "Release", "net10.0", "publish", "app.dll"]) || File.Exists(_temp["app", "bin", "Debug", "net10.0", "publish", "app.dll"]), appPublish.Output);

        // base was published (as top's and app's base) to its default tarball: cleaning the solution removes it.
        string baseArchive = _temp["base", "bin", "Debug", "netstandard2.0", "container", "base-latest.tar"];
        Assert.True(File.Exists(baseArchive));
        (await DotnetAsync("clean", solution)).EnsureSuccess();
        Assert.False(File.Exists(baseArchive), "clean left base's tarball");
    }

    [Fact]
    public async Task What_the_Livrable_base_cannot_honour_is_LIV2640_and_LivrableSdkBase_in_the_project_gives_Microsoft_NET_Sdk()
    {
        await PackAsync();
        string reference = $"""<ItemGroup><PackageReference Include="Livrable.Sdk" Version="{_package.Version}" /></ItemGroup>""";
        string project = ImageProject("pkg", reference);

        var warned = (await DotnetAsync("build", project)).EnsureSuccess();
        Assert.Contains("warning LIV2640", warned.Output);
        Assert.Contains("PackageReference Livrable.Sdk", warned.Output);
        Assert.False(File.Exists(_temp["pkg", "obj", "project.assets.json"]));
        Assert.Contains("warning LIV2640", (await DotnetAsync("pack", project, "-p:IsPackable=true")).EnsureSuccess().Output);

        // Chosen in the project body (after Sdk.props): Microsoft.NET.Sdk restores the package; nothing to warn of.
        ImageProject("pkg", "<PropertyGroup><LivrableSdkBase>Microsoft.NET.Sdk</LivrableSdkBase></PropertyGroup>" + reference);
        Assert.Equal("true", Property(await DotnetAsync("msbuild", project, "-getProperty:UsingMicrosoftNETSdk")));
        var full = (await DotnetAsync("build", project)).EnsureSuccess();
        Assert.DoesNotContain("LIV2640", full.Output);
        Assert.Contains("Livrable.Sdk", File.ReadAllText(_temp["pkg", "obj", "project.assets.json"]));

        var invalid = await DotnetAsync("build", project, "-p:LivrableSdkBase=Light");
        Assert.NotEqual(0, invalid.ExitCode);
        Assert.Contains("error LIV2641", invalid.Output);
    }
}
