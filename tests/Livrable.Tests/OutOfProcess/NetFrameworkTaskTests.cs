using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.Json;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.OutOfProcess;

/// <summary>
/// The net472 assembly itself (src/Tasks.NetFramework's build output), as packed. No .NET Framework runs here, but the
/// .NET SDK's MSBuild loads a net472 task that uses only APIs .NET has, so it runs the very same IL a Visual Studio
/// 2022 build would: parameters, request, CLI, relay, outputs.
/// </summary>
public sealed class NetFrameworkTaskTests : IDisposable
{
    private static readonly string TaskAssembly = Path.Combine(AppContext.BaseDirectory, "net472", "Livrable.Tasks.NetFramework.dll");
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void TargetsNet472AndReferencesOnlyTheFrameworkAndMSBuild()
    {
        using var pe = new PEReader(File.OpenRead(TaskAssembly));
        var metadata = pe.GetMetadataReader();
        var references = metadata.AssemblyReferences.Select(h => metadata.GetString(metadata.GetAssemblyReference(h).Name)).Order().ToList();
        Assert.Equal(["Microsoft.Build.Framework", "Microsoft.Build.Utilities.Core", "mscorlib", "System", "System.Core"], references);

        string? framework = metadata.GetAssemblyDefinition().GetCustomAttributes()
            .Select(h => metadata.GetCustomAttribute(h))
            .Where(a => a.Constructor.Kind == HandleKind.MemberReference
                && metadata.GetString(metadata.GetTypeReference((TypeReferenceHandle)metadata.GetMemberReference((MemberReferenceHandle)a.Constructor).Parent).Name) == "TargetFrameworkAttribute")
            .Select(a => a.DecodeValue(new StringOnlyDecoder()).FixedArguments[0].Value as string)
            .SingleOrDefault();
        Assert.Equal(".NETFramework,Version=v4.7.2", framework);
    }

    /// <summary>The package's tasks folder as the package lays it out: the net472 task beside the net8.0 engine and CLI.</summary>
    private string PackageTasks()
    {
        string tasks = Path.Combine(_temp.Path, "package", "tasks");
        Directory.CreateDirectory(Path.Combine(tasks, "net472"));
        Directory.CreateDirectory(Path.Combine(tasks, "net8.0"));
        File.Copy(TaskAssembly, Path.Combine(tasks, "net472", "Livrable.Tasks.NetFramework.dll"));
        foreach (string file in new[] { "Livrable.Tasks.dll", "Livrable.Cli.dll", "Livrable.Cli.runtimeconfig.json", "Livrable.Cli.deps.json" })
            File.Copy(Path.Combine(AppContext.BaseDirectory, file), Path.Combine(tasks, "net8.0", file));
        return tasks;
    }

    /// <summary>
    /// The package's layout (tasks/net472 beside tasks/net8.0), the package's targets with LivrableTaskHost=CliProcess:
    /// dotnet publish builds the image through the net472 task, outputs set; a bad tag fails the build with LIV2002.
    /// </summary>
    [Fact]
    public async Task BuildsAnImageThroughTheCliFromMSBuild()
    {
        string tasks = PackageTasks();

        string project = Path.Combine(_temp.Path, "app", "app.proj");
        Directory.CreateDirectory(Path.GetDirectoryName(project)!);
        File.WriteAllText(Path.Combine(_temp.Path, "app", "motd"), "hello from net472\n");
        File.WriteAllText(project, $"""
            <Project>
              <PropertyGroup>
                <LivrableTaskHost>CliProcess</LivrableTaskHost>
                <LivrableTasksNetFrameworkAssembly>{tasks}/net472/Livrable.Tasks.NetFramework.dll</LivrableTasksNetFrameworkAssembly>
                <IsContainerImageProject>true</IsContainerImageProject>
                <ContainerBaseImage>scratch</ContainerBaseImage>
                <ContainerRepository>net472</ContainerRepository>
                <ContainerArchiveOutputPath>out/</ContainerArchiveOutputPath>
                <ContainerStateDirectory>{_temp.Path}/state</ContainerStateDirectory>
              </PropertyGroup>
              <Import Project="{Sdk("build", "Livrable.Sdk.props")}" />
              <ItemGroup>
                <ContainerLayer Include="motd" Destination="/etc/" />
              </ItemGroup>
              <Import Project="{Sdk("build", "Livrable.Sdk.targets")}" />
              <Target Name="Show" DependsOnTargets="BuildContainerImage">
                <Message Importance="high" Text="OUTPUT=$(ContainerImageDigest)|$(ContainerImageReference)|$(ContainerArchivePath)" />
              </Target>
            </Project>
            """);

        var show = await DotnetAsync("msbuild", project, "-t:Show", "-v:n");
        string output = show.Output;
        Assert.True(show.ExitCode == 0, output);
        Assert.Contains("Livrable.Tasks.NetFramework.dll", (await DotnetAsync("msbuild", project, "-t:Show", "-v:diag")).Output);
        string[] outputs = output.Split('\n').Single(l => l.Contains("OUTPUT=", StringComparison.Ordinal)).Trim()["OUTPUT=".Length..].Split('|');
        Assert.StartsWith("sha256:", outputs[0]);
        Assert.Equal("net472:latest", outputs[1]);
        Assert.Equal(Path.Combine(_temp.Path, "app", "out", "net472-latest.tar"), outputs[2]);
        Assert.Contains("[2/3] Livrable: files", output);

        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", $"docker-archive:{outputs[2]}");
        using var image = JsonDocument.Parse(inspect.Stdout);
        Assert.Single(image.RootElement.GetProperty("Layers").EnumerateArray());

        var bad = await DotnetAsync("msbuild", project, "-t:Show", "-p:ContainerTag=bad!tag");
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("error LIV2002", bad.Output);
    }

