using System.Text.Json;
using Livrable.Build;
using Livrable.Cli.Protocol;
using Livrable.MSBuild;
using Livrable.NetFramework;
using Livrable.Tests.Infrastructure;
using Livrable.Tests.MSBuild;
using TaskItem = Microsoft.Build.Utilities.TaskItem;
using Xunit;

namespace Livrable.Tests.OutOfProcess;

/// <summary>
/// Livrable.Cli as the .NET Framework task runs it: a request written by <see cref="RequestWriter"/> from the task's
/// parameters, <c>dotnet Livrable.Cli.dll REQUEST.json</c>, protocol lines on standard output.
/// </summary>
public sealed class CliTests : IDisposable
{
    private static readonly string CliPath = Path.Combine(AppContext.BaseDirectory, "Livrable.Cli.dll");
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A FROM-scratch image with one small layer, to a tarball, as the task would send it.</summary>
    private BuildContainerImage NewTask(string tag = "v1")
    {
        string file = Path.Combine(_temp.Path, "motd");
        File.WriteAllText(file, "hello from the CLI\n");
        var layer = new TaskItem(file);
        layer.SetMetadata("Destination", "/etc/");
        return new BuildContainerImage
        {
            BuildEngine = new BuildContainerImageTests.FakeEngine(),
            BaseImage = "scratch",
            RuntimeIdentifier = "linux-x64",
            Repository = "cli",
            Tags = [tag],
            ArchiveOutputPath = Path.Combine(_temp.Path, "out", "cli.tar"),
            StateDirectory = Path.Combine(_temp.Path, "state"),
            Layers = [layer],
            Labels = [Label("org.opencontainers.image.title", "caf\u00e9 \"cli\"")],
        };
    }

    private static TaskItem Label(string key, string value)
    {
        var item = new TaskItem(key);
        item.SetMetadata("Value", value);
        return item;
    }

