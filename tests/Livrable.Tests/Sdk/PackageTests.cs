using System.Text.Json;
using Livrable.Tests.Infrastructure;
using Livrable.Tests.Samples;
using Xunit;

namespace Livrable.Tests.Sdk;

/// <summary>
/// The package as users get it: <c>dotnet pack src/Sdk -o DIR</c>, then projects outside the repository that use it
/// through a NuGet.config naming DIR, as <c>Sdk="Livrable.Sdk/version"</c> and as a PackageReference.
/// A unique prerelease version keeps NuGet's global cache from serving an older build of the package.
/// In the registry collection, not for the registry, but so that it never builds src/Tasks at the same time as the
/// samples' tests do (two builds of one project would share its obj folder).
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class PackageTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly TestPackage _package = new();

    public void Dispose()
    {
        _temp.Dispose();
    }

    private async Task<string> PackAsync(string folder = "feed")
    {
        string feed = _temp[folder];
        await _package.PackAsync(feed, _temp["NuGet.config"], TimeSpan.FromMinutes(5));
        return feed;
    }

    private async Task<string> PackAgainAsync(string folder)
    {
        string feed = _temp[folder];
        await _package.PackAgainAsync(feed, _temp["NuGet.config"], TimeSpan.FromMinutes(5));
        return feed;
    }

    private async Task<ToolResult> PublishAsync(string project, params string[] properties)
        => (await Tools.RunAsync("dotnet", ["publish", project, $"-p:ContainerStateDirectory={_temp["state"]}", "-nodeReuse:false", .. properties],
            TimeSpan.FromMinutes(5), _temp.Path, Tools.DotnetEnvironment)).EnsureSuccess();

    [Fact]
    public async Task The_package_is_the_same_bytes_when_packed_again_and_carries_its_readme()
    {
        string first = Path.Combine(await PackAsync("feed"), $"Livrable.Sdk.{_package.Version}.nupkg");
        string second = Path.Combine(await PackAgainAsync("feed2"), $"Livrable.Sdk.{_package.Version}.nupkg");
        Assert.Equal(await File.ReadAllBytesAsync(first), await File.ReadAllBytesAsync(second));

        using var zip = System.IO.Compression.ZipFile.OpenRead(first);
        Assert.All(zip.Entries, e => Assert.Equal(new DateTime(1980, 1, 1, 0, 0, 2), e.LastWriteTime.DateTime));
        using var nuspecStream = zip.GetEntry("Livrable.Sdk.nuspec")!.Open();
        var metadata = System.Xml.Linq.XDocument.Load(nuspecStream).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        string? Element(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;
        Assert.Equal("README.md", Element("readme"));
        Assert.NotNull(zip.GetEntry("README.md"));
    }

    [Fact]
    public async Task As_an_msbuild_sdk_it_builds_an_image_from_a_folder_that_runc_runs()
    {
        await PackAsync();
        string project = _temp["tiny/tiny.proj"];
        Directory.CreateDirectory(_temp["tiny/root/bin"]);
        File.Copy(Tools.Require("busybox"), _temp["tiny/root/bin/busybox"]);
        File.WriteAllText(project, $"""
            <Project Sdk="Livrable.Sdk/{_package.Version}">
              <PropertyGroup>
                <ContainerRepository>tiny</ContainerRepository>
                <ContainerBaseImage>scratch</ContainerBaseImage>
              </PropertyGroup>
              <ItemGroup>
                <ContainerLayer Include="root" Destination="/" />
                <ContainerEntrypoint Include="/bin/busybox;echo;hello from an sdk project" />
              </ItemGroup>
            </Project>
            """);

        var publish = await PublishAsync(project, "-p:ContainerTag=v1", $"-p:ContainerArchiveOutputPath={_temp["out/tiny.tar"]}");

        Assert.Contains("Built tiny:v1 sha256:", publish.Stdout);
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--config", "docker-archive:" + _temp["out/tiny.tar"]);
        using (var doc = JsonDocument.Parse(inspect.Stdout))
            Assert.Equal("/bin/busybox", doc.RootElement.GetProperty("config").GetProperty("Entrypoint")[0].GetString());
        Directory.CreateDirectory(_temp["layout"]);
        await Tools.RunCheckedAsync("tar", "-C", _temp["layout"], "-xf", _temp["out/tiny.tar"]);
        await Tools.RunCheckedAsync("umoci", "unpack", "--image", _temp["layout"] + ":v1", _temp["bundle"]);
        Assert.Equal("hello from an sdk project\n", await Runc.RunAsync(_temp["bundle"]));
    }

    [Fact]
    public async Task As_a_package_reference_a_console_app_gets_dotnet_entrypoint_and_split_layers_and_build_makes_no_image()
    {
        await PackAsync();
        string dir = _temp["app"];
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ContainerBaseImage>scratch</ContainerBaseImage>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Livrable.Sdk" Version="{_package.Version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), "System.Console.WriteLine(\"hi\");");

        var build = (await Tools.RunAsync("dotnet", ["build", dir, $"-p:ContainerStateDirectory={_temp["state"]}", "-nodeReuse:false"],
            TimeSpan.FromMinutes(5), _temp.Path, Tools.DotnetEnvironment)).EnsureSuccess();
        Assert.DoesNotContain("Built app", build.Stdout);

        var publish = await PublishAsync(dir, "-p:ContainerTag=v2", $"-p:ContainerArchiveOutputPath={_temp["out/app.tar"]}");
        Assert.Contains("Built app:v2 sha256:", publish.Stdout);
        var config = await Tools.RunCheckedAsync("skopeo", "inspect", "--config", "docker-archive:" + _temp["out/app.tar"]);
        using var doc = JsonDocument.Parse(config.Stdout);
        var c = doc.RootElement.GetProperty("config");
        Assert.Equal(["dotnet", "/app/app.dll"], c.GetProperty("Entrypoint").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("/app", c.GetProperty("WorkingDir").GetString());
        Assert.Single(doc.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray()); // no NuGet dependencies: one app layer
    }
}
