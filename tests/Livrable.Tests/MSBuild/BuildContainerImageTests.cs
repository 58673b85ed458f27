using System.Collections;
using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.MSBuild;
using Livrable.Tests.Infrastructure;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Xunit;
using Livrable.Layers;

namespace Livrable.Tests.MSBuild;

public sealed class BuildContainerImageTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private BuildContainerImage NewTask(FakeEngine? engine = null) => new()
    {
        BuildEngine = engine ?? new FakeEngine(),
        BaseImage = "scratch",
        RuntimeIdentifier = "linux-x64",
        Repository = "hello",
        Tags = ["latest"],
        StateDirectory = Path.Combine(_temp.Path, "state"),
    };

    private static TaskItem Item(string spec, params (string Name, string Value)[] metadata)
    {
        var item = new TaskItem(spec);
        foreach (var (name, value) in metadata) item.SetMetadata(name, value);
        return item;
    }

    private string PublishFile(string relative)
    {
        string path = Path.Combine(_temp.Path, "publish", relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, relative);
        return path;
    }

    [Fact]
    public void ParametersBecomeTheRequest()
    {
        var task = NewTask();
        task.RuntimeIdentifier = "linux-arm64";
        task.Tags = ["v1", " v1", "stable"];
        task.ArchiveOutputPath = Path.Combine(_temp.Path, "out", "hello.tar");
        task.ImageFormat = "docker";
        task.User = "1000";
        task.EnvironmentVariables = [Item("A", ("Value", "1")), Item("B", ("Value", "x=y"))];
        task.Labels = [Item("org.opencontainers.image.title", ("Value", "hello"))];
        task.Ports = [Item("8080"), Item("53", ("Type", "UDP"))];
        task.SourceDateEpoch = "1700000000";
        task.InsecureRegistries = ["localhost:5000", ""];
        task.Cmd = [Item("--verbose")];

        var r = task.CreateRequest();

        Assert.Equal("scratch", r.BaseImage);
        Assert.Equal("linux/arm64/v8", r.Platform.ToString());
        Assert.Equal(["v1", "stable"], r.Tags);
        Assert.Equal(Path.Combine(_temp.Path, "out", "hello.tar"), r.ArchivePath);
        Assert.Null(r.Registry);
        Assert.Null(r.LocalEngine);
        Assert.Equal(Livrable.Images.ImageFormat.Docker, r.Format);
        Assert.Equal("1000", r.Config.User);
        Assert.Equal([new("A", "1"), new("B", "x=y")], r.Config.Environment);
        Assert.Equal(["8080/tcp", "53/udp"], r.Config.Ports);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), r.Created);
        Assert.Equal(["localhost:5000"], r.InsecureRegistries);
        Assert.Null(r.Config.WorkingDirectory);     // no app: the base's
        Assert.Null(r.Config.Entrypoint);
        Assert.Equal(["--verbose"], r.Config.Cmd);
        Assert.Empty(r.Layers);
    }

    [Theory]
    [InlineData(null, 60.0)]
    [InlineData("", 60.0)]
    [InlineData("90", 90.0)]
    [InlineData(" 1m30s ", 90.0)]
    [InlineData("500ms", 0.5)]
    [InlineData("0", -1.0)]
    public void RegistryTimeoutIsSecondsOrAGoDurationAndZeroWaitsForever(string? value, double seconds)
    {
        var task = NewTask();
        task.RegistryTimeout = value;

        var r = task.CreateRequest();

        Assert.Equal(seconds < 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(seconds), r.RegistryTimeout);
    }

    /// <summary>
    /// The defaults are the targets' (issue 13, one source of defaults): the engine receives the state folder, the tags
    /// and the runtime identifier, and says so when one is missing instead of choosing another (the state folder was
    /// LocalApplicationData here, ~/.local/share on Linux, where the targets said ~/.cache).
    /// </summary>
    [Theory]
    [InlineData("StateDirectory")]
    [InlineData("Tags")]
    [InlineData("RuntimeIdentifier")]
    [InlineData("WorkingDirectory")]
    public void AnUnresolvedDefaultIsLIV2520(string parameter)
    {
        var task = NewTask();
        switch (parameter)
        {
            case "StateDirectory": task.StateDirectory = ""; break;
            case "Tags": task.Tags = [" "]; break;
            case "WorkingDirectory":
                task.AssemblyName = "hello";
                task.PublishFiles = [Item(PublishFile("hello.dll"), ("RelativePath", "hello.dll"))];
                break;
            default: task.RuntimeIdentifier = null; break;
        }

        var e = Assert.Throws<LivrableException>(() => task.CreateRequest());

        Assert.Equal(DiagnosticCodes.UnresolvedDefault, e.Code);
        Assert.Contains($"The {parameter} parameter is empty", e.Message);
    }

    /// <summary>
    /// The engine has no default of its own for what the targets resolve either: a direct caller of
    /// <see cref="Livrable.Build.ImageBuilder"/> must say the state folder, the platform and the tags (the tags once
    /// defaulted to <c>latest</c> here, a second copy of the targets' rule, which says ContainerTag first).
    /// </summary>
    [Theory]
    [InlineData("StateDirectory")]
    [InlineData("Tags")]
    [InlineData("Platform")]
    public void The_engine_request_requires_what_the_targets_resolve(string member)
    {
        var property = typeof(Livrable.Build.ImageBuildRequest).GetProperty(member)!;
        Assert.True(property.IsDefined(typeof(System.Runtime.CompilerServices.RequiredMemberAttribute), inherit: false),
            $"ImageBuildRequest.{member} has a default of the engine's own");
    }

    [Theory]
    [InlineData(null, -1)]
    [InlineData("", -1)]
    [InlineData("1", 1)]
    [InlineData("6", 6)]
    public void MaxParallelismIsTheCoreCountWhenEmpty(string? value, int bound)
    {
        var task = NewTask();
        task.MaxParallelism = value;

        var r = task.CreateRequest();

        Assert.Equal(bound < 0 ? Environment.ProcessorCount : bound, r.MaxParallelism);
    }

    [Fact]
    public void AMaxParallelismBelow1IsLIV2511()
    {
        var task = NewTask();
        task.MaxParallelism = "0";

        var e = Assert.Throws<LivrableException>(() => task.CreateRequest());

        Assert.Equal(DiagnosticCodes.InvalidMaxParallelism, e.Code);
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("-5s")]
    [InlineData("5 minutes")]
    public void ARegistryTimeoutThatIsNotADurationIsLIV3014(string value)
    {
        var task = NewTask();
        task.RegistryTimeout = value;

        var e = Assert.Throws<LivrableException>(() => task.CreateRequest());

        Assert.Equal(DiagnosticCodes.InvalidRegistryTimeout, e.Code);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void PublishFilesAreSplitAndTheApphostIsTheEntrypoint()
    {
        var task = NewTask();
        task.AssemblyName = "hello";
        task.SelfContained = true;
        task.WorkingDirectory = "/app/";
        task.PublishDirectory = Path.Combine(_temp.Path, "publish");
        task.PublishFiles =
        [
            Item(PublishFile("hello"), ("RelativePath", "hello")),
            Item(PublishFile("hello.dll"), ("RelativePath", "hello.dll")),
            Item(PublishFile("Newtonsoft.Json.dll"), ("RelativePath", "Newtonsoft.Json.dll"), ("NuGetPackageId", "Newtonsoft.Json"), ("AssetType", "runtime")),
            Item(PublishFile("libcoreclr.so"), ("RelativePath", "libcoreclr.so"), ("NuGetPackageId", "Microsoft.NETCore.App.Runtime.linux-x64"), ("AssetType", "native")),
        ];
        task.Layers = [Item(_temp.Path, ("Destination", "/data"), ("Kind", "Directory"))];

        var r = task.CreateRequest();

        Assert.Equal("/app", r.Config.WorkingDirectory);
        Assert.Equal(["/app/hello"], r.Config.Entrypoint);
        Assert.Null(r.Config.Cmd);
        Assert.Collection(r.Layers,
            l => Assert.Equal("/data", Assert.IsType<DirectoryLayerSpec>(l).Destination),
            l => Assert.Equal("Livrable: runtime (1 file)", l.CreatedBy),
            l => Assert.Equal("Livrable: dependencies (1 file)", l.CreatedBy),
            l => Assert.Equal("Livrable: application (2 files)", l.CreatedBy));
    }

    [Fact]
    public void LayerItemsOfEachKind()
    {
        string tar = Path.Combine(_temp.Path, "rootfs.tar");
        File.WriteAllText(tar, "");
        string a = Path.Combine(_temp.Path, "a.conf"), b = Path.Combine(_temp.Path, "b.conf");
        File.WriteAllText(a, "a");
        File.WriteAllText(b, "b");
        var task = NewTask();
        task.Layers = [Item(tar), Item(a, ("Destination", "/etc/"), ("CreatedBy", "config")), Item(b, ("Destination", "/etc/b2.conf"), ("CreatedBy", "config"))];

        var r = task.CreateRequest();

        Assert.Equal(2, r.Layers.Count);
        Assert.Equal("/", Assert.IsType<TarLayerSpec>(r.Layers[0]).Destination);
        var files = Assert.IsType<FilesLayerSpec>(r.Layers[1]);
        Assert.Equal(["/etc/a.conf", "/etc/b2.conf"], files.Files.Select(f => f.TargetPath));
    }

    [Theory]
    [InlineData(nameof(BuildContainerImage.ImageFormat), "Foo", "LIV2003")]
    [InlineData(nameof(BuildContainerImage.LocalRegistry), "Containerd", "LIV2003")]
    [InlineData(nameof(BuildContainerImage.LayerCompression), "brotli", "LIV2003")]
    [InlineData(nameof(BuildContainerImage.RuntimeIdentifier), "osx-arm64", "LIV2006")]
    [InlineData(nameof(BuildContainerImage.SourceDateEpoch), "yesterday", "LIV2003")]
    [InlineData(nameof(BuildContainerImage.AppCommandInstruction), "Cmd", "LIV2003")]
    public void BadValuesAreErrorsWithTheirCode(string parameter, string value, string code)
    {
        var engine = new FakeEngine();
        var task = NewTask(engine);
        typeof(BuildContainerImage).GetProperty(parameter)!.SetValue(task, value);

        Assert.False(task.Execute());

        var error = Assert.Single(engine.Errors);
        Assert.Equal(code, error.Code);
    }

    [Fact]
    public void LayerCompressionIsGzipUnlessZstdIsAskedAndZstdNeedsTheOciFormat()
    {
        var task = NewTask();
        Assert.Equal(Livrable.Layers.LayerCompression.Gzip, task.CreateRequest().LayerCompression);
        task.LayerCompression = " ZSTD ";
        Assert.Equal(Livrable.Layers.LayerCompression.Zstd, task.CreateRequest().LayerCompression);
        task.ImageFormat = "OCI";
        Assert.Equal(Livrable.Layers.LayerCompression.Zstd, task.CreateRequest().LayerCompression);

        var engine = new FakeEngine();
        task = NewTask(engine);
        task.LayerCompression = "zstd";
        task.ImageFormat = "Docker";
        Assert.False(task.Execute());
        var error = Assert.Single(engine.Errors);
        Assert.Equal(DiagnosticCodes.ZstdNeedsOciFormat, error.Code);
        Assert.Contains("ContainerImageFormat=OCI", error.Message);
    }

    [Fact]
    public void BadPortsAndMissingLayersAreErrors()
    {
        var engine = new FakeEngine();
        var task = NewTask(engine);
        task.Ports = [Item("http")];
        Assert.False(task.Execute());
        Assert.Equal(DiagnosticCodes.InvalidItem, Assert.Single(engine.Errors).Code);

        engine = new FakeEngine();
        task = NewTask(engine);
        task.Layers = [Item(Path.Combine(_temp.Path, "missing.tar"))];
        Assert.False(task.Execute());
        Assert.Equal(DiagnosticCodes.InputNotFound, Assert.Single(engine.Errors).Code);
    }

    [Fact]
    public void LoggerAdapterMapsLevelsAndSpans()
    {
        var engine = new FakeEngine();
        var task = NewTask(engine);
        var logger = new MSBuildLogger(task.Log);

        logger.Info("pushed");
        logger.Detail("skipped blob");
        logger.Warning("LIV1001", "odd", new SourceSpan("Dockerfile", 3, 1));

        Assert.Contains(engine.Messages, m => m.Message == "pushed" && m.Importance == MessageImportance.High);
        Assert.Contains(engine.Messages, m => m.Message == "skipped blob" && m.Importance == MessageImportance.Low);
        var w = Assert.Single(engine.Warnings);
        Assert.Equal(("LIV1001", "Dockerfile", 3, "odd"), (w.Code, w.File, w.LineNumber, w.Message));
    }

    internal sealed class FakeEngine : IBuildEngine
    {
        public List<BuildErrorEventArgs> Errors { get; } = [];
        public List<BuildWarningEventArgs> Warnings { get; } = [];
        public List<BuildMessageEventArgs> Messages { get; } = [];
        public bool ContinueOnError => false;
        public int LineNumberOfTaskNode => 0;
        public int ColumnNumberOfTaskNode => 0;
        public string ProjectFileOfTaskNode => "test.proj";
        public bool BuildProjectFile(string projectFileName, string[] targetNames, IDictionary globalProperties, IDictionary targetOutputs) => false;
        public void LogCustomEvent(CustomBuildEventArgs e) { }
        public void LogErrorEvent(BuildErrorEventArgs e) => Errors.Add(e);
        public void LogMessageEvent(BuildMessageEventArgs e) => Messages.Add(e);
        public void LogWarningEvent(BuildWarningEventArgs e) => Warnings.Add(e);
    }
}
