using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build;

/// <summary>
/// The .NET images' conventions as the .NET SDK reads them from a base's environment (its ImageBuilder's
/// AssignUserFromEnvironment and AssignPortsFromEnvironment): APP_UID is the user unless ContainerUser is set;
/// ASPNETCORE_URLS, when set, alone names the ports, else ASPNETCORE_HTTP_PORTS and ASPNETCORE_HTTPS_PORTS do.
/// </summary>
public sealed class DotNetImageConventionsTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static ImageConfig Base(params (string Name, string Value)[] env)
    {
        var config = ImageConfig.Empty(new Platform("linux", "amd64"));
        foreach (var (name, value) in env) config.SetEnv(name, value);
        return config;
    }

    [Fact]
    public void Urls_override_the_port_variables_and_only_urls_with_a_port_count()
    {
        var config = Base(("ASPNETCORE_URLS", "http://+:80; https://*:443;http://localhost;http://[::]:5000"), ("ASPNETCORE_HTTP_PORTS", "8080"));
        Assert.Equal(["80/tcp", "443/tcp", "5000/tcp"], DotNetImageConventions.Ports(config));
    }

    [Fact]
    public void Http_and_https_ports_are_both_exposed_and_a_bad_entry_is_skipped()
    {
        var config = Base(("ASPNETCORE_HTTP_PORTS", "8080;x;8081"), ("ASPNETCORE_HTTPS_PORTS", "8443;8080"));
        Assert.Equal(["8080/tcp", "8081/tcp", "8443/tcp"], DotNetImageConventions.Ports(config));
        Assert.Empty(DotNetImageConventions.Ports(Base()));
    }

    [Fact]
    public void App_uid_is_the_user()
    {
        Assert.Equal("1654", DotNetImageConventions.User(Base(("APP_UID", "1654"))));
        Assert.Null(DotNetImageConventions.User(Base()));
    }

    /// <summary>Through the engine: the base's APP_UID and port, ContainerUser=root opting out, the base digest label.</summary>
    [Theory]
    [InlineData(null, "1654")]
    [InlineData("root", "root")]
    public async Task The_engine_applies_them_unless_the_user_is_set(string? user, string expected)
    {
        var store = new BlobStore(_temp["store"]);
        var baseImage = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["etc/passwd"] = "root:x:0:0::/root:/bin/sh\n" }],
            configure: c => { c.SetEnv("APP_UID", "1654"); c.SetEnv("ASPNETCORE_HTTP_PORTS", "8080"); });
        string baseArchive = _temp["base.tar"];
        await new ArchiveOutput(baseArchive, TestImages.Created).WriteAsync(baseImage, "base", ["1"], CancellationToken.None);
        string archive = _temp[$"out-{user ?? "default"}.tar"];
        var request = new ImageBuildRequest
        {
            BaseImage = "archive:" + baseArchive,
            Platform = Platform.FromRuntimeIdentifier("linux-x64"),
            Repository = "app",
            Tags = ["latest"],
            ArchivePath = archive,
            StateDirectory = _temp["state"],
            Config = new ConfigChanges { User = user, Ports = ["9090/udp"], FollowDotNetConventions = true, BaseDigestLabel = true },
        };

        await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);

        var image = await new ArchiveImage(archive, "latest", new BlobStore(_temp["reader"])).ResolveAsync(request.Platform, CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        Assert.Equal(expected, image.Config.User);
        Assert.Equal(["8080/tcp", "9090/udp"], image.Config.ExposedPorts.Order(StringComparer.Ordinal));
        Assert.Equal(baseImage.Digest.ToString(), image.Config.Labels["org.opencontainers.image.base.digest"]);
    }
}
