namespace Livrable.Tests.Infrastructure;

/// <summary>
/// Livrable.Sdk packed from this repository under a version of its own (<c>0.0.1-test.&lt;random&gt;</c>), restored
/// by the tests as a user restores it: from a feed that a NuGet.config names as the only source. Disposing removes the
/// restored copy from the NuGet packages folder, so the test versions do not pile up there.
/// </summary>
internal sealed class TestPackage : IDisposable
{
    /// <summary>The package's version, unique to this instance.</summary>
    public string Version { get; } = "0.0.1-test." + Guid.NewGuid().ToString("N")[..8];

    /// <summary>
    /// Packs <c>src/Sdk</c> into <paramref name="feed"/> and writes <paramref name="nugetConfig"/> naming that feed;
    /// returns the nupkg's path.
    /// </summary>
    public async Task<string> PackAsync(string feed, string nugetConfig, TimeSpan timeout)
    {
        string repository = TestRepository.Root;
        (await Tools.RunAsync("dotnet", ["pack", Path.Combine(repository, "src", "Sdk"), "-o", feed, $"-p:LivrableVersion={Version}", "-nodeReuse:false"],
            timeout, repository, Tools.DotnetEnvironment)).EnsureSuccess();
        string package = Path.Combine(feed, $"Livrable.Sdk.{Version}.nupkg");
        Xunit.Assert.True(File.Exists(package), "dotnet pack made no Livrable.Sdk nupkg");
        File.WriteAllText(nugetConfig, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="livrable" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        return package;
    }

    public void Dispose()
    {
        string cached = Path.Combine(Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"), "livrable.sdk", Version);
        try { Directory.Delete(cached, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
