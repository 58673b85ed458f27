using System.Text.Json;
using System.Text.RegularExpressions;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Samples;

/// <summary>
/// samples/pyapp, the README's main command run for real: <c>dotnet publish samples/pyapp -p:ContainerTag=v1</c> with
/// an empty state folder builds samples/debian (the named context <c>debian:bookworm</c>), then the Dockerfile, whose
/// RUN steps reach Debian's mirror with apt-get and run pip offline. The tarball is read by skopeo and umoci, runs the
/// app with runc (it prints its greeting), and is loaded by <c>docker load</c> and run by <c>docker run</c>.
/// In the registry collection: it must never build the samples and src/Tasks at the same time as the other tests
/// that publish them (two builds of one project would share its obj folder).
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed partial class PyappSampleTests(Dockerd docker) : IClassFixture<Dockerd>, IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly string _repository = TestRepository.Root;
    // A fresh state folder: no blob or layer of an earlier build is reused, as on a fresh clone.
    private readonly string _state = Path.Combine(TestRepository.Root, "artifacts", "livrable-state-pyapp-" + Guid.NewGuid().ToString("N")[..10]);

    public void Dispose()
    {
        _temp.Dispose();
        try { Directory.Delete(_state, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task The_sample_builds_with_apt_get_and_pip_and_runc_and_docker_run_its_greeting()
    {
        var result = (await Tools.RunAsync("dotnet",
            ["publish", Path.Combine(_repository, "samples", "pyapp"), "-p:ContainerTag=v1", $"-p:ContainerStateDirectory={_state}", "-nodeReuse:false", "-p:ContainerIncremental=false"],
            TimeSpan.FromMinutes(15), _repository, Tools.DotnetEnvironment)).EnsureSuccess();
        var built = BuiltLine().Matches(result.Stdout).LastOrDefault();
        Assert.True(built is not null, "no 'Built ...' line in the output:\n" + result.Stdout);
        Assert.Equal("pyapp:v1", built!.Groups["ref"].Value);
        string tarball = built.Groups["destination"].Value.Trim();
        Assert.EndsWith("pyapp-v1.tar", tarball);

        var image = await new ArchiveImage(tarball, "v1", new BlobStore(_temp["reader"]))
            .ResolveAsync(Platform.FromRuntimeIdentifier("linux-x64"), CancellationToken.None);
        Assert.Equal(built.Groups["digest"].Value, image.Digest.ToString());
        await ImageValidator.ValidateAsync(image);
        Assert.Equal(["python3", "main.py"], image.Config.Cmd);
        Assert.Equal("/app", image.Config.WorkingDir);
        Assert.Equal("1", image.Config.GetEnv("PIP_NO_INDEX"));
        Assert.Equal("1", image.Config.GetEnv("PIP_BREAK_SYSTEM_PACKAGES"));
        using (var config = JsonDocument.Parse(image.Config.ToBytes()))
        {
            var createdBy = config.RootElement.GetProperty("history").EnumerateArray()
                .Select(h => h.TryGetProperty("created_by", out var c) ? c.GetString() : null).ToList();
            Assert.Contains(createdBy, c => c is not null && c.Contains("apt-get update && apt-get install -y python3-pip python3-yaml"));
            Assert.Contains(createdBy, c => c is not null && c.Contains("pip install -r requirements.txt"));
        }

        string rootfs = await ImageValidator.ValidateArchiveAsync(tarball, image, "v1", _temp["check"]);
        // COPY . . took the app and left out what .dockerignore names.
        Assert.True(File.Exists(Path.Combine(rootfs, "app", "main.py")));
        Assert.True(File.Exists(Path.Combine(rootfs, "app", "requirements.txt")));
        Assert.False(File.Exists(Path.Combine(rootfs, "app", "pyapp.csproj")));
        Assert.False(Directory.Exists(Path.Combine(rootfs, "app", "obj")));
        // apt-get installed PyYAML; the runtime's /etc/resolv.conf and /etc/hosts did not stay in the RUN's layer.
        Assert.True(Directory.Exists(Path.Combine(rootfs, "usr", "lib", "python3", "dist-packages", "yaml")));
        Assert.False(File.Exists(Path.Combine(rootfs, "etc", "resolv.conf")), "/etc/resolv.conf was left in the image");
        Assert.Equal("Hello from pyapp, built by Livrable\n", await Runc.RunAsync(Path.GetDirectoryName(rootfs)!));
        // pip found the bytecode apt-get compiled current (Layers/BytecodeTimes): its RUN's layer holds no .pyc, where it
        // held the 697 that pip recompiled of itself when the layer's epoch made them stale.
        var pipLayer = await LayerNamesAsync(image.Layers[^1]);
        Assert.DoesNotContain(pipLayer, name => name.EndsWith(".pyc", StringComparison.Ordinal));

        (await Tools.RunAsync("docker", ["load", "-i", tarball], TimeSpan.FromMinutes(5), environment: docker.Environment)).EnsureSuccess();
        var inspect = (await Tools.RunAsync("docker", ["image", "inspect", "pyapp:v1"], environment: docker.Environment)).EnsureSuccess();
        using var doc = JsonDocument.Parse(inspect.Stdout);
        Assert.Equal(image.Config.DiffIds.Select(d => d.ToString()),
            doc.RootElement[0].GetProperty("RootFS").GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));
        // The fixture's dockerd has no bridge: the app needs no network.
        var run = (await Tools.RunAsync("docker", ["run", "--rm", "--network", "none", "pyapp:v1"], TimeSpan.FromMinutes(2), environment: docker.Environment)).EnsureSuccess();
        Assert.Equal("Hello from pyapp, built by Livrable\n", run.Stdout);
    }

    /// <summary>The names in a gzip layer, as GNU tar lists them.</summary>
    private async Task<string[]> LayerNamesAsync(ILayer layer)
    {
        string path = _temp["layer.tar.gz"];
        await using (var blob = await layer.OpenAsync(CancellationToken.None))
        await using (var file = File.Create(path))
            await blob.CopyToAsync(file);
        return (await Tools.RunCheckedAsync("tar", "-tzf", path)).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [GeneratedRegex(@"(?:Built|Up to date:) (?<ref>\S+) (?<digest>sha256:[0-9a-f]{64}) \([^)]*\) -> (?<destination>.+?) in [0-9.]+s")]
    private static partial Regex BuiltLine();
}
