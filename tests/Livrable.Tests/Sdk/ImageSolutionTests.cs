using System.Text.Json;
using System.Text.RegularExpressions;
using Livrable.Tests.Infrastructure;
using Livrable.Tests.Samples;
using Xunit;

namespace Livrable.Tests.Sdk;

/// <summary>
/// Image projects (<c>&lt;Project Sdk="Livrable.Sdk/version"&gt;</c>, the packed SDK from a local feed) in a solution, with
/// the solution's own verbs: a solution of image projects alone restores, builds and publishes with no NuGet warning
/// (NuGet's restore walks them as projects with nothing to restore, and walks their references, so a .NET project that
/// only an image project references is restored); a .slnx mixing one with a .NET app that uses its image as its base
/// publishes both; <c>dotnet pack</c> of an image project is LIV2650, never silence (a solution's pack skips it, as a test project). Every image is read by skopeo.
/// In the registry collection, not for the registry, but so that it never packs src/Sdk at the same time as the other
/// package tests.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class ImageSolutionTests : IDisposable
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

    private string Project(string name, string text)
    {
        string project = _temp[name, name + ".csproj"];
        Directory.CreateDirectory(Path.GetDirectoryName(project)!);
        File.WriteAllText(project, text);
        return project;
    }

    private string ImageProject(string name, string body)
        => Project(name, $"""
            <Project Sdk="Livrable.Sdk/{_package.Version}">
            {body}
            </Project>
            """);

    private async Task<string> SolutionAsync(string name, string format, params string[] projects)
    {
        (await Tools.RunAsync("dotnet", ["new", "sln", "-n", name, "--format", format], TimeSpan.FromMinutes(2), _temp.Path, Tools.DotnetEnvironment)).EnsureSuccess();
        string solution = _temp[name + "." + format];
        (await Tools.RunAsync("dotnet", ["sln", solution, "add", .. projects], TimeSpan.FromMinutes(2), _temp.Path, Tools.DotnetEnvironment)).EnsureSuccess();
        return solution;
    }

    private static async Task<JsonElement> InspectAsync(string archive)
    {
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--config", "docker-archive:" + archive);
        return JsonDocument.Parse(inspect.Stdout).RootElement.Clone();
    }

    /// <summary>NuGet's uncoded warning when a restore is given no project at all, and any other warning.</summary>
    private static void AssertNoWarning(ToolResult result)
    {
        Assert.DoesNotContain("Unable to find a project to restore", result.Output);
        Assert.DoesNotMatch(new Regex(@"warning [A-Z]*[0-9]*\s*:"), result.Output);
    }

    private string ClassLibrary(string name)
    {
        string project = Project(name, """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
            </Project>
            """);
        File.WriteAllText(_temp[name, "Lib.cs"], "public static class Lib { public const string Name = \"lib\"; }");
        return project;
    }

    [Fact]
    public async Task A_solution_of_image_projects_alone_restores_builds_and_publishes_without_a_NuGet_warning()
    {
        await PackAsync();
        // base: an image from a folder; py: a Dockerfile image whose FROM is base's image (a named context, as
        // samples/pyapp), and which references a class library that is in no solution: NuGet's walk of the solution
        // must reach it (its build needs its assets file).
        Directory.CreateDirectory(_temp["base", "root", "etc"]);
        File.WriteAllText(_temp["base", "root", "etc", "base.txt"], "base\n");
        string baseProject = ImageProject("base", """
              <PropertyGroup>
                <ContainerRepository>base</ContainerRepository>
                <ContainerBaseImage>scratch</ContainerBaseImage>
              </PropertyGroup>
              <ItemGroup><ContainerLayer Include="root" Destination="/" /></ItemGroup>
            """);
        ClassLibrary("lib");
        string py = ImageProject("py", """
              <PropertyGroup><ContainerRepository>py</ContainerRepository></PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="../base/base.csproj" ContainerContextName="base:1" />
                <ProjectReference Include="../lib/lib.csproj" />
              </ItemGroup>
            """);
        File.WriteAllText(_temp["py", "Dockerfile"], "FROM base:1\nCOPY main.py /app/main.py\nCMD [\"python3\", \"/app/main.py\"]\n");
        File.WriteAllText(_temp["py", "main.py"], "print('hi')\n");
        File.WriteAllText(_temp["py", ".dockerignore"], "bin/\nobj/\n");
        string solution = await SolutionAsync("images", "sln", baseProject, py);
        // dotnet sln add adds the projects an added one references: the library is taken out again.
        (await Tools.RunAsync("dotnet", ["sln", solution, "remove", _temp["lib", "lib.csproj"]], TimeSpan.FromMinutes(2), _temp.Path, Tools.DotnetEnvironment)).EnsureSuccess();
        Assert.DoesNotContain("lib.csproj", File.ReadAllText(solution));

        var restore = (await DotnetAsync("restore", solution)).EnsureSuccess();
        AssertNoWarning(restore);
        Assert.True(File.Exists(_temp["lib", "obj", "project.assets.json"]), "the solution's restore did not reach the library only an image project references:\n" + restore.Output);
        Assert.False(File.Exists(_temp["py", "obj", "project.assets.json"]), "NuGet restored an image project on the Livrable base");

        AssertNoWarning((await DotnetAsync("build", solution)).EnsureSuccess());
        Assert.True(File.Exists(_temp["lib", "bin", "Debug", "net10.0", "lib.dll"]));

        var publish = (await DotnetAsync("publish", solution)).EnsureSuccess();
        AssertNoWarning(publish);
        // The configuration is the CLI's choice for the solution (PublishRelease): wherever it went, one tarball each.
        var image = await InspectAsync(Directory.EnumerateFiles(_temp["py", "bin"], "py-latest.tar", SearchOption.AllDirectories).Single());
        Assert.Equal(2, image.GetProperty("rootfs").GetProperty("diff_ids").GetArrayLength());
        Assert.Equal(["python3", "/app/main.py"], image.GetProperty("config").GetProperty("Cmd").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(1, (await InspectAsync(Directory.EnumerateFiles(_temp["base", "bin"], "base-latest.tar", SearchOption.AllDirectories).First())).GetProperty("rootfs").GetProperty("diff_ids").GetArrayLength());
    }

    [Fact]
    public async Task A_slnx_of_an_image_project_and_a_dotnet_app_on_its_image_publishes_both_and_pack_says_LIV2650_for_the_image_project()
    {
        await PackAsync();
        string img = ImageProject("img", """
              <PropertyGroup><ContainerRepository>img</ContainerRepository></PropertyGroup>
            """);
        File.WriteAllText(_temp["img", "Dockerfile"], "FROM scratch\nCOPY hello.txt /etc/hello.txt\n");
        File.WriteAllText(_temp["img", "hello.txt"], "hello\n");
        File.WriteAllText(_temp["img", ".dockerignore"], "bin/\nobj/\n");
        string app = Project("app", $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ContainerRepository>app</ContainerRepository>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Livrable.Sdk" Version="{_package.Version}" />
                <ProjectReference Include="../img/img.csproj" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(_temp["app", "Program.cs"], "System.Console.WriteLine(\"hi\");");
        string solution = await SolutionAsync("mixed", "slnx", img, app);

        var publish = (await DotnetAsync("publish", solution)).EnsureSuccess();
        AssertNoWarning(publish);
        Assert.True(File.Exists(_temp["app", "obj", "project.assets.json"]), publish.Output);
        Assert.False(File.Exists(_temp["img", "obj", "project.assets.json"]), "NuGet restored an image project on the Livrable base");
        var imgImage = await InspectAsync(Directory.EnumerateFiles(_temp["img", "bin"], "img-latest.tar", SearchOption.AllDirectories).First());
        Assert.Equal(1, imgImage.GetProperty("rootfs").GetProperty("diff_ids").GetArrayLength());
        string appArchive = Directory.EnumerateFiles(_temp["app", "bin"], "app-latest.tar", SearchOption.AllDirectories).Single();
        var appImage = await InspectAsync(appArchive);
        Assert.Equal(2, appImage.GetProperty("rootfs").GetProperty("diff_ids").GetArrayLength());
        Assert.Equal(imgImage.GetProperty("rootfs").GetProperty("diff_ids")[0].GetString(), appImage.GetProperty("rootfs").GetProperty("diff_ids")[0].GetString());
        Assert.Equal(["dotnet", "/app/app.dll"], appImage.GetProperty("config").GetProperty("Entrypoint").EnumerateArray().Select(e => e.GetString()));

        // Pack: the solution's gives the app's package and skips the image project without a word (as a test project);
        // the image project's own pack makes none and says so, on either base, unless it says IsPackable=false.
        var pack = (await DotnetAsync("pack", solution, "-o", _temp["packages"])).EnsureSuccess();
        Assert.Equal(["app.1.0.0.nupkg"], Directory.EnumerateFiles(_temp["packages"]).Select(Path.GetFileName));
        Assert.DoesNotContain("LIV2650", pack.Output);
        Assert.Matches(@"img\.csproj.*: warning LIV2650|warning LIV2650: img is an image project", (await DotnetAsync("pack", img, "-o", _temp["packages"])).EnsureSuccess().Output);
        var netSdkPack = (await DotnetAsync("pack", img, "-p:LivrableSdkBase=Microsoft.NET.Sdk", "-o", _temp["packages"])).EnsureSuccess();
        Assert.Contains("warning LIV2650", netSdkPack.Output);
        Assert.DoesNotContain("NU5017", netSdkPack.Output);
        Assert.Single(Directory.EnumerateFiles(_temp["packages"]));
        File.WriteAllText(_temp["Directory.Build.props"], "<Project><PropertyGroup><IsPackable Condition=\"'$(UsingLivrableSdk)' == 'true'\">false</IsPackable></PropertyGroup></Project>\n");
        foreach (string sdkBase in new[] { "Livrable", "Microsoft.NET.Sdk" })
            Assert.DoesNotContain("LIV2650", (await DotnetAsync("pack", img, $"-p:LivrableSdkBase={sdkBase}", "-o", _temp["packages"])).EnsureSuccess().Output);
    }
}
