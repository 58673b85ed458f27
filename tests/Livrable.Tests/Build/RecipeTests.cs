using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build;

/// <summary>
/// The recipe is decided once from the request (<see cref="Recipe.Of"/>): properties, Dockerfile or images already
/// built; a request that fills two is LIV2510 before anything is read or written. ContainerMaxParallelism's values.
/// </summary>
public sealed class RecipeTests : IDisposable
{
    private static readonly Platform Amd64 = Platform.FromRuntimeIdentifier("linux-x64");
    private static readonly Platform Arm64 = Platform.FromRuntimeIdentifier("linux-arm64");

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private ImageBuildRequest Base() => new()
    {
        Platform = Amd64,
        Repository = "livrable-test/recipe",
        Tags = ["latest"],
        ArchivePath = _temp["out", "image.tar"],
        StateDirectory = _temp["state"],
    };

    private DockerfileBuild Dockerfile()
    {
        Directory.CreateDirectory(_temp["context"]);
        File.WriteAllText(_temp["context", "Dockerfile"], "FROM scratch\nLABEL a=b\n");
        return new DockerfileBuild { DockerfilePath = _temp["context", "Dockerfile"], ContextDirectory = _temp["context"] };
    }

    [Fact]
    public void Each_mode_fills_its_own_fields_and_gets_its_recipe()
    {
        Assert.IsType<PropertiesRecipe>(Base().Recipe);
        var properties = Assert.IsType<PropertiesRecipe>((Base() with { BaseImage = "debian:12", Config = new ConfigChanges { User = "app" } }).Recipe);
        Assert.Equal("debian:12", properties.BaseImage);

        var labels = new ConfigChanges { Labels = [new("org.example", "1")] };
        var dockerfile = Assert.IsType<DockerfileRecipe>((Base() with { Dockerfile = Dockerfile(), Config = labels }).Recipe);
        Assert.Equal(labels.Labels, dockerfile.Labels);

        var images = new PlatformImage[] { new(Amd64, "archive:a.tar"), new(Arm64, "archive:b.tar") };
        Assert.Equal(images, Assert.IsType<PrebuiltImagesRecipe>((Base() with { PlatformImages = images }).Recipe).Images);
    }

    public static TheoryData<string> MixedRequests => new()
    {
        "Dockerfile+BaseImage", "Dockerfile+Layers", "Dockerfile+Config", "PlatformImages+Dockerfile", "PlatformImages+Layers",
        "PlatformImages+Platforms", "PlatformImages+Labels",
    };

    [Theory]
    [MemberData(nameof(MixedRequests))]
    public async Task A_request_mixing_two_recipes_is_LIV2510_before_anything_is_written(string mix)
    {
        Directory.CreateDirectory(_temp["app"]);
        var images = new PlatformImage[] { new(Amd64, "archive:" + _temp["a.tar"]), new(Arm64, "archive:" + _temp["b.tar"]) };
        var request = mix switch
        {
            "Dockerfile+BaseImage" => Base() with { Dockerfile = Dockerfile(), BaseImage = "debian:12" },
            "Dockerfile+Layers" => Base() with { Dockerfile = Dockerfile(), Layers = [new DirectoryLayerSpec(_temp["app"], "/app") { CreatedBy = "app" }] },
            "Dockerfile+Config" => Base() with { Dockerfile = Dockerfile(), Config = new ConfigChanges { Entrypoint = ["/app"] } },
            "PlatformImages+Dockerfile" => Base() with { PlatformImages = images, Dockerfile = Dockerfile() },
            "PlatformImages+Layers" => Base() with { PlatformImages = images, Layers = [new DirectoryLayerSpec(_temp["app"], "/app") { CreatedBy = "app" }] },
            "PlatformImages+Platforms" => Base() with { PlatformImages = images, Platforms = [Amd64, Arm64] },
            "PlatformImages+Labels" => Base() with { PlatformImages = images, Config = new ConfigChanges { Labels = [new("a", "b")] } },
            _ => throw new ArgumentOutOfRangeException(nameof(mix)),
        };
        var error = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.MixedRecipe, error.Code);
        // The message names what would have been ignored.
        string ignored = mix.Split('+')[1];
        Assert.Contains(ignored == "Labels" ? "Config.Labels" : ignored, error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(request.ArchivePath));
        Assert.False(Directory.Exists(request.StateDirectory));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-2")]
    [InlineData("two")]
    [InlineData("1.5")]
    public void ContainerMaxParallelism_must_be_a_whole_number_of_at_least_1(string value)
    {
        var error = Assert.Throws<LivrableException>(() => ImageBuildParameters.ParseMaxParallelism(value));
        Assert.Equal(DiagnosticCodes.InvalidMaxParallelism, error.Code);
        Assert.Contains($"'{value}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ContainerMaxParallelism_is_the_core_count_when_empty_and_the_engine_refuses_0()
    {
        Assert.Equal(Environment.ProcessorCount, ImageBuildParameters.ParseMaxParallelism(""));
        Assert.Equal(3, ImageBuildParameters.ParseMaxParallelism(" 3 "));
        Assert.Equal(Environment.ProcessorCount, Base().MaxParallelism);
        var error = await Assert.ThrowsAsync<LivrableException>(() => ImageBuilder.BuildAsync(Base() with { MaxParallelism = 0 }, NullLogger.Instance, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.InvalidMaxParallelism, error.Code);
    }
}

/// <summary>
/// The provenance of a multi-platform build lists resolved images in an order that does not depend on which platform,
/// built at the same time, resolved first.
/// </summary>
public sealed class ResolvedOrderTests
{
    [Fact]
    public async Task Resolved_images_are_listed_by_platform_order_then_name_whatever_resolved_first()
    {
        using var temp = new TempDirectory();
        var store = new Livrable.Store.BlobStore(temp["store"]);
        var amd64 = Platform.FromRuntimeIdentifier("linux-x64");
        var arm64 = Platform.FromRuntimeIdentifier("linux-arm64");
        var images = new[] { await TestImages.SimpleAsync(store, amd64), await TestImages.SimpleAsync(store, arm64) };
        Livrable.SupplyChain.ResolvedImage Resolved(string name, Platform platform) => new(name, Digest.Sha256(System.Text.Encoding.UTF8.GetBytes(name + platform)), null, platform, null, null);
        // As the arm64 platform might resolve first when both build at the same time.
        var resolved = new[] { Resolved("zeta", arm64), Resolved("beta", amd64), Resolved("alpha", arm64), Resolved("gamma", amd64) };

        var ordered = SupplyChainSteps.InPlatformOrder(resolved, images);

        Assert.Equal(["beta", "gamma", "alpha", "zeta"], ordered.Select(r => r.Name));
    }
}