    private async Task<(ToolResult Run, IReadOnlyList<LogLine> Lines)> RunCliAsync(BuildContainerImage task)
    {
        string request = Path.Combine(_temp.Path, "request.json");
        File.WriteAllText(request, RequestWriter.Write(task));
        var run = await Tools.RunAsync("dotnet", [CliPath, request]);
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => LogLine.Parse(l) ?? throw new Xunit.Sdk.XunitException($"Not a protocol line: {l}\n{run.Stderr}"))
            .ToList();
        return (run, lines);
    }

    [Fact]
    public async Task BuildsTheSameImageAsTheTaskInProcess()
    {
        var (run, lines) = await RunCliAsync(NewTask());

        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        Assert.All(run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.True(l.All(c => c < 0x80), l));
        Assert.Contains(lines, l => l.Kind == LogLine.Detail && l.Message!.StartsWith("Livrable request: base scratch", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Kind == LogLine.Info && l.Message!.StartsWith("Built cli:v1", StringComparison.Ordinal));
        var result = lines[^1];
        Assert.Equal(LogLine.Result, result.Kind);
        Assert.Equal("cli:v1", result.Reference);
        Assert.Equal(Path.Combine(_temp.Path, "out", "cli.tar"), result.ArchivePath);

        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", $"docker-archive:{result.ArchivePath}");
        using var image = JsonDocument.Parse(inspect.Stdout);
        Assert.Single(image.RootElement.GetProperty("Layers").EnumerateArray());
        Assert.Equal("caf\u00e9 \"cli\"", image.RootElement.GetProperty("Labels").GetProperty("org.opencontainers.image.title").GetString());

        // The same parameters through the net8.0 task in this process: the same image, to the digest.
        var task = NewTask();
        task.ArchiveOutputPath = Path.Combine(_temp.Path, "in-process.tar");
        Assert.True(task.Execute());
        Assert.Equal(task.ImageDigest, result.Digest);
    }

    [Fact]
    public async Task BadTagIsAnErrorLineWithItsCodeAndExitCode1()
    {
        var (run, lines) = await RunCliAsync(NewTask("bad tag!"));

        Assert.Equal(1, run.ExitCode);
        var error = Assert.Single(lines, l => l.Kind == LogLine.Error);
        Assert.Equal("LIV2002", error.Code);
        Assert.Contains("'bad tag!' is not a valid tag", error.Message);
        Assert.DoesNotContain(lines, l => l.Kind == LogLine.Result);
        Assert.False(File.Exists(Path.Combine(_temp.Path, "out", "cli.tar")));
    }

    [Fact]
    public async Task WrongCommandLineIsExitCode2()
    {
        var run = await Tools.RunAsync("dotnet", [CliPath]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("usage:", run.Stderr);
    }

    /// <summary>
    /// The request carries every input parameter of the task under its own name, and ImageBuildParameters knows every
    /// one: a parameter added to BuildContainerImage.Parameters.cs and not to ImageBuildParameters fails here.
    /// </summary>
    [Fact]
    public void EveryTaskParameterIsInTheRequestAndMapsToTheSameRequest()
    {
        string publish = Path.Combine(_temp.Path, "publish");
        Directory.CreateDirectory(publish);
        File.WriteAllText(Path.Combine(publish, "app.dll"), "app");
        var task = NewTask();
        task.RuntimeIdentifier = "linux-arm64";
        task.Registry = "";
        task.LocalRegistry = "";
        task.ImageFormat = "Docker";
        task.LayerCompression = "Gzip";
        task.WorkingDirectory = "/srv";
        task.User = "1000:1000";
        task.Entrypoint = [new TaskItem("/bin/sh")];
        task.Cmd = [new TaskItem("-c")];
        task.AppCommand = [];
        task.AppCommandArgs = [new TaskItem("--x")];
        task.AppCommandInstruction = "DefaultArgs";
        task.AssemblyName = "app";
        task.SelfContained = true;
        task.EnvironmentVariables = [Label("A", "1")];
        task.Ports = [new TaskItem("8080")];
        var published = new TaskItem(Path.Combine(publish, "app.dll"));
        published.SetMetadata("RelativePath", "app.dll");
        task.PublishFiles = [published];
        task.PublishDirectory = publish;
        task.SourceDateEpoch = "1700000000";
        task.StateMaxSize = "5GB";
        task.InsecureRegistries = ["localhost:5000"];
        task.RegistryTimeout = "90s";
        task.OciLayoutPath = Path.Combine(_temp.Path, "layout");
        // Dockerfile mode's parameters, sent too (an empty Dockerfile keeps properties mode).
        task.Dockerfile = "";
        task.BuildContext = _temp.Path;
        task.BuildArgs = [Label("V", "1")];
        task.NamedContexts = [Label("base", "scratch")];
        task.Target = "final";
        task.RuntimePath = "/usr/sbin/runc";
        var secret = new TaskItem("token");
        secret.SetMetadata("Env", "LIVRABLE_TEST_TOKEN");
        task.Secrets = [secret];
        // Multi-platform parameters, sent too (empty keeps one platform).
        task.Platforms = [];
        task.PlatformImages = [];
        task.CacheFrom = ["127.0.0.1:5000/cache:a", "127.0.0.1:5000/cache:b"];
        task.CacheTo = "127.0.0.1:5000/cache:c";
        task.MaxParallelism = "2";
        // Supply-chain parameters (docs/supply-chain.md), sent too.
        task.MetadataFile = Path.Combine(_temp.Path, "metadata.json");
        task.DigestFile = Path.Combine(_temp.Path, "digest.txt");
        task.GenerateSbom = true;
        task.Provenance = true;
        task.SigningKey = Path.Combine(_temp.Path, "key.pem");
        task.SupplyChainOutputBase = Path.Combine(_temp.Path, "out", "app-v1");
        task.ProjectPath = Path.Combine(_temp.Path, "app.csproj");
        task.SourceRevisionId = "0123456789abcdef0123456789abcdef01234567";
        task.RepositoryUrl = "https://example.com/team/app.git";

        string json = RequestWriter.Write(task);
        using (var doc = JsonDocument.Parse(json))
        {
            var inputs = typeof(BuildContainerImage).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.DeclaredOnly)
                .Where(p => !p.IsDefined(typeof(Microsoft.Build.Framework.OutputAttribute), true)).Select(p => p.Name).Order().ToList();
            Assert.Equal(inputs, doc.RootElement.EnumerateObject().Select(p => p.Name).Order().ToList());
            Assert.Equal(inputs, typeof(ImageBuildParameters).GetProperties().Select(p => p.Name).Order().ToList());
        }

        var parameters = JsonSerializer.Deserialize<ImageBuildParameters>(json, Livrable.Cli.Program.RequestOptions)!;
        Assert.Equal(ImageBuildParameters.Describe(task.CreateRequest()), ImageBuildParameters.Describe(parameters.ToRequest()));
        var none = Array.Empty<Livrable.SupplyChain.NuGetPackage>();
        Assert.Equal(task.CreateRequest().SupplyChain with { NuGetPackages = none }, parameters.ToRequest().SupplyChain with { NuGetPackages = none });
        Assert.True(parameters.ToRequest().SupplyChain.GenerateSbom);

        task.Dockerfile = Path.Combine(_temp.Path, "Dockerfile");
        var dockerfile = JsonSerializer.Deserialize<ImageBuildParameters>(RequestWriter.Write(task), Livrable.Cli.Program.RequestOptions)!;
        Assert.Equal(ImageBuildParameters.Describe(task.CreateRequest()), ImageBuildParameters.Describe(dockerfile.ToRequest()));
    }
}
