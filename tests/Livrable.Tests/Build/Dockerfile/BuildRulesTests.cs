using Livrable.Build;
using Livrable.Build.Dockerfile;
using Livrable.Diagnostics;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>The small rules the steps are made of: paths, the MSBuild mapping (Go's own rules: tests/Livrable.Tests/Go).</summary>
public sealed class BuildRulesTests
{
    [Theory]
    [InlineData(null, "/a", "/a")]
    [InlineData("/a", "b", "/a/b")]
    [InlineData("/a/b", "../c", "/a/c")]
    [InlineData("/", "../../x/./y/", "/x/y")]
    [InlineData("/a", "/", "/")]
    public void WORKDIR_joins_a_relative_path_to_the_current_one(string? current, string path, string expected)
        => Assert.Equal(expected, PathRules.NormalizeWorkdir(current, path));

    [Theory]
    [InlineData("/x", false)]
    [InlineData("/x/", true)]
    [InlineData(".", true)]
    [InlineData("", true)]
    [InlineData("sub/.", true)]
    [InlineData("sub", false)]
    public void A_destination_means_into_a_folder_when_it_ends_so(string destination, bool into)
        => Assert.Equal(into, PathRules.IsDirectoryDestination(destination));

    [Theory]
    [InlineData("rel", "/w", "/w/rel")]
    [InlineData(".", "/w", "/w")]
    [InlineData("/abs/../x", "/w", "/x")]
    [InlineData("a", null, "/a")]
    public void A_relative_destination_is_against_the_working_directory(string destination, string? workdir, string expected)
        => Assert.Equal(expected, PathRules.ResolveDestination(destination, workdir));

    [Theory]
    [InlineData("git@github.com:moby/buildkit.git", true)]
    [InlineData("https://github.com/moby/buildkit.git", true)]
    [InlineData("https://github.com/moby/buildkit.git#v0.12", true)]
    [InlineData("https://example.com/file.tar.gz", false)]
    [InlineData("ssh://host/repo", true)]
    public void Git_sources_are_recognised_as_BuildKit_does(string source, bool git) => Assert.Equal(git, AddStep.IsGit(source));

    [Theory]
    [InlineData(null, 0L, 0L)]
    [InlineData("1000", 1000L, 1000L)]
    [InlineData("1000:50", 1000L, 50L)]
    [InlineData("app", 0L, 0L)]
    [InlineData("1000:staff", 0L, 0L)]
    public void WORKDIR_folders_belong_to_a_numeric_USER(string? user, long uid, long gid)
        => Assert.Equal((uid, gid), WorkdirStep.NumericUser(user));

    [Fact]
    public void The_task_parameters_map_to_a_Dockerfile_request()
    {
        var parameters = new ImageBuildParameters
        {
            Repository = "demo",
            Tags = ["latest"],
            Dockerfile = "/src/app/Dockerfile",
            BuildArgs = [new ParameterItem("VERSION", new Dictionary<string, string> { ["Value"] = "1.2" }), new ParameterItem("EMPTY")],
            NamedContexts = [new ParameterItem("debian:bookworm", new Dictionary<string, string> { ["Value"] = "archive:/images/debian.tar" })],
            Target = "final",
            Labels = [new ParameterItem("org.example", new Dictionary<string, string> { ["Value"] = "x" })],
            WorkingDirectory = "/ignored",
            RuntimeIdentifier = "linux-arm64",
            StateDirectory = "/state",
        };
        var request = parameters.ToRequest();
        var dockerfile = request.Dockerfile!;
        Assert.Equal("/src/app/Dockerfile", dockerfile.DockerfilePath);
        Assert.Equal("/src/app", dockerfile.ContextDirectory);
        Assert.Equal("1.2", dockerfile.BuildArgs["VERSION"]);
        Assert.Equal("", dockerfile.BuildArgs["EMPTY"]);
        Assert.Equal("archive:/images/debian.tar", dockerfile.NamedContexts["debian:bookworm"]);
        Assert.Equal("final", dockerfile.Target);
        Assert.Equal("arm64", request.Platform.Architecture);
        Assert.Equal([new KeyValuePair<string, string>("org.example", "x")], request.Config.Labels);
        Assert.Null(request.Config.WorkingDirectory);
        Assert.Contains(ImageBuildParameters.Describe(request), l => l.Contains("Dockerfile /src/app/Dockerfile", StringComparison.Ordinal));
    }

    /// <summary>
    /// Issue 10 item 4: ContainerNoCache reached the properties-mode request only, so a Dockerfile build still reused
    /// every step (docs/build-cache.md tells users to set it after a secret changes).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ContainerNoCache_reaches_a_Dockerfile_request(bool noCache)
    {
        var parameters = new ImageBuildParameters { Repository = "demo", Tags = ["latest"], RuntimeIdentifier = "linux-x64", Dockerfile = "/src/Dockerfile", StateDirectory = "/state", NoCache = noCache };
        var request = parameters.ToRequest();
        Assert.NotNull(request.Dockerfile);
        Assert.Equal(noCache, request.NoCache);
    }

    [Theory]
    [InlineData("BuildArgs", "A=B")]
    [InlineData("NamedContexts", "name")]
    public void A_malformed_Dockerfile_item_is_LIV2070(string which, string name)
    {
        var item = new ParameterItem(name);
        var parameters = new ImageBuildParameters { Repository = "demo", Tags = ["latest"], RuntimeIdentifier = "linux-x64", Dockerfile = "/src/Dockerfile", StateDirectory = "/state" };
        if (which == "BuildArgs") parameters.BuildArgs = [item];
        else parameters.NamedContexts = [item];
        var e = Assert.Throws<LivrableException>(parameters.ToRequest);
        Assert.Equal("LIV2070", e.Code);
    }
}
