using System.IO.Compression;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.MSBuild;

/// <summary>
/// The implicit restore of a <c>&lt;Project Sdk="Livrable.Sdk"&gt;</c> with nothing to restore (src/Sdk/Sdk/Livrable.Sdk.Restore.targets):
/// once NuGet's restore recorded that there was nothing, the next restore with the same inputs runs no NuGet task; a
/// package or project reference (NuGet's restore of a project reference of an image project records none in the assets file: no assembly is referenced), a changed import, another runtime identifier, a deleted assets file, a forced restore
/// or <c>LivrableSkipNoOpRestore=false</c> each run NuGet's restore again, and what it writes (the assets file) is
/// checked. Real <c>dotnet msbuild -restore</c> on src/Sdk's targets, a local feed with a package written here.
/// On Microsoft.NET.Sdk (<c>LivrableSdkBase</c>): the Livrable base, the default, has no NuGet restore to skip.
/// </summary>
public sealed class NoOpRestoreTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public NoOpRestoreTests()
    {
        SdkProjects.WriteDirectoryBuildFiles(_temp.Path);
        // A feed of one package, and a packages folder of the test's own, so nothing outside is read or written.
        Directory.CreateDirectory(_temp["feed"]);
        using (var zip = ZipFile.Open(_temp["feed", "livrable.test.pkg.1.0.0.nupkg"], ZipArchiveMode.Create))
        {
            using var nuspec = new StreamWriter(zip.CreateEntry("Livrable.Test.Pkg.nuspec").Open());
            nuspec.Write("""
                <?xml version="1.0" encoding="utf-8"?>
                <package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
                  <metadata><id>Livrable.Test.Pkg</id><version>1.0.0</version><authors>test</authors><description>test</description></metadata>
                </package>
                """);
        }
        File.WriteAllText(_temp["NuGet.config"], $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config><add key="globalPackagesFolder" value="{_temp["packages"]}" /></config>
              <packageSources><clear /><add key="local" value="{_temp["feed"]}" /></packageSources>
            </configuration>
            """);
        Write("other", "");
        Write("image", "");
    }

    public void Dispose() => _temp.Dispose();

    private void Write(string name, string items) => File.WriteAllText(Path.Combine(Directory.CreateDirectory(_temp[name]).FullName, name + ".csproj"), $"""
        <Project>
          <PropertyGroup><LivrableSdkBase>Microsoft.NET.Sdk</LivrableSdkBase></PropertyGroup>
          <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
          <ItemGroup>{items}</ItemGroup>
          <Target Name="Nothing" />
          <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
        </Project>
        """);

    private string Assets => File.ReadAllText(_temp["image", "obj", "project.assets.json"]);

    private string Record => _temp["image", "obj", "image.csproj.livrable-restore"];

    /// <summary>Restores and builds nothing; true when NuGet's restore task ran (the task summary names it).</summary>
    private async Task<bool> RestoreAsync(params string[] properties)
    {
        var result = (await Tools.DotnetAsync(_temp["image"], "msbuild", "image.csproj",
            ["-restore", "-t:Nothing", "-v:n", "-tl:off", "-clp:PerformanceSummary", .. properties])).EnsureSuccess();
        bool ran = result.Stdout.Contains(" RestoreTask ", StringComparison.Ordinal);
        Assert.True(ran != result.Stdout.Contains("image: nothing to restore", StringComparison.Ordinal), result.Output);
        return ran;
    }

    [Fact]
    public async Task Restore_runs_NuGet_only_when_there_is_something_to_restore_or_an_input_changed()
    {
        Assert.True(await RestoreAsync());
        Assert.True(File.Exists(Record));
        Assert.False(await RestoreAsync());
        Assert.False(await RestoreAsync());

        // A package reference: NuGet restores it; a project reference: NuGet's restore runs too.
        Write("image", """<PackageReference Include="Livrable.Test.Pkg" Version="1.0.0" />""");
        Assert.True(await RestoreAsync());
        Assert.Contains("Livrable.Test.Pkg/1.0.0", Assets);
        Assert.False(File.Exists(Record));
        Assert.True(await RestoreAsync());
        Write("image", """<ProjectReference Include="../other/other.csproj" />""");
        Assert.True(await RestoreAsync());
        Assert.DoesNotContain("Livrable.Test.Pkg", Assets);
        Assert.False(File.Exists(Record));
        Assert.True(await RestoreAsync());

        // None again: NuGet writes an assets file without them, then it is recorded.
        Write("image", "");
        Assert.True(await RestoreAsync());
        Assert.True(File.Exists(Record));
        Assert.False(await RestoreAsync());

        // Another runtime identifier is another restore (the assets file gets its target), and back.
        Assert.True(await RestoreAsync("-p:RuntimeIdentifier=linux-x64"));
        Assert.Contains("netstandard2.0/linux-x64", Assets);
        Assert.True(await RestoreAsync());
        Assert.False(await RestoreAsync());

        // A changed import, a deleted assets file, a forced restore, the opt-out.
        File.SetLastWriteTimeUtc(_temp["Directory.Build.props"], DateTime.UtcNow.AddSeconds(5));
        Assert.True(await RestoreAsync());
        Assert.False(await RestoreAsync());
        File.Delete(_temp["image", "obj", "project.assets.json"]);
        Assert.True(await RestoreAsync());
        Assert.True(File.Exists(_temp["image", "obj", "project.assets.json"]));
        Assert.True(await RestoreAsync("-p:RestoreForce=true"));
        Assert.True(await RestoreAsync("-p:LivrableSkipNoOpRestore=false"));
        Assert.False(await RestoreAsync());
    }
}
