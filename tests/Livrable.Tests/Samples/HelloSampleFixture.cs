using System.Text.RegularExpressions;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Samples;

/// <summary>
/// The README's main command, run for real: <c>dotnet publish samples/hello -p:ContainerTag=v1</c> in this repository,
/// and the same in a copy of it in another folder (as a second clone would be), each with its own empty state folder.
/// </summary>
public sealed partial class HelloSampleFixture : IAsyncLifetime
{
    /// <summary>The repository holding this test's source (the folder with Packaging.sln).</summary>
    public string Repository { get; } = TestRepository.Root;

    /// <summary>A second clone of the repository, in a temporary folder.</summary>
    public string Copy { get; } = Path.Combine(Path.GetTempPath(), "livrable-clone-" + Guid.NewGuid().ToString("N")[..10]);

    public PublishResult InRepository { get; private set; } = null!;
    public PublishResult InCopy { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await CopyTrackedFilesAsync(Repository, Copy);
        InRepository = await PublishAsync(Repository, "v1");
        InCopy = await PublishAsync(Copy, "v1");
    }

    public Task DisposeAsync()
    {
        try { Directory.Delete(Copy, recursive: true); } catch (IOException) { }
        return Task.CompletedTask;
    }

    /// <summary>Runs <c>dotnet publish samples/hello</c> in <paramref name="root"/>; fails the test unless it succeeds.</summary>
    public static async Task<PublishResult> PublishAsync(string root, string tag, params string[] properties)
    {
        string state = Path.Combine(root, "artifacts", "livrable-state");
        var result = await Tools.RunAsync("dotnet",
            ["publish", Path.Combine(root, "samples", "hello"), $"-p:ContainerTag={tag}", $"-p:ContainerStateDirectory={state}", "-nodeReuse:false",
                // Built for real each time, even when an earlier run left an up-to-date image (see MSBuild/IncrementalPublishTests).
                "-p:ContainerIncremental=false", .. properties],
            TimeSpan.FromMinutes(8), root, Tools.DotnetEnvironment);
        result.EnsureSuccess();
        // The last 'Built' line is hello's; the first is its base image project's.
        var built = BuiltLine().Matches(result.Stdout).LastOrDefault();
        Assert.True(built is not null, "no 'Built ...' line in the output:\n" + result.Stdout);
        return new PublishResult(result.Stdout, built.Groups["digest"].Value, built.Groups["destination"].Value.Trim());
    }


    /// <summary>
    /// Makes <paramref name="target"/> a second clone of <paramref name="repository"/>: same commit, same remote URL
    /// (the compiler's SourceLink data names both, so a clone must match them to be "the same commit"), plus the working
    /// tree's uncommitted edits and untracked files, so that the test also holds for a change not yet committed.
    /// </summary>
    private static async Task CopyTrackedFilesAsync(string repository, string target)
    {
        (await Tools.RunAsync("git", ["clone", "--quiet", "--no-hardlinks", repository, target])).EnsureSuccess();
        var origin = await Tools.RunAsync("git", ["-C", repository, "remote", "get-url", "origin"]);
        if (origin.ExitCode == 0) (await Tools.RunAsync("git", ["-C", target, "remote", "set-url", "origin", origin.Stdout.Trim()])).EnsureSuccess();
        else (await Tools.RunAsync("git", ["-C", target, "remote", "remove", "origin"])).EnsureSuccess();

        string patch = Path.Combine(target, ".git", "working-tree.patch");
        var diff = (await Tools.RunAsync("git", ["-C", repository, "diff", "HEAD", "--binary"])).EnsureSuccess();
        await File.WriteAllTextAsync(patch, diff.Stdout);
        if (diff.Stdout.Length > 0) (await Tools.RunAsync("git", ["-C", target, "apply", "--binary", patch])).EnsureSuccess();
        var untracked = (await Tools.RunAsync("git", ["-C", repository, "ls-files", "-z", "--others", "--exclude-standard"])).EnsureSuccess();
        foreach (string relative in untracked.Stdout.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            string destination = Path.Combine(target, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(Path.Combine(repository, relative), destination);
        }
    }

    [GeneratedRegex(@"(?:Built|Up to date:) (?<ref>\S+) (?<digest>sha256:[0-9a-f]{64}) \([^)]*\) -> (?<destination>.+?) in [0-9.]+s")]
    private static partial Regex BuiltLine();
}

/// <summary>What one publish printed, and the digest and destination of its final line.</summary>
public sealed record PublishResult(string Output, string Digest, string Destination);
