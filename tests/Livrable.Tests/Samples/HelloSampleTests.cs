using System.Text.Json;
using System.Text.RegularExpressions;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Samples;

/// <summary>
/// samples/hello end to end: the tarball the README's main command writes is read by skopeo, umoci and docker load and
/// runs with runc; two copies of the repository give the same digest; a push lists the tag, an unchanged publish
/// uploads nothing and a one-line change uploads only the application layer (and the config).
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class HelloSampleTests(HelloSampleFixture sample, RegistryFixture registry, Dockerd docker)
    : IClassFixture<HelloSampleFixture>, IClassFixture<Dockerd>, IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task The_tarball_is_read_by_skopeo_umoci_and_docker_and_runc_runs_the_greeting()
    {
        string tarball = sample.InRepository.Destination;
        Assert.EndsWith("hello-v1.tar", tarball);
        var image = await new ArchiveImage(tarball, "v1", new BlobStore(_temp["reader"]))
            .ResolveAsync(Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        Assert.Equal(sample.InRepository.Digest, image.Digest.ToString());
        await ImageValidator.ValidateAsync(image);
        Assert.Equal(["/app/hello"], image.Config.Entrypoint);
        Assert.Equal(3, image.Layers.Count); // debian-base's root filesystem, the .NET runtime, the application

        string rootfs = await ImageValidator.ValidateArchiveAsync(tarball, image, "v1", _temp["check"]);
        Assert.Equal("Hello from Livrable\n", await Runc.RunAsync(Path.GetDirectoryName(rootfs)!));

        await Tools.RunAsync("docker", ["load", "-i", tarball], environment: docker.Environment).ContinueWith(t => t.Result.EnsureSuccess());
        var inspect = (await Tools.RunAsync("docker", ["image", "inspect", "hello:v1"], environment: docker.Environment)).EnsureSuccess();
        using var doc = JsonDocument.Parse(inspect.Stdout);
        Assert.Equal(image.Config.DiffIds.Select(d => d.ToString()),
            doc.RootElement[0].GetProperty("RootFS").GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));
    }

    [Fact]
    public void Two_copies_of_the_repository_in_different_folders_give_the_same_digest()
    {
        Assert.NotEqual(sample.InRepository.Destination, sample.InCopy.Destination);
        Assert.Equal(sample.InRepository.Digest, sample.InCopy.Digest);
    }

    [Fact]
    public async Task A_push_lists_the_tag_and_an_unchanged_publish_uploads_nothing_and_a_code_change_only_the_app_layer()
    {
        string[] push = [$"-p:ContainerRegistry={registry.Registry}", "-p:ContainerRepository=samples/hello"];
        var first = await HelloSampleFixture.PublishAsync(sample.Copy, "pushed", push);
        Assert.Equal(3 + 1, Uploaded(first)); // three layers and the config, into an empty repository
        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--tls-verify=false", $"docker://{registry.Registry}/samples/hello:pushed");
        using (var doc = JsonDocument.Parse(inspect.Stdout))
            Assert.Equal(first.Digest, doc.RootElement.GetProperty("Digest").GetString());

        var unchanged = await HelloSampleFixture.PublishAsync(sample.Copy, "pushed", push);
        Assert.Equal(first.Digest, unchanged.Digest);
        Assert.Equal(0, Uploaded(unchanged));

        string program = Path.Combine(sample.Copy, "samples", "hello", "Program.cs");
        string original = File.ReadAllText(program);
        try
        {
            File.WriteAllText(program, original.Replace("Hello from Livrable", "Hello again from Livrable"));
            var changed = await HelloSampleFixture.PublishAsync(sample.Copy, "pushed", push);
            Assert.NotEqual(first.Digest, changed.Digest);
            Assert.Equal(2, Uploaded(changed)); // the application layer and the config
        }
        finally
        {
            File.WriteAllText(program, original);
        }
    }

    private static int Uploaded(PublishResult result)
    {
        var m = Regex.Match(result.Output, @"uploaded (\d+) blobs");
        Assert.True(m.Success, "the final line does not say what was uploaded:\n" + result.Output);
        return int.Parse(m.Groups[1].Value);
    }
}
