using System.Text.RegularExpressions;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.MSBuild;

/// <summary>
/// The image step's head start through MSBuild (<c>_LivrableStartImageBuildEarly</c>, <c>StartContainerImageBuild</c>,
/// taken by <c>BuildContainerImage</c>): a <c>dotnet publish</c> of a Dockerfile image project FROM a registry tag
/// starts it before the build; an unchanged publish is skipped when the tag's HEAD ahead says it names what it named,
/// a changed one runs the image step, which takes it; the registry sees one manifest request per publish;
/// <c>LivrableHeadStart=false</c> starts none; a registry that refuses the base is reported once, by the image step
/// with its LIV code, never by the early task. In MSBuild's own process (<c>LivrableTaskHost</c> InProcess: an object
/// handed from task to task lives in one process), through a <see cref="FaultProxy"/> that counts the requests.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class HeadStartPublishTests(RegistryFixture registry) : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_publish_starts_the_base_resolution_before_the_build_and_the_image_step_uses_it()
    {
        string repository = $"livrable-test/headstart-publish-{Guid.NewGuid():N}"[..40];
        var push = new Livrable.Build.ImageBuildRequest
        {
            BaseImage = "scratch",
            Platform = Livrable.Images.Platform.FromRuntimeIdentifier("linux-x64"),
            Repository = repository,
            Tags = ["v1"],
            StateDirectory = _temp["state-base"],
            Registry = registry.Registry,
            Layers = [new Livrable.Layers.FilesLayerSpec([new Livrable.Layers.LayerFile(Tools.Require("busybox"), "/bin/busybox")]) { CreatedBy = "busybox" }],
        };
        await Livrable.Build.ImageBuilder.BuildAsync(push, Livrable.Diagnostics.NullLogger.Instance, CancellationToken.None);
        using var proxy = new FaultProxy(registry.Registry);

        // In process, not in a task host: the head start is handed from task to task inside MSBuild's process.
        SdkProjects.WriteDirectoryBuildFiles(_temp.Path, $"""
            <ContainerStateDirectory>{_temp["state"]}</ContainerStateDirectory>
            <LivrableTasksUseTaskHost>false</LivrableTasksUseTaskHost>
            """);
        Directory.CreateDirectory(_temp["img", "files"]);
        File.WriteAllText(_temp["img", "files", "a.txt"], "a\n");
        File.WriteAllText(_temp["img", "Dockerfile"], $"FROM {proxy.Registry}/{repository}:v1\nCOPY files /data\n");
        File.WriteAllText(_temp["img", "img.csproj"], $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerTag>v1</ContainerTag>
                <ContainerArchiveOutputPath>{_temp["out", "img.tar"]}</ContainerArchiveOutputPath>
              </PropertyGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
        string project = _temp["img", "img.csproj"];

        var cold = await PublishAsync(project);
        string digest = Built(cold);
        proxy.Requests.Clear();

        // Unchanged: the head start's HEAD says the tag names what it named (image.tags), and MSBuild skips the step.
        var again = await PublishAsync(project);
        Assert.Contains("Image step started ahead: ", again.Stdout);
        Assert.Contains("The registry tags name the images they named at the last image step: ", again.Stdout);
        Assert.DoesNotContain("head start: started", again.Stdout);
        Assert.Contains("Skipping target \"_LivrableBuildImage\" because all output files are up-to-date", again.Stdout);
        Assert.Equal(digest, Built(again));
        Assert.Equal([$"HEAD /v2/{repository}/manifests/v1"], Manifests(proxy));

        // A file changed: the step runs, and takes the head start (one HEAD in all).
        proxy.Requests.Clear();
        File.WriteAllText(_temp["img", "files", "a.txt"], "b\n");
        var edited = await PublishAsync(project);
        Assert.Matches(@"head start: started \d+ ms before the task", edited.Stdout);
        Assert.Contains("state folder: lease taken ahead", edited.Stdout);
        string editedDigest = Built(edited);
        Assert.NotEqual(digest, editedDigest);
        Assert.Equal([$"HEAD /v2/{repository}/manifests/v1"], Manifests(proxy));

        proxy.Requests.Clear();
        var without = await PublishAsync(project, "-p:LivrableHeadStart=false");
        Assert.DoesNotContain("head start", without.Stdout);
        Assert.Contains("The image step runs whatever changed: ", without.Stdout);
        Assert.Equal(editedDigest, Built(without));
        Assert.Equal([$"HEAD /v2/{repository}/manifests/v1"], Manifests(proxy));

        // The tag moved: image.tags changes, the step runs on the new base.
        await Livrable.Build.ImageBuilder.BuildAsync(push with
        {
            Layers = [new Livrable.Layers.FilesLayerSpec([new Livrable.Layers.LayerFile(Tools.Require("busybox"), "/bin/sh")]) { CreatedBy = "sh" }],
        }, Livrable.Diagnostics.NullLogger.Instance, CancellationToken.None);
        var moved = await PublishAsync(project);
        Assert.Contains("The registry tags name other images than at the last image step: ", moved.Stdout);
        Assert.Matches(@"head start: started \d+ ms before the task", moved.Stdout);
        Assert.NotEqual(editedDigest, Built(moved));

        // Refused ahead and again: one LIV3002, from the image step (its FROM line), none from the early task.
        proxy.On("HEAD", "/manifests/", new Fault.Status(401), times: 1000);
        proxy.On("GET", "/manifests/", new Fault.Status(401), times: 1000);
        var refused = await Tools.DotnetAsync(_temp.Path, "publish", project, ["-v:d", "-clp:NoSummary"]);
        Assert.NotEqual(0, refused.ExitCode);
        var errors = Regex.Matches(refused.Stdout, @"error LIV\d{4}").Select(m => m.Value).ToList();
        Assert.Equal(["error LIV3002"], errors);
        Assert.True(Regex.IsMatch(refused.Stdout, @"Dockerfile\(1,1[,0-9]*\): error LIV3002"), string.Join("\n", refused.Stdout.Split('\n').Where(l => l.Contains("LIV3002"))));
        Assert.Contains("Image step started ahead: ", refused.Stdout);
        Assert.Contains("not resolved ahead of the step; the step resolves it", refused.Stdout);
    }

    private async Task<ToolResult> PublishAsync(string project, params string[] properties)
        => (await Tools.DotnetAsync(_temp.Path, "publish", project, ["-v:d", .. properties])).EnsureSuccess();

    private static List<string> Manifests(FaultProxy proxy) => proxy.Requests.Where(r => r.Contains("/manifests/", StringComparison.Ordinal)).ToList();

    /// <summary>The digest of the final line: built, or found up to date by the engine (every step cached).</summary>
    private static string Built(ToolResult publish)
    {
        var match = Regex.Match(publish.Stdout, @"(?:Built|Up to date:) \S+:v1 (sha256:[0-9a-f]{64})");
        Assert.True(match.Success, publish.Stdout[^Math.Min(4000, publish.Stdout.Length)..]);
        return match.Groups[1].Value;
    }
}
