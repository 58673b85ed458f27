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
/// costs two publishes of four small apps. Both write tarballs, read back with skopeo.
/// </summary>
public sealed class SdkOracleFixture : IAsyncLifetime
{
    /// <summary>Project name, template SDK, extra properties: web and console, framework-dependent and self-contained.</summary>
    public static readonly IReadOnlyList<(string Name, string Sdk, string Properties)> Cases =
    [
        ("webfdd", "Microsoft.NET.Sdk.Web", ""),
        ("websc", "Microsoft.NET.Sdk.Web", "<SelfContained>true</SelfContained>"),
        ("consolefdd", "Microsoft.NET.Sdk", "<OutputType>Exe</OutputType>"),
        ("consolesc", "Microsoft.NET.Sdk", "<OutputType>Exe</OutputType><SelfContained>true</SelfContained><InvariantGlobalization>true</InvariantGlobalization>"),
    ];

    private static readonly string SdkDirectory = Path.Combine(TestRepository.Root, "src", "Sdk");
    private readonly RegistryFixture _registry = new();
    private readonly TempDirectory _temp = new();

    /// <summary>The base image, <c>REGISTRY/dotnet-aspnet:10.0</c>.</summary>
    public string BaseImage { get; private set; } = "";

    /// <summary>The base image's manifest digest.</summary>
    public string BaseDigest { get; private set; } = "";

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
        foreach (var (name, _, _) in Cases)
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
        var image = await TestImages.BuildAsync(store, [files], new Platform("linux", "amd64"), configure: config =>
        {
            config.Cmd = null;
            config.SetEnv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
            config.SetEnv("APP_UID", "1654");
            config.SetEnv("ASPNETCORE_HTTP_PORTS", "8080");
            config.SetEnv("DOTNET_RUNNING_IN_CONTAINER", "true");
            config.SetEnv("DOTNET_VERSION", runtime);
        });
        using var client = new RegistryClient(new RegistryOptions(), store, NullLogger.Instance);
        await new RegistryOutput(client, _registry.Registry).WriteAsync(image, "dotnet-aspnet", ["10.0"], CancellationToken.None);
        BaseImage = $"{_registry.Registry}/dotnet-aspnet:10.0";
        BaseDigest = image.Digest.ToString();
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
        foreach (var (name, sdk, properties) in Cases)
        {
            string project = Path.Combine(dir, name);
            Directory.CreateDirectory(project);
            // As the templates write them (dotnet new web / console), with the container properties of the test.
            File.WriteAllText(Path.Combine(project, name + ".csproj"), $"""
                <Project Sdk="{sdk}">
                  <PropertyGroup>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <RuntimeIdentifier>linux-x64</RuntimeIdentifier>
                    <ContainerArchiveOutputPath>{Path.Combine(dir, name + ".tar")}</ContainerArchiveOutputPath>
                    {properties}
                  </PropertyGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(project, "Program.cs"), sdk.EndsWith(".Web", StringComparison.Ordinal)
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
            ["-restore", "-t:PublishAll", "-m:2", $"-p:ContainerBaseImage={BaseImage}", "-p:Configuration=Release"], environment);
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
