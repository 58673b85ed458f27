using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Sources;

public sealed class ImageSourcesTests : IDisposable
{
    private static readonly Platform Amd64 = new("linux", "amd64");
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public ImageSourcesTests() => _store = new BlobStore(_temp["state"]);

    public void Dispose() => _temp.Dispose();

    private static IImageSource NoRegistry(ImageReference reference) => throw new InvalidOperationException($"The registry was asked for {reference}.");

    private sealed class FakeRegistrySource(ImageReference reference) : IImageSource
    {
        public ImageReference Reference { get; } = reference;
        public string Description => Reference.ToString();
        public Task<IImage> ResolveAsync(Platform platform, CancellationToken cancellationToken) => throw new NotSupportedException();
    }

    private async Task<string> TarballAsync()
    {
        var image = await TestImages.SimpleAsync(_store);
        string path = _temp["base image.tar"];
        await new ArchiveOutput(path).WriteAsync(image, "base", ["1", "2"], CancellationToken.None);
        return path;
    }

    [Fact]
    public async Task Scratch_is_the_empty_image_for_the_platform()
    {
        var source = ImageSources.Open("scratch", _store, NoRegistry);
        var image = await source.ResolveAsync(new Platform("linux", "arm64", "v8"), CancellationToken.None);

        Assert.Same(ScratchImage.Instance, source);
        Assert.Empty(image.Layers);
        Assert.Equal(new Platform("linux", "arm64", "v8"), image.Config.Platform);
        Assert.Equal(MediaTypes.OciManifest, image.Manifest.MediaType);
        await ImageValidator.ValidateAsync(image);
    }

    [Theory]
    [InlineData("ubuntu:22.04", "docker.io/library/ubuntu", "22.04")]
    [InlineData("localhost:5000/team/app", "localhost:5000/team/app", null)]
    [InlineData("  mcr.microsoft.com/dotnet/runtime:8.0 ", "mcr.microsoft.com/dotnet/runtime", "8.0")]
    [InlineData("scratchy", "docker.io/library/scratchy", null)]
    public void Anything_else_is_a_registry_reference(string baseImage, string fullName, string? tag)
    {
        var source = Assert.IsType<FakeRegistrySource>(ImageSources.Open(baseImage, _store, r => new FakeRegistrySource(r)));
        Assert.Equal(fullName, source.Reference.FullName);
        Assert.Equal(tag, source.Reference.Tag);
    }

    [Fact]
    public void A_bad_reference_is_LIV2001()
        => Assert.Equal(DiagnosticCodes.InvalidReference, Assert.Throws<LivrableException>(() => ImageSources.Open("Bad/Name", _store, NoRegistry)).Code);

    [Theory]
    [InlineData("/no/such/image.tar")]
    [InlineData("./image.tar")]
    [InlineData("../image.tar")]
    [InlineData("images\\base.tar")]
    [InlineData("archive:/no/such.tar")]
    [InlineData("oci-layout:/no/such/dir:tag")]
    public void A_path_that_does_not_exist_is_LIV2007(string baseImage)
        => Assert.Equal(DiagnosticCodes.InputNotFound, Assert.Throws<LivrableException>(() => ImageSources.Open(baseImage, _store, NoRegistry)).Code);

    [Fact]
    public void An_empty_base_image_is_LIV2001()
        => Assert.Equal(DiagnosticCodes.InvalidReference, Assert.Throws<LivrableException>(() => ImageSources.Open(" ", _store, NoRegistry)).Code);

    [Fact]
    public void A_folder_that_is_no_layout_is_LIV2007()
    {
        Directory.CreateDirectory(_temp["plain"]);
        var e = Assert.Throws<LivrableException>(() => ImageSources.Open(_temp["plain"], _store, NoRegistry));
        Assert.Equal(DiagnosticCodes.InputNotFound, e.Code);
        Assert.Contains("oci-layout", e.Message);
    }

    [Fact]
    public async Task Tarball_forms_all_read_the_same_image()
    {
        string path = await TarballAsync();
        var forms = new[] { path, $"archive:{path}", $"archive:{path}:2", $"oci-archive:{path}:1", $"docker-archive:{path}", $"docker-archive:{path}:base:2" };
        var digests = new List<Digest>();
        foreach (string form in forms)
        {
            var source = ImageSources.Open(form, _store, NoRegistry);
            Assert.IsType<ArchiveImage>(source);
            var image = await source.ResolveAsync(Amd64, CancellationToken.None);
            digests.Add(image.Manifest.Config.Digest);
        }
        Assert.Single(digests.Distinct());
    }

    [Fact]
    public async Task A_layout_folder_is_read_in_place()
    {
        string path = await TarballAsync();
        string layout = _temp["layout"];
        Directory.CreateDirectory(layout);
        await Tools.RunCheckedAsync("tar", "-C", layout, "-xf", path);

        var plain = ImageSources.Open(layout, _store, NoRegistry);
        var tagged = ImageSources.Open($"oci-layout:{layout}:2", _store, NoRegistry);

        Assert.IsType<LayoutImage>(plain);
        Assert.Equal((await plain.ResolveAsync(Amd64, CancellationToken.None)).Digest, (await tagged.ResolveAsync(Amd64, CancellationToken.None)).Digest);
    }
}
