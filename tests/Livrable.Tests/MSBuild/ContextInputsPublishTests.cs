using System.Text.RegularExpressions;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.MSBuild;

/// <summary>
/// The folders among the image step's up-to-date inputs (src/Sdk/README.md, "Incremental publish"), walked by
/// WriteContainerImageInputs (Context/InputFolders) instead of MSBuild's <c>**</c> glob: with a pinned base (here an
/// image tarball, <c>FROM archive:...</c>), an unchanged publish skips the step and keeps the record; every change of
/// the context (an edit, a file added, removed or renamed, a <c>chmod</c>, a new empty folder, a symbolic link
/// pointed elsewhere) runs it, to the digest a fresh build of the same context gives (another project on the same
/// Dockerfile and context, with its own state folder and ContainerNoCache=true); a change in what is left out (bin/
/// and obj/ named by the .dockerignore, the record folder, the tarball) does not. On main the chmod was missed (MSBuild
/// compares modification times only: the image kept the old mode), and so was the new empty folder (the glob lists
/// files). What the walk cannot list runs the step, which reports it. Real publishes on src/Sdk's targets; each image
/// is read by skopeo and umoci.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ContextInputsPublishTests : IDisposable
{
    private const string SkippedLine = "Skipping target \"_LivrableBuildImage\" because all output files are up-to-date";
    private readonly TempDirectory _temp = new();
    private readonly string _baseTarball;

    public ContextInputsPublishTests()
    {
        SdkProjects.WriteDirectoryBuildFiles(_temp.Path, $"<ContainerStateDirectory>{_temp["state"]}</ContainerStateDirectory>");
        _baseTarball = _temp["images", "base.tar"];
        SdkProjects.WriteTarballBaseProject(_temp["base"], _baseTarball, "base.txt", "base\n");
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_pinned_Dockerfile_image_runs_its_step_for_every_change_of_the_context_and_for_nothing_else()
    {
        await PublishAsync(_temp["base", "base.csproj"]);
        string ctx = _temp["app"];
        Directory.CreateDirectory(Path.Combine(ctx, "sub"));
        File.WriteAllText(Path.Combine(ctx, "app.csproj"), $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerTag>v1</ContainerTag>
                <ContainerArchiveOutputPath>{Path.Combine(ctx, "out", "app.tar")}</ContainerArchiveOutputPath>
              </PropertyGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
        // The fresh build: the same Dockerfile and context, another project folder and state folder, no cache.
        Directory.CreateDirectory(_temp["fresh"]);
        File.WriteAllText(_temp["fresh", "fresh.csproj"], $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerRepository>app</ContainerRepository>
                <ContainerTag>v1</ContainerTag>
                <ContainerDockerfile>{Path.Combine(ctx, "Dockerfile")}</ContainerDockerfile>
                <ContainerBuildContext>{ctx}</ContainerBuildContext>
                <ContainerStateDirectory>{_temp["fresh-state"]}</ContainerStateDirectory>
                <ContainerNoCache>true</ContainerNoCache>
              </PropertyGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
        File.WriteAllText(Path.Combine(ctx, "Dockerfile"), $"FROM archive:{_baseTarball}\nCOPY . /data/\n");
        // bin/ and obj/ named, so left out of the walk; out/ (the tarball's folder) is ignored by the build, not by the walk.
        File.WriteAllText(Path.Combine(ctx, ".dockerignore"), "bin/\nobj/\nout/\n");
        File.WriteAllText(Path.Combine(ctx, "a.txt"), "a\n");
        File.WriteAllText(Path.Combine(ctx, "sub", "b.txt"), "b\n");
        File.CreateSymbolicLink(Path.Combine(ctx, "link"), "a.txt");
        // As a .NET app's build makes it (this image project writes its tarball to out/).
        Directory.CreateDirectory(Path.Combine(ctx, "bin", "Debug"));
        string project = Path.Combine(ctx, "app.csproj");
        string record = Path.Combine(ctx, "obj", "Debug", "netstandard2.0", "container", "image.record");
        string tarball = Path.Combine(ctx, "out", "app.tar");

        string digest = FinalLines.Built(await PublishAsync(project), "app:v1");
        Assert.Equal(digest, await FreshAsync());

        // Unchanged: MSBuild skips the step, and the record is the same file.
        byte[] recorded = File.ReadAllBytes(record);
        DateTime recordTime = File.GetLastWriteTimeUtc(record);
        await SkippedAsync(project, digest);
        Assert.Equal(recorded, File.ReadAllBytes(record));
        Assert.Equal(recordTime, File.GetLastWriteTimeUtc(record));

        // What is left out: a new file and a touched one in bin/ and obj/, one in the record's folder, the tarball touched.
        foreach (string folder in new[] { "bin", "obj" })
        {
            File.WriteAllText(Path.Combine(ctx, folder, "new.txt"), "new\n");
            File.SetLastWriteTimeUtc(Directory.GetFiles(Path.Combine(ctx, folder), "*", SearchOption.AllDirectories).First(), DateTime.UtcNow.AddSeconds(1));
        }
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(record)!, "note.txt"), "note\n");
        File.SetLastWriteTimeUtc(tarball, DateTime.UtcNow.AddSeconds(1));
        await SkippedAsync(project, digest);

        // Each change of the context runs the step, to a new image, the one a fresh build makes.
        var changes = new (string What, Action Change)[]
        {
            ("an edit", () => File.WriteAllText(Path.Combine(ctx, "sub", "b.txt"), "b, edited\n")),
            ("a file added", () => File.WriteAllText(Path.Combine(ctx, "sub", "c.txt"), "c\n")),
            ("a file removed", () => File.Delete(Path.Combine(ctx, "sub", "c.txt"))),
            ("a file renamed", () => File.Move(Path.Combine(ctx, "sub", "b.txt"), Path.Combine(ctx, "sub", "d.txt"))),
            ("a chmod", () => File.SetUnixFileMode(Path.Combine(ctx, "a.txt"), (UnixFileMode)Convert.ToInt32("755", 8))),
            ("a new empty folder", () => Directory.CreateDirectory(Path.Combine(ctx, "empty"))),
            ("a link pointed elsewhere", () =>
            {
                File.Delete(Path.Combine(ctx, "link"));
                File.CreateSymbolicLink(Path.Combine(ctx, "link"), "sub/d.txt");
            }),
        };
        foreach (var (what, change) in changes)
        {
            change();
            var run = await PublishAsync(project);
            Assert.True(!run.Output.Contains(SkippedLine), $"{what}: the image step was skipped");
            string next = FinalLines.Ran(run, "app:v1");
            Assert.True(next != digest, $"{what}: the image did not change");
            Assert.True(next == await FreshAsync(), $"{what}: not the digest of a fresh build");
            digest = next;
        }
        await SkippedAsync(project, digest);

        // The last image, read by skopeo and unpacked by umoci: the mode, the folder and the link are there.
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", $"oci-archive:{tarball}:v1");
        Assert.Contains($"\"Digest\": \"{digest}\"", inspect.Stdout);
        await Tools.RunCheckedAsync("skopeo", "--insecure-policy", "copy", $"oci-archive:{tarball}:v1", $"oci:{_temp["oci"]}:v1");
        await Tools.RunCheckedAsync("umoci", "unpack", "--image", $"{_temp["oci"]}:v1", _temp["bundle"]);
        string data = Path.Combine(_temp["bundle"], "rootfs", "data");
        Assert.Equal((UnixFileMode)Convert.ToInt32("755", 8), File.GetUnixFileMode(Path.Combine(data, "a.txt")));
        Assert.True(Directory.Exists(Path.Combine(data, "empty")));
        Assert.Equal("sub/d.txt", new FileInfo(Path.Combine(data, "link")).LinkTarget);
        Assert.Equal("b, edited\n", File.ReadAllText(Path.Combine(data, "sub", "d.txt")));
        Assert.False(File.Exists(Path.Combine(data, "sub", "b.txt")));

        // What the walk cannot list ("caf\xe9.txt", Latin-1) runs the step, and the build reports it with its code;
        // the inputs task reports no error of its own.
        await Tools.RunCheckedAsync("sh", "-c", $"printf 'x' > \"$(printf '{ctx}/sub/caf\\351.txt')\"");
        var latin1 = await Tools.DotnetAsync(_temp.Path, "publish", project, ["-v:n"]);
        Assert.NotEqual(0, latin1.ExitCode);
        Assert.Contains("error LIV4062", latin1.Output);
        Assert.Single(Regex.Matches(latin1.Output, @"error [A-Z]+\d+:").Select(m => m.Value).Distinct());
        // .NET cannot name the file to delete it (nor could the temporary folder's cleanup).
        await Tools.RunCheckedAsync("sh", "-c", $"rm -f \"$(printf '{ctx}/sub/caf\\351.txt')\"");
    }

    /// <summary>
    /// Properties mode: a ContainerLayer folder is walked the same way. A chmod in it runs the step (on main the image
    /// kept the old mode); unchanged, the step is skipped.
    /// </summary>
    [Fact]
    public async Task A_ContainerLayer_folder_change_of_mode_runs_the_step()
    {
        string project = _temp["base", "base.csproj"];
        string d1 = FinalLines.Built(await PublishAsync(project), "base:v1");
        await SkippedAsync(project, d1, "base:v1");
        File.SetUnixFileMode(_temp["base", "root", "base.txt"], (UnixFileMode)Convert.ToInt32("700", 8));
        string d2 = FinalLines.Ran(await PublishAsync(project), "base:v1");
        Assert.NotEqual(d1, d2);
        await SkippedAsync(project, d2, "base:v1");
        await Tools.RunCheckedAsync("skopeo", "--insecure-policy", "copy", "docker-archive:" + _baseTarball, $"oci:{_temp["oci"]}:v1");
        await Tools.RunCheckedAsync("umoci", "unpack", "--image", $"{_temp["oci"]}:v1", _temp["bundle"]);
        // Properties mode normalizes a layer file's mode by its owner's execute bit: 0700 is 0755 in the image.
        Assert.Equal((UnixFileMode)Convert.ToInt32("755", 8), File.GetUnixFileMode(Path.Combine(_temp["bundle"], "rootfs", "base.txt")));
    }

    /// <summary>The image of the fresh project (same Dockerfile and context, no cache, its own state folder).</summary>
    private async Task<string> FreshAsync() => FinalLines.Ran(await PublishAsync(_temp["fresh", "fresh.csproj"]), "app:v1");

    private async Task SkippedAsync(string project, string digest, string reference = "app:v1")
    {
        var same = await PublishAsync(project);
        Assert.True(same.Output.Contains(SkippedLine), "the image step ran:\n" + same.Output);
        Assert.Equal(digest, FinalLines.UpToDate(same, reference));
    }

    private async Task<ToolResult> PublishAsync(string project, params string[] properties)
        => (await Tools.DotnetAsync(_temp.Path, "publish", project, ["-v:d", .. properties])).EnsureSuccess();
}
