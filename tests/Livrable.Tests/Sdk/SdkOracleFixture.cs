using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Registry;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Sdk;

/// <summary>
/// The .NET SDK's own container publishing as the oracle: one local registry holding one base image shaped like the
/// official ASP.NET images (made here from the host's .NET install: the <c>dotnet</c> host and <c>/etc/passwd</c>
/// with the user <c>app</c>, uid/gid 1654; <c>APP_UID=1654</c>, <c>ASPNETCORE_HTTP_PORTS=8080</c> and
/// <c>DOTNET_VERSION</c> in its environment), and one tree of projects (<see cref="Cases"/>) published twice, in two
/// copies: once by the SDK's <c>PublishContainer</c> (no Livrable), once with Livrable referenced as a
/// PackageReference would. Each copy is one <c>dotnet msbuild</c> process that publishes every case, so the suite
/// costs two publishes of seven small apps. Both write tarballs, read back with skopeo. The base is pushed three
/// times, as the official repository has it: <c>10.0</c> (amd64), <c>10.0-arm64v8</c> (arm64) and <c>10.0-alpine</c>
/// (amd64, for the musl RID); each case names its base, so both sides start from the same image.
/// </summary>
public sealed class SdkOracleFixture : IAsyncLifetime
{
    /// <summary>
    /// Project name, template (<c>web</c> and <c>console</c> written here as the templates write them, <c>worker</c>
    /// made by <c>dotnet new worker</c> since it references a package whose version follows the SDK), runtime
    /// identifier, base image tag, extra properties: framework-dependent and self-contained, glibc and musl, x64 and
    /// arm64 (framework-dependent, so nothing of the image has to run on this machine).
    /// </summary>
    public static readonly IReadOnlyList<(string Name, string Template, string Rid, string BaseTag, string Properties)> Cases =
    [
        ("webfdd", "web", "linux-x64", "10.0", ""),
        ("websc", "web", "linux-x64", "10.0", "<SelfContained>true</SelfContained>"),
        ("consolefdd", "console", "linux-x64", "10.0", "<OutputType>Exe</OutputType>"),
        ("consolesc", "console", "linux-x64", "10.0", "<OutputType>Exe</OutputType><SelfContained>true</SelfContained><InvariantGlobalization>true</InvariantGlobalization>"),
        ("workerfdd", "worker", "linux-x64", "10.0", ""),
        ("webarm64", "web", "linux-arm64", "10.0-arm64v8", ""),
        ("webmusl", "web", "linux-musl-x64", "10.0-alpine", ""),
    ];

    /// <summary>The base tags and the platform each is pushed for.</summary>
    private static readonly IReadOnlyList<(string Tag, Platform Platform)> BaseTags =
    [
        ("10.0", new Platform("linux", "amd64")),
        ("10.0-arm64v8", new Platform("linux", "arm64")),
        ("10.0-alpine", new Platform("linux", "amd64")),
    ];

    private static readonly string SdkDirectory = Path.Combine(TestRepository.Root, "src", "Sdk");
    private readonly RegistryFixture _registry = new();
    private readonly TempDirectory _temp = new();

    /// <summary>The base repository, <c>REGISTRY/dotnet-aspnet</c>; a case's base is <c>BaseRepository:BaseTag</c>.</summary>
    public string BaseRepository { get; private set; } = "";

    /// <summary>Each base tag's manifest digest.</summary>
    public Dictionary<string, string> BaseDigests { get; } = [];

    /// <summary>Each case's image config as the SDK wrote it (skopeo's reading of its tarball).</summary>
    public Dictionary<string, JsonElement> SdkConfigs { get; } = [];

    /// <summary>Each case's image config as Livrable wrote it.</summary>
    public Dictionary<string, JsonElement> LivrableConfigs { get; } = [];

    /// <summary>The two publish runs' output, for failure messages.</summary>
    public string Log { get; private set; } = "";

