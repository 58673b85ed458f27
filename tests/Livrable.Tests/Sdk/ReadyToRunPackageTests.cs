using System.IO.Compression;
using System.Reflection.PortableExecutable;
using Livrable.Tests.Infrastructure;
using Livrable.Tests.Samples;
using Xunit;

namespace Livrable.Tests.Sdk;

/// <summary>
/// The package's ReadyToRun task assemblies (<c>tasks/net10.0-linux-x64/</c>, <c>tasks/net10.0-linux-arm64/</c>): each
/// is a ReadyToRun image for its OS and architecture in the format major version of the runtime running these tests
/// (.NET 10's; a runtime ignores the precompiled code of any other major version, which is why a net8.0 image made by
/// crossgen2 8 gained nothing), and MSBuild here loads it and runs the task without compiling the task's own methods
/// from IL: the runtime's JIT summary lists no <c>Livrable.</c> method at Tier0, nor the framework's async start over
/// Livrable's state machines (precompiled into the image with crossgen2's <c>--opt-cross-module</c>).
/// In the registry collection for the reason <see cref="PackageTests"/> gives (it builds src/Tasks).
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class ReadyToRunPackageTests : IDisposable
{
    // IMAGE_FILE_MACHINE_AMD64 / ARM64 XOR the Linux value that ReadyToRun images put in the PE header's machine field.
    private const ushort LinuxOverride = 0x7B79;
    private const uint ReadyToRunSignature = 0x00525452; // "RTR"

    private readonly TempDirectory _temp = new();
    private readonly TestPackage _package = new();

    public void Dispose()
    {
        _temp.Dispose();
    }

    /// <summary>The ReadyToRun header of a PE file: its machine field and the format's major version; null for IL only.</summary>
    private static (Machine Machine, int Major)? ReadyToRunHeader(byte[] image)
    {
        using var pe = new PEReader(new MemoryStream(image));
        var native = pe.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory;
        if (native.Size == 0) return null;
        Assert.True(pe.PEHeaders.TryGetDirectoryOffset(native, out int offset), "the managed native header is outside the file's sections");
        Assert.Equal(ReadyToRunSignature, BitConverter.ToUInt32(image, offset));
        return (pe.PEHeaders.CoffHeader.Machine, BitConverter.ToUInt16(image, offset + 4));
    }

    [Fact]
    public async Task The_net10_task_assemblies_are_ReadyToRun_images_this_runtime_uses()
    {
        // The runtime's own format version, from its core library (itself ReadyToRun).
        var coreLibrary = ReadyToRunHeader(File.ReadAllBytes(typeof(object).Assembly.Location));
        Assert.NotNull(coreLibrary);

        string package = await _package.PackAsync(_temp["feed"], _temp["NuGet.config"], TimeSpan.FromMinutes(8));
        using (var zip = ZipFile.OpenRead(package))
        {
            foreach (var (folder, machine) in new[] { ("net10.0-linux-x64", Machine.Amd64), ("net10.0-linux-arm64", Machine.Arm64) })
            {
                var entry = zip.GetEntry($"tasks/{folder}/Livrable.Tasks.dll");
                Assert.True(entry is not null, $"the package has no tasks/{folder}/Livrable.Tasks.dll");
                using var stream = new MemoryStream();
                using (var s = entry!.Open()) await s.CopyToAsync(stream);
                var header = ReadyToRunHeader(stream.ToArray());
                Assert.True(header is not null, $"tasks/{folder}/Livrable.Tasks.dll is IL only, not ReadyToRun");
                Assert.Equal((Machine)((ushort)machine ^ LinuxOverride), header!.Value.Machine);
                Assert.Equal(coreLibrary!.Value.Major, header.Value.Major);
                Assert.NotNull(zip.GetEntry($"tasks/{folder}/SharpCompress.dll"));
                Assert.NotNull(zip.GetEntry($"tasks/{folder}/Livrable.Tasks.deps.json"));
            }
            // The IL for every other MSBuild is still there.
            Assert.Null(ReadyToRunHeader(await ReadAsync(zip, "tasks/net8.0/Livrable.Tasks.dll")));
        }

        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture
                is not (System.Runtime.InteropServices.Architecture.X64 or System.Runtime.InteropServices.Architecture.Arm64))
            return; // the JIT check below needs a machine one of the images is for

        string project = _temp["tiny/tiny.proj"];
        Directory.CreateDirectory(_temp["tiny/root/etc"]);
        File.WriteAllText(_temp["tiny/root/etc/greeting"], "hello\n");
        File.WriteAllText(project, $"""
            <Project Sdk="Livrable.Sdk/{_package.Version}">
              <PropertyGroup>
                <ContainerRepository>tiny</ContainerRepository>
                <ContainerBaseImage>scratch</ContainerBaseImage>
              </PropertyGroup>
              <ItemGroup>
                <ContainerLayer Include="root" Destination="/" />
              </ItemGroup>
            </Project>
            """);
        string summary = _temp["jit.txt"];
        var environment = new Dictionary<string, string>(Tools.DotnetEnvironment)
        {
            ["DOTNET_JitStdOutFile"] = summary,
            ["DOTNET_JitDisasmSummary"] = "1",
        };
        // One MSBuild process (-m:1), so that the one summary file is the task's process's.
        var publish = (await Tools.RunAsync("dotnet", ["publish", project, "-m:1", "-nodeReuse:false", $"-p:ContainerStateDirectory={_temp["state"]}",
                $"-p:ContainerArchiveOutputPath={_temp["out/tiny.tar"]}", "-getProperty:LivrableTasksAssembly", "-getTargetResult:Publish"],
            TimeSpan.FromMinutes(5), _temp.Path, environment)).EnsureSuccess();
        string architecture = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        Assert.Contains($"tasks/net10.0-linux-{architecture}/Livrable.Tasks.dll", publish.Stdout.Replace('\\', '/'));
        Assert.True(File.Exists(_temp["out/tiny.tar"]), "the publish wrote no image");

        var compiled = File.ReadAllLines(summary).Where(l => l.Contains("JIT compiled Livrable.", StringComparison.Ordinal)).ToList();
        var fromIl = compiled.Where(l => l.Contains("Tier0", StringComparison.Ordinal)).ToList();
        // The JIT did run (MSBuild's own methods are listed), and compiled none of the task's from IL.
        Assert.Contains(File.ReadLines(summary), l => l.Contains("JIT compiled", StringComparison.Ordinal));
        Assert.True(fromIl.Count == 0, $"{fromIl.Count} Livrable methods were compiled from IL, e.g.:\n{string.Join('\n', fromIl.Take(10))}");
        // Nor the framework's generic code over the task's own types that the image holds since crossgen2 is given the
        // framework's modules with --opt-cross-module (src/Tasks/Livrable.Tasks.csproj): the start of each of
        // Livrable's async methods, which every build runs (about 25 methods compiled at run time without it).
        var started = File.ReadLines(summary).Where(l => l.Contains("AsyncMethodBuilderCore:Start[Livrable.", StringComparison.Ordinal)).ToList();
        Assert.True(started.Count == 0, $"{started.Count} starts of Livrable's async methods were compiled at run time, e.g.:\n{string.Join('\n', started.Take(5))}");

        // A Dockerfile project's context walk (getdents64 and statx per entry) calls the C library through no marshalling
        // stub, which a delegate needed: the runtime compiled one per function in every build process (issue 14).
        Directory.CreateDirectory(_temp["ctx/sub"]);
        File.WriteAllText(_temp["ctx/sub/file"], "x");
        File.WriteAllText(_temp["ctx/Dockerfile"], "FROM scratch\nCOPY . /data\n");
        File.WriteAllText(_temp["ctx/ctx.proj"], $"""
            <Project Sdk="Livrable.Sdk/{_package.Version}">
              <PropertyGroup><ContainerRepository>ctx</ContainerRepository></PropertyGroup>
            </Project>
            """);
        string walked = _temp["jit-walk.txt"];
        environment["DOTNET_JitStdOutFile"] = walked;
        var walk = (await Tools.RunAsync("dotnet", ["publish", _temp["ctx/ctx.proj"], "-m:1", "-nodeReuse:false", $"-p:ContainerStateDirectory={_temp["state"]}",
                $"-p:ContainerArchiveOutputPath={_temp["out/ctx.tar"]}", "-v:d"], TimeSpan.FromMinutes(5), _temp.Path, environment)).EnsureSuccess();
        Assert.Contains("COPY . /data", walk.Stdout);
        Assert.True(File.Exists(_temp["out/ctx.tar"]), "the publish wrote no image");
        // Livrable's delegates' stubs, by their signatures: statx, open, getdents64 (MSBuild's own stubs have others).
        var stubs = File.ReadLines(walked).Where(l => l.Contains("IL_STUB_PInvoke(int,byte[],int,uint,byte[])", StringComparison.Ordinal)
            || l.Contains("IL_STUB_PInvoke(byte[],int)", StringComparison.Ordinal) || l.Contains("IL_STUB_PInvoke(int,byte[],nint)", StringComparison.Ordinal)).ToList();
        Assert.Contains(File.ReadLines(walked), l => l.Contains("JIT compiled", StringComparison.Ordinal));
        Assert.True(stubs.Count == 0, $"marshalling stubs compiled at run time:\n{string.Join('\n', stubs)}");
    }

    private static async Task<byte[]> ReadAsync(ZipArchive zip, string name)
    {
        using var stream = new MemoryStream();
        using (var s = zip.GetEntry(name)!.Open()) await s.CopyToAsync(stream);
        return stream.ToArray();
    }
}
