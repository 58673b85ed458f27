using System.Text.Json;
using System.Text.RegularExpressions;
using Livrable.Tests.Infrastructure;
using Livrable.Tests.Samples;
using Xunit;

namespace Livrable.Tests.Sdk;

/// <summary>
/// The image step's inputs file and record are written and read by Livrable's own tasks (WriteContainerImageInputs,
/// WriteContainerImageRecord, ReadContainerImageRecord), not by MSBuild's Hash, MakeDir, WriteLinesToFile, Delete and
/// Message: a publish of an image project
/// (the packed SDK, MSBuild on .NET: the task in MSBuild's process) runs no task of Microsoft.Build.Tasks.Core, whose
/// load and first task were about 10 ms of every publish (issue 14). With the record semantics kept: written after a
/// successful build, absent after a failed one, the manifest and config kept beside it, the up-to-date publish printing
/// its line, clean removing them. Each image is read by skopeo.
/// In the registry collection, not for the registry, but so that it never packs src/Sdk at the same time as the other
/// package tests.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class ImageRecordTasksTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly TestPackage _package = new();

    public void Dispose()
    {
        _temp.Dispose();
    }

    private async Task<ToolResult> PublishAsync(string project, params string[] arguments)
        => await Tools.DotnetAsync(_temp.Path, "publish", project, ["-tl:off", "-clp:PerformanceSummary", $"-p:ContainerStateDirectory={_temp["state"]}", .. arguments]);

    /// <summary>The tasks of the log's Task Performance Summary.</summary>
    private static string[] TasksRun(ToolResult result)
    {
        int start = result.Stdout.IndexOf("Task Performance Summary:", StringComparison.Ordinal);
        Assert.True(start >= 0, "no task summary:\n" + result.Output);
        return result.Stdout[start..].Split('\n').Skip(1)
            .Select(line => Regex.Match(line, @"^\s+\d+ ms\s+(\S+)\s+\d+ calls"))
            .TakeWhile(match => match.Success)
            .Select(match => match.Groups[1].Value).ToArray();
    }

    private static readonly string[] LivrableTasks = ["StartContainerImageBuild", "ResolveContainerImageInputs", "BuildContainerImage", "WriteContainerImageInputs", "WriteContainerImageRecord", "ReadContainerImageRecord"];

    [Fact]
    public async Task A_publish_of_an_image_project_runs_only_Livrable_tasks_and_keeps_the_record_semantics()
    {
        await _package.PackAsync(_temp["feed"], _temp["NuGet.config"], TimeSpan.FromMinutes(5));
        string project = _temp["img", "img.proj"];
        Directory.CreateDirectory(_temp["img"]);
        File.WriteAllText(project, $"""
            <Project Sdk="Livrable.Sdk/{_package.Version}">
              <PropertyGroup><ContainerRepository>img</ContainerRepository></PropertyGroup>
            </Project>
            """);
        File.WriteAllText(_temp["img", "Dockerfile"], "FROM scratch\nCOPY hello.txt /hello.txt\n");
        File.WriteAllText(_temp["img", ".dockerignore"], "bin/\nobj/\n");
        File.WriteAllText(_temp["img", "hello.txt"], "hello\n");
        string record = _temp["img", "obj", "Debug", "netstandard2.0", "container", "image.record"];
        string archive = _temp["img", "bin", "Debug", "netstandard2.0", "container", "img-latest.tar"];

        var built = (await PublishAsync(project)).EnsureSuccess();
        Assert.Empty(TasksRun(built).Except(LivrableTasks));
        string digest = Regex.Match(built.Stdout, @"Built img:latest (sha256:[0-9a-f]{64})").Groups[1].Value;
        Assert.StartsWith("sha256:", digest);
        Assert.Contains($"digest={digest}", File.ReadAllText(record));
        Assert.Contains($"archive={archive}", File.ReadAllText(record));
        string manifest = File.ReadAllText(Path.Combine(Path.GetDirectoryName(record)!, "image.manifest.json"));
        Assert.Equal(1, JsonDocument.Parse(manifest).RootElement.GetProperty("layers").GetArrayLength());
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(record)!, "image.config.json")));
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--config", "docker-archive:" + archive);
        Assert.Equal(1, JsonDocument.Parse(inspect.Stdout).RootElement.GetProperty("rootfs").GetProperty("diff_ids").GetArrayLength());

        // Unchanged: the step is skipped, the record's line printed, and still no task but Livrable's.
        var unchanged = (await PublishAsync(project)).EnsureSuccess();
        Assert.Contains($"Up to date: img:latest {digest}", unchanged.Stdout);
        Assert.Empty(TasksRun(unchanged).Except(LivrableTasks));
        Assert.DoesNotContain("WriteContainerImageRecord", TasksRun(unchanged));
        Assert.Contains("ReadContainerImageRecord", TasksRun(unchanged));

        // A failed build leaves no record, so the next publish builds again.
        File.WriteAllText(_temp["img", "Dockerfile"], "FROM scratch\nCOPY missing.txt /missing.txt\n");
        var failed = await PublishAsync(project);
        Assert.NotEqual(0, failed.ExitCode);
        Assert.False(File.Exists(record), "a failed build left the record");
        File.WriteAllText(_temp["img", "Dockerfile"], "FROM scratch\nCOPY hello.txt /hello.txt\n");
        var again = (await PublishAsync(project)).EnsureSuccess();
        // The step ran (the engine then finds the tarball already holds the image, and says so): the same digest.
        Assert.Contains("WriteContainerImageRecord", TasksRun(again));
        Assert.Contains($"img:latest {digest}", again.Stdout);
        Assert.True(File.Exists(record));

        // Clean removes the record, its JSON files and the tarball.
        (await Tools.DotnetAsync(_temp.Path, "clean", project, ["-tl:off"])).EnsureSuccess();
        Assert.False(File.Exists(record));
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(record)!, "image.manifest.json")));
        Assert.False(File.Exists(archive));
    }
}