    /// <summary>
    /// Under CliProcess the up-to-date inputs come from the net472 ResolveContainerImageInputs, which asks
    /// <c>Livrable.Cli --image-inputs</c>: a tarball named through a build argument is an input file, a registry tag makes
    /// the image step always run.
    /// </summary>
    [Fact]
    public async Task ResolvesTheImageInputsThroughTheCliFromMSBuild()
    {
        string tasks = PackageTasks();
        string dir = Path.Combine(_temp.Path, "df");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "base.tar"), "");
        File.WriteAllText(Path.Combine(dir, "Dockerfile"), "ARG BASE\nFROM $BASE\n");
        string project = Path.Combine(dir, "df.proj");
        File.WriteAllText(project, $"""
            <Project>
              <PropertyGroup>
                <LivrableTaskHost>CliProcess</LivrableTaskHost>
                <LivrableTasksNetFrameworkAssembly>{tasks}/net472/Livrable.Tasks.NetFramework.dll</LivrableTasksNetFrameworkAssembly>
                <ContainerStateDirectory>{_temp.Path}/state</ContainerStateDirectory>
              </PropertyGroup>
              <Import Project="{Sdk("build", "Livrable.Sdk.props")}" />
              <ItemGroup>
                <ContainerBuildArg Include="BASE" Value="$(Base)" />
              </ItemGroup>
              <Import Project="{Sdk("build", "Livrable.Sdk.targets")}" />
              <Target Name="ShowInputs" DependsOnTargets="_LivrableComputeImageInputs">
                <Message Importance="high" Text="INPUTS=@(_LivrableImageSourceFile)|$(_LivrableImageAlwaysBuild)" />
              </Target>
            </Project>
            """);

        var local = await DotnetAsync("msbuild", project, "-t:ShowInputs", "-p:Base=archive:base.tar", "-v:d");
        Assert.True(local.ExitCode == 0, local.Output);
        Assert.Contains("--image-inputs", local.Output);
        Assert.Contains($"INPUTS={Path.Combine(dir, "base.tar")}|\n", local.Output.Replace("\r", ""));

        var tag = await DotnetAsync("msbuild", project, "-t:ShowInputs", "-p:Base=registry.example.com/base:1", "-v:n");
        Assert.True(tag.ExitCode == 0, tag.Output);
        Assert.Contains("INPUTS=|'registry.example.com/base:1' is an image in a registry by tag", tag.Output);
    }

    /// <summary>
    /// Under MSBuild on .NET Framework (NetTaskHost, CliProcess) WriteContainerImageInputs is the net472 task, in
    /// MSBuild's process: it walks the build context through DirectoryInfo (write and creation times). Unchanged, the
    /// image step is skipped; an edit, a new empty folder, a file added with an old time run it; bin/ and obj/, named
    /// by the .dockerignore, do not. On main the new empty folder was missed (the glob listed files only). The image is
    /// read by skopeo.
    /// </summary>
    [Fact]
    public async Task TheNet472InputsTaskWalksTheContext()
    {
        string tasks = PackageTasks();
        string dir = Path.Combine(_temp.Path, "ctx");
        Directory.CreateDirectory(Path.Combine(dir, "bin"));
        File.WriteAllText(Path.Combine(dir, "Dockerfile"), "FROM scratch\nCOPY . /data/\n");
        File.WriteAllText(Path.Combine(dir, ".dockerignore"), "bin/\nobj/\n");
        File.WriteAllText(Path.Combine(dir, "a.txt"), "a\n");
        string project = Path.Combine(dir, "ctx.proj");
        File.WriteAllText(project, $"""
            <Project>
              <PropertyGroup>
                <LivrableTaskHost>CliProcess</LivrableTaskHost>
                <LivrableTasksNetFrameworkAssembly>{tasks}/net472/Livrable.Tasks.NetFramework.dll</LivrableTasksNetFrameworkAssembly>
                <ContainerRepository>ctx</ContainerRepository>
                <ContainerArchiveOutputPath>bin/ctx.tar</ContainerArchiveOutputPath>
                <ContainerStateDirectory>{_temp.Path}/state</ContainerStateDirectory>
              </PropertyGroup>
              <Import Project="{Sdk("build", "Livrable.Sdk.props")}" />
              <Import Project="{Sdk("build", "Livrable.Sdk.targets")}" />
            </Project>
            """);
        const string skipped = "Skipping target \"_LivrableBuildImage\" because all output files are up-to-date";

        async Task<bool> RanAsync()
        {
            var result = await DotnetAsync("msbuild", project, "-t:BuildContainerImage", "-v:d");
            Assert.True(result.ExitCode == 0, result.Output);
            Assert.Contains("Compared ", result.Output);
            return !result.Output.Contains(skipped, StringComparison.Ordinal);
        }

        Assert.True(await RanAsync());
        Assert.False(await RanAsync());
        File.WriteAllText(Path.Combine(dir, "bin", "other.txt"), "left out\n");
        Assert.False(await RanAsync());
        File.WriteAllText(Path.Combine(dir, "a.txt"), "a, edited\n");
        Assert.True(await RanAsync());
        Directory.CreateDirectory(Path.Combine(dir, "empty"));
        Assert.True(await RanAsync());
        File.WriteAllText(Path.Combine(dir, "old.txt"), "old\n");
        File.SetLastWriteTimeUtc(Path.Combine(dir, "old.txt"), new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        Assert.True(await RanAsync());
        Assert.False(await RanAsync());

        var inspect = await Tools.RunCheckedAsync("skopeo", "inspect", "--config", $"docker-archive:{Path.Combine(dir, "bin", "ctx.tar")}");
        using var config = JsonDocument.Parse(inspect.Stdout);
        Assert.Single(config.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray());
    }

    /// <summary>MSBuild on .NET never picks the .NET Framework paths by itself.</summary>
    [Theory]
    [InlineData("-p:Unused=1", "InProcess")]
    [InlineData("-p:LivrableTasksUseTaskHost=true", "TaskHost")]
    [InlineData("-p:LivrableTaskHost=CliProcess", "CliProcess")]
    public async Task OnMSBuildForDotNetTheTaskRunsInProcess(string argument, string expected)
    {
        string project = Path.Combine(_temp.Path, "eval.proj");
        File.WriteAllText(project, $"""
            <Project>
              <Import Project="{Sdk("build", "Livrable.Sdk.props")}" />
              <Import Project="{Sdk("build", "Livrable.Sdk.targets")}" />
            </Project>
            """);
        var result = await DotnetAsync("msbuild", project, argument, "-getProperty:LivrableTaskHost");
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal(expected, result.Output.Trim());
    }

    private static string Sdk(params string[] parts) => Path.Combine([TestRepository.Root, "src", "Sdk", .. parts]);

    private Task<ToolResult> DotnetAsync(string verb, string project, params string[] arguments)
        => Tools.DotnetAsync(_temp.Path, verb, project, arguments);

    /// <summary>Decodes the one string argument of TargetFrameworkAttribute.</summary>
    private sealed class StringOnlyDecoder : ICustomAttributeTypeProvider<Type>
    {
        public Type GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode == PrimitiveTypeCode.String ? typeof(string) : typeof(object);
        public Type GetSystemType() => typeof(Type);
        public Type GetSZArrayType(Type elementType) => elementType.MakeArrayType();
        public Type GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => typeof(object);
        public Type GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => typeof(object);
        public Type GetTypeFromSerializedName(string name) => typeof(object);
        public PrimitiveTypeCode GetUnderlyingEnumType(Type type) => PrimitiveTypeCode.Int32;
        public bool IsSystemType(Type type) => type == typeof(Type);
    }
}
