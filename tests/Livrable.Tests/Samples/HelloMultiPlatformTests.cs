using System.Text;
using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Samples;

/// <summary>
/// samples/hello as a multi-platform image: <c>dotnet publish samples/hello -p:ContainerRuntimeIdentifiers="linux-x64;linux-arm64"</c>
/// publishes the app and builds debian-base once per runtime identifier (mmdebstrap --arch=arm64 needs no emulation),
/// pushes an OCI index over both images to the real registry, and writes the same index into the tarball.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class HelloMultiPlatformTests(RegistryFixture registry) : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Both_platforms_are_pushed_as_one_index_and_the_tarball_holds_the_same_index()
    {
        string rids = "-p:ContainerRuntimeIdentifiers=\"linux-x64;linux-arm64\"";
        var pushed = await HelloSampleFixture.PublishAsync(TestRepository.Root, "multi", rids,
            $"-p:ContainerRegistry={registry.Registry}", "-p:ContainerRepository=samples/hello-multi");
        Assert.Contains("Image linux/amd64 sha256:", pushed.Output);
        Assert.Contains("Image linux/arm64/v8 sha256:", pushed.Output);
        Assert.Contains($"Built {registry.Registry}/samples/hello-multi:multi {pushed.Digest} (2 platforms: linux/amd64, linux/arm64/v8) -> {registry.Registry}/samples/hello-multi@{pushed.Digest}", pushed.Output);

        string reference = $"docker://{registry.Registry}/samples/hello-multi:multi";
        var raw = await Tools.RunCheckedAsync("skopeo", "inspect", "--tls-verify=false", "--raw", reference);
        Assert.Equal(pushed.Digest, Digest.Sha256(Encoding.UTF8.GetBytes(raw.Stdout)).ToString());
        var index = ImageIndex.Parse(Encoding.UTF8.GetBytes(raw.Stdout));
        Assert.Equal(MediaTypes.OciIndex, index.MediaType);
        Assert.Equal([Platform.FromRuntimeIdentifier("linux-x64"), Platform.FromRuntimeIdentifier("linux-arm64")], index.Manifests.Select(m => m.Platform));
        var arm = await Tools.RunCheckedAsync("skopeo", "--override-arch", "arm64", "inspect", "--tls-verify=false", reference);
        using (var doc = JsonDocument.Parse(arm.Stdout))
            Assert.Equal("arm64", doc.RootElement.GetProperty("Architecture").GetString());

        // Each platform's image passes the validator, and its apphost is an ELF for that CPU (e_machine 0x3e, 0xb7).
        using var client = new RegistryClient(new RegistryOptions(), new BlobStore(_temp["pull"]), NullLogger.Instance);
        foreach (var (rid, machine) in new[] { ("linux-x64", 0x3e), ("linux-arm64", 0xb7) })
        {
            var image = await client.GetImageAsync(registry.Registry, "samples/hello-multi", "multi", Platform.FromRuntimeIdentifier(rid), CancellationToken.None);
            await ImageValidator.ValidateAsync(image);
            Assert.Equal(["/app/hello"], image.Config.Entrypoint);
            Assert.Equal(machine, await ApphostMachineAsync(image, rid));
        }

        // The same inputs into a tarball: the same index digest, the same index bytes as the registry holds.
        var archived = await HelloSampleFixture.PublishAsync(TestRepository.Root, "multi", rids);
        Assert.Equal(pushed.Digest, archived.Digest);
        Assert.EndsWith("hello-multi.tar", archived.Destination);
        var fromTarball = await Tools.RunCheckedAsync("skopeo", "inspect", "--raw", $"oci-archive:{archived.Destination}:multi");
        Assert.Equal(raw.Stdout, fromTarball.Stdout);
        var armImage = await new ArchiveImage(archived.Destination, "multi", new BlobStore(_temp["reader"]))
            .ResolveAsync(Platform.FromRuntimeIdentifier("linux-arm64"), CancellationToken.None);
        await ImageValidator.ValidateAsync(armImage);
    }

    /// <summary>The ELF <c>e_machine</c> of <c>/app/hello</c> in the image's last (application) layer.</summary>
    private async Task<int> ApphostMachineAsync(IImage image, string name)
    {
        string layer = _temp["layers", name + ".tar.gz"];
        Directory.CreateDirectory(Path.GetDirectoryName(layer)!);
        await using (var source = await image.Layers[^1].OpenAsync(CancellationToken.None))
        await using (var file = File.Create(layer))
            await source.CopyToAsync(file);
        string target = _temp["apphost", name];
        Directory.CreateDirectory(target);
        await Tools.RunCheckedAsync("tar", "-xzf", layer, "-C", target, "app/hello");
        byte[] header = File.ReadAllBytes(Path.Combine(target, "app", "hello"))[..20];
        return header[18] | header[19] << 8;
    }
}
