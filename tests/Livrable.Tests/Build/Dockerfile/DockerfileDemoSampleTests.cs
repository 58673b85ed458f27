using System.Text.RegularExpressions;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Livrable.Tests.Samples;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// samples/dockerfile-demo, the README's command run for real: <c>dotnet publish samples/dockerfile-demo</c> builds
/// debian-base and hello (its named contexts), then the Dockerfile. The tarball is read by skopeo and umoci, holds
/// the site the first stage assembled, and runs the hello app with runc; an error in the Dockerfile is reported by
/// MSBuild as <c>path/Dockerfile(line,col): error LIVnnnn</c>.
/// In the registry collection: it pushes there, and it must never build the samples and src/Tasks at the same time
/// as the other tests that publish them (two builds of one project would share its obj folder).
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed partial class DockerfileDemoSampleTests(RegistryFixture registry) : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly string _repository = TestRepository.Root;

    public void Dispose() => _temp.Dispose();

    private async Task<ToolResult> PublishAsync(string root, params string[] properties)
        => await Tools.RunAsync("dotnet",
            ["publish", Path.Combine(root, "samples", "dockerfile-demo"), "-p:ContainerTag=v1",
                $"-p:ContainerStateDirectory={Path.Combine(root, "artifacts", "livrable-state")}", "-nodeReuse:false",
                // Built for real each time, even when an earlier run left an up-to-date image (see MSBuild/IncrementalPublishTests).
                "-p:ContainerIncremental=false", .. properties],
            TimeSpan.FromMinutes(8), root, Tools.DotnetEnvironment);

    [Fact]
    public async Task The_sample_builds_from_its_Dockerfile_and_runs()
    {
        var result = (await PublishAsync(_repository)).EnsureSuccess();
        var built = BuiltLine().Matches(result.Stdout).LastOrDefault();
        Assert.True(built is not null, result.Stdout);
        string tarball = built.Groups["destination"].Value.Trim();
        Assert.EndsWith("dockerfile-demo-v1.tar", tarball);
        // The state folder is kept between runs, so the step may come from the step cache.
        Assert.Matches(@"\] (CACHED )?site: ADD assets\.tar\.xz /site/assets/", result.Stdout);
        Assert.DoesNotContain("warning", result.Stdout, StringComparison.OrdinalIgnoreCase);

        var image = await new ArchiveImage(tarball, "v1", new BlobStore(_temp["reader"]))
            .ResolveAsync(Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        Assert.Equal(["/opt/hello/hello"], image.Config.Entrypoint);
        Assert.Equal("65532:65532", image.Config.User);
        Assert.Equal("/srv/www", image.Config.WorkingDir);

        string rootfs = await ImageValidator.ValidateArchiveAsync(tarball, image, "v1", _temp["check"]);
        Assert.Contains("<h1>Built by dotnet publish</h1>", File.ReadAllText(Path.Combine(rootfs, "srv", "www", "index.html")));
        Assert.True(File.Exists(Path.Combine(rootfs, "srv", "www", "assets", "style.css")));
        Assert.True(File.Exists(Path.Combine(rootfs, "srv", "www", "about.html")));
        Assert.False(Directory.Exists(Path.Combine(rootfs, "srv", "www", "drafts")));
        Assert.Equal("Hello from Livrable\n", await Runc.RunAsync(Path.GetDirectoryName(rootfs)!));
    }

    [Fact]
    public async Task An_error_in_the_Dockerfile_is_reported_at_its_full_path_line_and_column()
    {
        string dockerfile = _temp["broken", "Dockerfile"];
        Directory.CreateDirectory(Path.GetDirectoryName(dockerfile)!);
        File.WriteAllText(dockerfile, "FROM scratch\nEXPOSE 80/xyz\n");

        var result = await PublishAsync(_repository, $"-p:ContainerDockerfile={dockerfile}", $"-p:ContainerBuildContext={_temp["broken"]}");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains($"{dockerfile}(2,1", result.Stdout);
        Assert.Contains("error LIV1105: invalid proto: xyz", result.Stdout);
    }

    [Fact]
    public async Task The_sample_pushed_to_a_registry_is_listed_by_skopeo_and_an_unchanged_publish_uploads_nothing()
    {
        string[] push = [$"-p:ContainerRegistry={registry.Registry}", "-p:ContainerRepository=samples/dockerfile-demo"];
        var first = (await PublishAsync(_repository, push)).EnsureSuccess();
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--tls-verify=false", $"docker://{registry.Registry}/samples/dockerfile-demo:v1");
        using (var doc = System.Text.Json.JsonDocument.Parse(inspect.Stdout))
        {
            string? digest = doc.RootElement.GetProperty("Digest").GetString();
            Assert.Contains($" {digest} ", first.Stdout);
        }
        var config = await Tools.RunCheckedAsync("skopeo", "inspect", "--config", "--tls-verify=false", $"docker://{registry.Registry}/samples/dockerfile-demo:v1");
        using (var doc = System.Text.Json.JsonDocument.Parse(config.Stdout))
            Assert.Equal("65532:65532", doc.RootElement.GetProperty("config").GetProperty("User").GetString());
        var again = (await PublishAsync(_repository, push)).EnsureSuccess();
        Assert.Contains("uploaded 0 blobs", again.Stdout);
    }

    [GeneratedRegex(@"(?:Built|Up to date:) (?<ref>\S+) (?<digest>sha256:[0-9a-f]{64}) \([^)]*\) -> (?<destination>.+?) in [0-9.]+s")]
    private static partial Regex BuiltLine();
}