    public async Task InitializeAsync()
    {
        await _registry.InitializeAsync();
        await PushBaseAsync();
        var sdk = await PublishTreeAsync("sdk", livrable: false);
        var livrable = await PublishTreeAsync("livrable", livrable: true);
        Log = sdk.Output + "\n----\n" + livrable.Output;
        Assert.True(sdk.ExitCode == 0, "The SDK's publish failed:\n" + sdk.Output);
        Assert.True(livrable.ExitCode == 0, "Livrable's publish failed:\n" + livrable.Output);
        foreach (var (name, _, _, _, _) in Cases)
        {
            SdkConfigs[name] = await ConfigAsync(Path.Combine(_temp.Path, "sdk", name + ".tar"));
            LivrableConfigs[name] = await ConfigAsync(Path.Combine(_temp.Path, "livrable", name + ".tar"));
        }
    }

    public async Task DisposeAsync()
    {
        await _registry.DisposeAsync();
        _temp.Dispose();
    }

    /// <summary>The official images' shape, from this machine's .NET: the host executable and the app user.</summary>
    private async Task PushBaseAsync()
    {
        string dotnetRoot = Path.GetDirectoryName(Tools.Require("dotnet") is var d && File.ResolveLinkTarget(d, true) is { } target ? target.FullName : d)!;
        string runtime = Directory.GetDirectories(Path.Combine(dotnetRoot, "shared", "Microsoft.NETCore.App")).Select(Path.GetFileName).Order().Last()!;
        var store = new BlobStore(_temp["base-store"]);
        var files = new Dictionary<string, byte[]>
        {
            ["etc/passwd"] = "root:x:0:0:root:/root:/bin/sh\napp:x:1654:1654::/home/app:/bin/sh\n"u8.ToArray(),
            ["etc/group"] = "root:x:0:\napp:x:1654:\n"u8.ToArray(),
            ["usr/share/dotnet/dotnet"] = await File.ReadAllBytesAsync(Path.Combine(dotnetRoot, "dotnet")),
        };
        using var client = new RegistryClient(new RegistryOptions(), store, NullLogger.Instance);
        foreach (var (tag, platform) in BaseTags)
        {
            // The same files for every platform: the arm64 and musl cases are only published, never run.
            var image = await TestImages.BuildAsync(store, [files], platform, configure: config =>
            {
                config.Cmd = null;
                config.SetEnv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
                config.SetEnv("APP_UID", "1654");
                config.SetEnv("ASPNETCORE_HTTP_PORTS", "8080");
                config.SetEnv("DOTNET_RUNNING_IN_CONTAINER", "true");
                config.SetEnv("DOTNET_VERSION", runtime);
            });
            await new RegistryOutput(client, _registry.Registry).WriteAsync(image, "dotnet-aspnet", [tag], CancellationToken.None);
            BaseDigests[tag] = image.Digest.ToString();
        }
        BaseRepository = $"{_registry.Registry}/dotnet-aspnet";
    }

