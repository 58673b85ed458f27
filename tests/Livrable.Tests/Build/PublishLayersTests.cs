using Livrable.Build;
using Livrable.Diagnostics;
using Xunit;

namespace Livrable.Tests.Build;

public class PublishLayersTests
{
    private static PublishFile App(string rel) => new("/src/" + rel, rel);
    private static PublishFile Package(string rel) => PublishFile.FromMetadata("/nuget/" + rel, rel, "Newtonsoft.Json", "runtime", null);
    private static PublishFile Runtime(string rel) => PublishFile.FromMetadata("/packs/" + rel, rel, "Microsoft.NETCore.App.Runtime.linux-x64", "native", "true");

    [Fact]
    public void SelfContainedAppGivesRuntimeDependenciesAndApplicationInThatOrder()
    {
        var layers = PublishLayers.Split(
            [App("hello.dll"), Runtime("libcoreclr.so"), Package("Newtonsoft.Json.dll"), App("hello"), Runtime("System.Private.CoreLib.dll"), App("hello.deps.json")],
            "/app");

        Assert.Equal(["Livrable: runtime (2 files)", "Livrable: dependencies (1 file)", "Livrable: application (3 files)"], layers.Select(l => l.CreatedBy));
        Assert.Equal(["/app/System.Private.CoreLib.dll", "/app/libcoreclr.so"], layers[0].Files.Select(f => f.TargetPath));
        Assert.Equal("/nuget/Newtonsoft.Json.dll", layers[1].Files.Single().SourcePath);
        Assert.Equal(["/app/hello", "/app/hello.deps.json", "/app/hello.dll"], layers[2].Files.Select(f => f.TargetPath));
    }

    [Fact]
    public void EmptyLayersAreOmitted()
    {
        var layers = PublishLayers.Split([App("hello.dll"), App("hello.runtimeconfig.json")], "/app");
        Assert.Equal("Livrable: application (2 files)", Assert.Single(layers).CreatedBy);
        Assert.Empty(PublishLayers.Split([], "/app"));
    }

    [Fact]
    public void TargetPathsUseForwardSlashesUnderTheWorkingDirectory()
    {
        var layers = PublishLayers.Split([App(@"runtimes\linux-x64\native\libe_sqlite3.so"), App("wwwroot/css/site.css")], "/srv/app/");
        Assert.Equal(["/srv/app/runtimes/linux-x64/native/libe_sqlite3.so", "/srv/app/wwwroot/css/site.css"], layers[0].Files.Select(f => f.TargetPath));
        Assert.Equal("/hello.dll", PublishLayers.TargetPath("/", "hello.dll"));
        Assert.Equal("/app/hello.dll", PublishLayers.TargetPath("app", "hello.dll"));
    }

    [Fact]
    public void TheSameRelativePathTwiceKeepsTheLastFile()
    {
        var layers = PublishLayers.Split([new PublishFile("/a/x.json", "x.json"), new PublishFile("/b/x.json", "x.json")], "/app");
        Assert.Equal("/b/x.json", Assert.Single(Assert.Single(layers).Files).SourcePath);
    }

    [Fact]
    public void ARelativePathLeavingTheWorkingDirectoryIsRefused()
    {
        var e = Assert.Throws<LivrableException>(() => PublishLayers.Split([App("../etc/passwd")], "/app"));
        Assert.Equal(DiagnosticCodes.InvalidItem, e.Code);
    }

    [Theory]
    [InlineData(null, null, null, false, false)]                                         // the app's own files
    [InlineData("Newtonsoft.Json", "runtime", null, true, false)]                         // a package's assembly
    [InlineData("SQLitePCLRaw.lib.e_sqlite3", "native", null, true, false)]               // a package's native asset
    [InlineData("Microsoft.NETCore.App.Runtime.linux-x64", "runtime", null, false, true)] // runtime pack (older SDKs)
    [InlineData("Microsoft.AspNetCore.App.Runtime.linux-x64", "native", null, false, true)]
    [InlineData(null, "native", "true", false, true)]                                     // RuntimePackAsset metadata
    public void FilesAreClassifiedFromTheirMetadata(string? packageId, string? assetType, string? runtimePackAsset, bool package, bool runtime)
    {
        var f = PublishFile.FromMetadata("/x", "x", packageId, assetType, runtimePackAsset);
        Assert.Equal(package, f.IsPackageAsset);
        Assert.Equal(runtime, f.IsRuntimePackAsset);
    }
}
