using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build;

/// <summary>
/// <see cref="ImageInputs"/>: which files and tags of the images a build reads the up-to-date check watches, told by
/// the build's own parser (FROM expanded with meta and build arguments per platform, stages by name and index,
/// COPY --from, RUN --mount from=, named contexts) and <see cref="ImageSources.Locate"/>.
/// </summary>
public sealed class ImageInputsTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public ImageInputsTests()
    {
        File.WriteAllText(_temp["base.tar"], "");
        File.WriteAllText(_temp["tools.tar"], "");
        Directory.CreateDirectory(_temp["layout"]);
        File.WriteAllText(_temp["layout", "oci-layout"], "{\"imageLayoutVersion\":\"1.0.0\"}");
    }

    public void Dispose() => _temp.Dispose();

    private ImageInputsResult Resolve(string dockerfile, Dictionary<string, string>? buildArgs = null, Dictionary<string, string>? contexts = null,
        string? target = null, IReadOnlyList<Platform>? platforms = null, IReadOnlyList<string>? referenced = null)
    {
        File.WriteAllText(_temp["Dockerfile"], dockerfile);
        return ImageInputs.Resolve(new ImageInputsRequest
        {
            DockerfilePath = _temp["Dockerfile"],
            BuildArgs = buildArgs ?? [],
            NamedContexts = contexts ?? [],
            Target = target,
            Platforms = platforms ?? [new Platform("linux", "amd64")],
            ReferencedImages = referenced ?? [],
            BaseDirectory = _temp.Path,
        });
    }

    [Fact]
    public void MetaArgumentsBuildArgumentsAndTheEscapeAreTheBuilds()
    {
        var r = Resolve("# escape=`\nARG BASE=archive:base.tar\nARG TAG\nFROM --platform=$BUILDPLATFORM `\n  $BASE AS build\nFROM alpine:${TAG:-3.20}\nCOPY --from=build / /\n",
            buildArgs: new() { ["TAG"] = "3.21" });
        Assert.Null(r.Unresolved);
        Assert.Equal([_temp["base.tar"]], r.Files);
        Assert.Equal(["alpine:3.21"], r.Tags);
    }

    [Fact]
    public void StagesByNameAndIndexAreNoImagesAndOnlyTheTargetsStagesCount()
    {
        var r = Resolve("FROM scratch AS Tools\nFROM scratch AS app\nCOPY --from=TOOLS / /\nCOPY --from=0 / /\nCOPY --from=archive:tools.tar / /\nFROM unused:1 AS other\n", target: "app");
        Assert.Equal([_temp["tools.tar"]], r.Files);
        Assert.Empty(r.Tags);
    }

    [Fact]
    public void NamedContextsReplaceStagesAndImages()
    {
        var r = Resolve("FROM debian:bookworm AS base\nFROM docker.io/library/alpine:latest\nRUN --mount=type=bind,from=tools:1,target=/t true\nCOPY --from=base / /\n",
            contexts: new() { ["base"] = "oci-layout:layout", ["alpine"] = "archive:base.tar", ["tools:1"] = "registry.example.com/tools@sha256:" + new string('0', 64) });
        Assert.Null(r.Unresolved);
        Assert.Equal([_temp["base.tar"], Path.Combine(_temp["layout"], "index.json")], r.Files.Order(StringComparer.Ordinal));
        Assert.Empty(r.Tags);
    }

    [Fact]
    public void EachPlatformExpandsItsOwnFrom()
    {
        var r = Resolve("FROM registry.example.com/base:$TARGETARCH\n", platforms: [new Platform("linux", "amd64"), new Platform("linux", "arm64", "v8")]);
        Assert.Equal(["registry.example.com/base:amd64", "registry.example.com/base:arm64"], r.Tags);
    }

    [Fact]
    public void AReferencedProjectsImageIsNeitherFileNorTag()
    {
        var r = Resolve("FROM base\n", contexts: new() { ["base"] = "registry.example.com/base:v1" }, referenced: ["registry.example.com/base:v1"]);
        Assert.Empty(r.Files);
        Assert.Empty(r.Tags);
    }

    [Theory]
    [InlineData("FROM\n")]
    [InlineData("FROM scratch\nCOPY --from=$X / /\n")]
    [InlineData("FROM ./missing.tar\n")]
    public void WhatTheBuildWouldReportLeavesTheImagesUnresolved(string dockerfile)
        => Assert.NotNull(Resolve(dockerfile).Unresolved);

    [Fact]
    public void PropertiesModeBaseImage()
    {
        var r = ImageInputs.Resolve(new ImageInputsRequest { BaseImage = "archive:base.tar:v1", Platforms = [new Platform("linux", "amd64")], BaseDirectory = _temp.Path });
        Assert.Equal([_temp["base.tar"]], r.Files);
        r = ImageInputs.Resolve(new ImageInputsRequest { BaseImage = "mcr.microsoft.com/dotnet/runtime:10.0", Platforms = [new Platform("linux", "amd64")], BaseDirectory = _temp.Path });
        Assert.Equal(["mcr.microsoft.com/dotnet/runtime:10.0"], r.Tags);
    }

    /// <summary>
    /// <c>PATH:tag</c> is split where the build splits it, at the first colon whose left side exists (the targets took
    /// the last colon): a folder named <c>a:b</c> with an image tagged <c>c</c>.
    /// </summary>
    [Fact]
    public void LocateSplitsPathAndTagAsOpenDoes()
    {
        Directory.CreateDirectory(_temp["dir:x"]);
        File.WriteAllText(_temp["dir:x", "oci-layout"], "{}");
        var location = ImageSources.Locate("oci-layout:dir:x:v1:extra", _temp.Path);
        Assert.Equal(ImageLocationKind.Layout, location.Kind);
        Assert.Equal("dir:x", location.Path);
        Assert.Equal("v1:extra", location.Tag);
        Assert.True(ImageSources.Locate("alpine:3", _temp.Path).IsTag);
        Assert.False(ImageSources.Locate("alpine@sha256:" + new string('0', 64), _temp.Path).IsTag);
        Assert.Equal(DiagnosticCodes.InputNotFound, Assert.Throws<LivrableException>(() => ImageSources.Locate("./nothing", _temp.Path)).Code);
    }
}