    /// <summary>The worker template as <c>dotnet new worker</c> writes it with this SDK: file name to text.</summary>
    private async Task<Dictionary<string, string>> WorkerTemplateAsync()
    {
        string dir = Directory.CreateDirectory(_temp["worker-template"]).FullName;
        var result = await Tools.RunAsync("dotnet", ["new", "worker", "-n", "worker", "-o", dir, "--no-restore"],
            TimeSpan.FromMinutes(2), dir, Tools.DotnetEnvironment);
        Assert.True(result.ExitCode == 0, "dotnet new worker failed:\n" + result.Output);
        return Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(dir, f), File.ReadAllText);
    }

    /// <summary>
    /// Writes the cases under <c>TEMP/ROOT</c> (with Livrable imported as a PackageReference's build files would be,
    /// or not) and publishes them all in one process; each image goes to <c>TEMP/ROOT/NAME.tar</c>.
    /// </summary>
    private async Task<ToolResult> PublishTreeAsync(string root, bool livrable)
    {
        string dir = Path.Combine(_temp.Path, root);
        Directory.CreateDirectory(dir);
        if (livrable)
        {
            File.WriteAllText(Path.Combine(dir, "Directory.Build.props"), $"""
                <Project>
                  <Import Project="{SdkDirectory}/build/Livrable.Sdk.props" />
                </Project>
                """);
            File.WriteAllText(Path.Combine(dir, "Directory.Build.targets"), $"""
                <Project>
                  <PropertyGroup>
                    <LivrableTasksAssembly>{Path.Combine(AppContext.BaseDirectory, "Livrable.Tasks.dll")}</LivrableTasksAssembly>
                    <LivrableTasksUseTaskHost>true</LivrableTasksUseTaskHost>
                    <ContainerStateDirectory>{_temp["state"]}</ContainerStateDirectory>
                  </PropertyGroup>
                  <Import Project="{SdkDirectory}/build/Livrable.Sdk.targets" />
                </Project>
                """);
        }
        foreach (var (name, template, rid, baseTag, properties) in Cases)
        {
            string project = Path.Combine(dir, name);
            Directory.CreateDirectory(project);
            // The container properties of the test, after the template's own.
            string container = $"""
                    <RuntimeIdentifier>{rid}</RuntimeIdentifier>
                    <ContainerBaseImage>{BaseRepository}:{baseTag}</ContainerBaseImage>
                    <ContainerArchiveOutputPath>{Path.Combine(dir, name + ".tar")}</ContainerArchiveOutputPath>
                    {properties}
                  </PropertyGroup>
                """;
            if (template == "worker")
            {
                _workerTemplate ??= await WorkerTemplateAsync();
                foreach (var (file, text) in _workerTemplate)
                {
                    string path = Path.Combine(project, file == "worker.csproj" ? name + ".csproj" : file);
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    File.WriteAllText(path, file == "worker.csproj" ? ReplaceFirst(text, "</PropertyGroup>", container.Trim()) : text);
                }
                continue;
            }
            // As the templates write them (dotnet new web / console).
            File.WriteAllText(Path.Combine(project, name + ".csproj"), $"""
                <Project Sdk="{(template == "web" ? "Microsoft.NET.Sdk.Web" : "Microsoft.NET.Sdk")}">
                  <PropertyGroup>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                {container}
                </Project>
                """);
            File.WriteAllText(Path.Combine(project, "Program.cs"), template == "web"
                ? "var builder = WebApplication.CreateBuilder(args);\nvar app = builder.Build();\napp.MapGet(\"/\", () => \"Hello World!\");\napp.Run();\n"
                : "Console.WriteLine(\"Hello, World!\");\n");
        }
        File.WriteAllText(Path.Combine(dir, "all.proj"), """
            <Project>
              <ItemGroup>
                <CaseProject Include="*/*.csproj" />
              </ItemGroup>
              <Target Name="Restore">
                <MSBuild Projects="@(CaseProject)" Targets="Restore" Properties="MSBuildRestoreSessionId=$([System.Guid]::NewGuid())" />
              </Target>
              <Target Name="PublishAll">
                <MSBuild Projects="@(CaseProject)" Targets="Publish;PublishContainer" BuildInParallel="true" />
              </Target>
            </Project>
            """);
        var environment = new Dictionary<string, string>
        {
            // The SDK tries https first for any registry not listed here.
            ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = _registry.Registry,
            ["SOURCE_DATE_EPOCH"] = "",
        };
        return await Tools.DotnetAsync(dir, "msbuild", "all.proj",
            ["-restore", "-t:PublishAll", "-m:2", "-p:Configuration=Release"], environment);
    }

    private Dictionary<string, string>? _workerTemplate;

    private static string ReplaceFirst(string text, string find, string replacement)
    {
        int at = text.IndexOf(find, StringComparison.Ordinal);
        Assert.True(at >= 0, $"'{find}' is not in the template's project");
        return string.Concat(text.AsSpan(0, at), replacement, text.AsSpan(at + find.Length));
    }

    /// <summary>The image config in a tarball, as skopeo reads it (a Docker archive, else an OCI archive).</summary>
    private static async Task<JsonElement> ConfigAsync(string tarball)
    {
        Assert.True(File.Exists(tarball), $"{tarball} was not written");
        var result = await Tools.RunAsync("skopeo", ["inspect", "--config", "docker-archive:" + tarball]);
        if (result.ExitCode != 0) result = await Tools.RunAsync("skopeo", ["inspect", "--config", "oci-archive:" + tarball]);
        Assert.True(result.ExitCode == 0, result.Output);
        using var document = JsonDocument.Parse(result.Stdout);
        return document.RootElement.Clone();
    }
}
