using System.Text.RegularExpressions;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.MSBuild;

/// <summary>
/// The images' part of the up-to-date check (src/Sdk/README.md, "Incremental publish"), through real publishes on
/// src/Sdk's targets: the images a Dockerfile reads are found by the build's own parser (ResolveContainerImageInputs),
/// so a tarball named through an ARG, or on a continuation line, is an input: unchanged, the publish is up to date;
/// changed, it builds again. Each of these failed with the regular expressions the targets used before (always
/// building, or missing the change). A base image tarball is written once by publishing a tiny image project.
/// </summary>
public sealed class ImageInputsPublishTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly string _baseTarball;

    public ImageInputsPublishTests()
    {
        SdkProjects.WriteDirectoryBuildFiles(_temp.Path, $"<ContainerStateDirectory>{_temp["state"]}</ContainerStateDirectory>");
        _baseTarball = _temp["images", "base.tar"];
        SdkProjects.WriteTarballBaseProject(_temp["base"], _baseTarball, "hello.txt", "one\n");
    }

    public void Dispose() => _temp.Dispose();

    /// <summary>
    /// FROM names the tarball through a meta ARG set by ContainerBuildArg, or through a line continuation with
    /// <c># escape=`</c>; <c>COPY --from=</c> names it at the start of a continuation line. On main the first two always
    /// built (the regular expression read <c>$BASE</c> and <c>`</c> as registry tags), and the third missed the change.
    /// </summary>
    [Theory]
    [InlineData("ARG BASE\nFROM $BASE\nCOPY a.txt /\n", true)]
    [InlineData("# escape=`\nFROM --platform=linux/amd64 `\n  archive:{0} AS b\nCOPY a.txt /\n", false)]
    [InlineData("FROM scratch\nCOPY a.txt /\nCOPY \\\n--from=archive:{0} /hello.txt /hello.txt\n", false)]
    public async Task A_tarball_the_Dockerfile_reads_is_an_input(string dockerfile, bool buildArg)
    {
        await PublishAsync(_temp["base", "base.csproj"]);
        string dir = _temp["app"];
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "Dockerfile"), string.Format(System.Globalization.CultureInfo.InvariantCulture, dockerfile, _baseTarball));
        File.WriteAllText(Path.Combine(dir, ".dockerignore"), "bin/\nobj/\n");
        File.WriteAllText(Path.Combine(dir, "a.txt"), "a\n");
        File.WriteAllText(Path.Combine(dir, "app.csproj"), $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerTag>v1</ContainerTag>
              </PropertyGroup>
              <ItemGroup>
                <ContainerBuildArg Include="BASE" Value="archive:{_baseTarball}" Condition="{(buildArg ? "true" : "false")}" />
              </ItemGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
        string project = Path.Combine(dir, "app.csproj");

        string d1 = FinalLines.Built(await PublishAsync(project), "app:v1");
        Assert.Equal(d1, FinalLines.UpToDate(await PublishAsync(project), "app:v1"));

        // The tarball written again with other content: the image step runs, and the image changes.
        File.WriteAllText(_temp["base", "root", "hello.txt"], "two\n");
        await PublishAsync(_temp["base", "base.csproj"]);
        var rebuilt = await PublishAsync(project);
        string d2 = FinalLines.Built(rebuilt, "app:v1");
        Assert.NotEqual(d1, d2);
        Assert.Equal(d2, FinalLines.UpToDate(await PublishAsync(project), "app:v1"));

        // Only touched: the image step runs again (and finds the tarball it would write already there).
        File.SetLastWriteTimeUtc(_baseTarball, DateTime.UtcNow.AddSeconds(2));
        Assert.Equal(d2, FinalLines.Ran(await PublishAsync(project), "app:v1"));

        string tarball = Regex.Match(rebuilt.Stdout, @"(?m)Built app:v1 sha256:[0-9a-f]{64} \([^)]*\) -> (\S+)").Groups[1].Value;
        var image = await new ArchiveImage(tarball, "v1", new BlobStore(_temp["reader"]))
            .ResolveAsync(Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(tarball, image, "v1", _temp["check"]);
        Assert.Equal("two\n", File.ReadAllText(Path.Combine(rootfs, "hello.txt")));
    }

    /// <summary>
    /// After a publish with ContainerNoCache=true (a property in image.inputs) the next publish runs the step once,
    /// finds the tarball already holding the image and leaves it as it is; the one after is up to date again. On main
    /// the untouched tarball, an output older than image.inputs, kept the step running on every publish; deleting the
    /// tarball still builds again.
    /// </summary>
    [Fact]
    public async Task An_unchanged_tarball_does_not_keep_the_step_running()
    {
        string project = _temp["base", "base.csproj"];
        string d1 = FinalLines.Built(await PublishAsync(project), "base:v1");
        Assert.Equal(d1, FinalLines.Ran(await PublishAsync(project, "-p:ContainerNoCache=true"), "base:v1"));
        Assert.Equal(d1, FinalLines.Ran(await PublishAsync(project), "base:v1"));
        Assert.Equal(d1, FinalLines.UpToDate(await PublishAsync(project), "base:v1"));
        File.Delete(_baseTarball);
        Assert.Equal(d1, FinalLines.Built(await PublishAsync(project), "base:v1"));
        Assert.True(File.Exists(_baseTarball));
    }

    /// <summary>A FROM by registry tag, named through a build argument: the image step runs on every publish.</summary>
    [Fact]
    public async Task A_registry_tag_from_a_build_argument_always_builds()
    {
        string dir = _temp["tag"];
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "Dockerfile"), "ARG BASE=scratch\nFROM ${BASE}\n");
        File.WriteAllText(Path.Combine(dir, "tag.csproj"), $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <ItemGroup>
                <ContainerBuildArg Include="BASE" Value="registry.example.com/base:1" />
              </ItemGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
        var result = await Tools.DotnetAsync(_temp.Path, "msbuild", Path.Combine(dir, "tag.csproj"),
            ["-t:_LivrableComputeImageInputs", "-getProperty:_LivrableImageAlwaysBuild"]);
        result.EnsureSuccess();
        Assert.StartsWith("'registry.example.com/base:1' is an image in a registry by tag", result.Stdout.Trim());
    }

    private async Task<ToolResult> PublishAsync(string project, params string[] properties)
        => (await Tools.DotnetAsync(_temp.Path, "publish", project, ["-v:n", .. properties])).EnsureSuccess();
}
