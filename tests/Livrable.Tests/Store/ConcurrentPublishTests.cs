using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Store;

/// <summary>
/// Three <c>dotnet publish</c> of Sdk-style image projects at once, in three MSBuild processes, sharing one state folder
/// and one layer: each image is right, and the store passes its check afterwards.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class ConcurrentPublishTests : IDisposable
{
    private static readonly string SdkDirectory = Path.Combine(TestRepository.Root, "src", "Sdk");
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>An image project (Livrable as an SDK) of a shared 1 MB layer and a file of its own.</summary>
    private string ImageProject(string name, string sharedFile)
    {
        string dir = _temp[name];
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "motd"), $"from {name}\n");
        string project = Path.Combine(dir, name + ".csproj");
        File.WriteAllText(project, $"""
            <Project>
              <Import Project="{SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerTag>v1</ContainerTag>
                <ContainerArchiveOutputPath>{_temp.Path}/out/{name}.tar</ContainerArchiveOutputPath>
                <LivrableTasksAssembly>{Path.Combine(AppContext.BaseDirectory, "Livrable.Tasks.dll")}</LivrableTasksAssembly>
                <LivrableTasksUseTaskHost>true</LivrableTasksUseTaskHost>
              </PropertyGroup>
              <ItemGroup>
                <ContainerLayer Include="{sharedFile}" Destination="/data/" CreatedBy="shared" />
                <ContainerLayer Include="motd" Destination="/etc/" CreatedBy="motd" />
              </ItemGroup>
              <Import Project="{SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
        return project;
    }

    [Fact]
    public async Task Three_dotnet_publish_at_once_share_one_state_folder()
    {
        string shared = _temp["shared.bin"];
        var bytes = new byte[1 << 20];
        new Random(3).NextBytes(bytes);
        File.WriteAllBytes(shared, bytes);
        string state = _temp["state"];
        var names = new[] { "one", "two", "three" };
        var projects = names.Select(n => ImageProject(n, shared)).ToList();

        var runs = await Task.WhenAll(projects.Select(p => Tools.DotnetAsync(_temp.Path, "publish", p, [$"-p:ContainerStateDirectory={state}"],
            new Dictionary<string, string> { ["XDG_CACHE_HOME"] = _temp["cache"] })));

        foreach (var run in runs) Assert.True(run.ExitCode == 0, run.Output);
        var layers = new List<Digest>();
        foreach (string name in names)
        {
            string archive = _temp["out", name + ".tar"];
            var image = await new ArchiveImage(archive, "v1", new BlobStore(_temp["reader", name])).ResolveAsync(new Platform("linux", "amd64"), CancellationToken.None);
            await ImageValidator.ValidateAsync(image);
            Assert.Equal(2, image.Layers.Count);
            layers.Add(image.Layers[0].Descriptor.Digest);
            if (name == "two")
            {
                string rootfs = await ImageValidator.ValidateArchiveAsync(archive, image, "v1", _temp["check"]);
                Assert.Equal("from two\n", File.ReadAllText(Path.Combine(rootfs, "etc", "motd")));
            }
        }
        Assert.Single(layers.Distinct());
        var folder = StateFolder.Open(state);
        Assert.Empty(StatePruner.VerifyBlobs(folder, remove: false));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.TempDirectory));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder.LeasesDirectory));
    }
}
