namespace Livrable.Tests.Infrastructure;

/// <summary>
/// Livrable.Sdk packed from this repository under a version of the test run's own (<c>0.0.1-test.&lt;random&gt;</c>),
/// restored by the tests as a user restores it: from a feed that a NuGet.config names as the only source.
/// </summary>
/// <remarks>
/// Packed once per test run and copied into each test's feed: a pack takes 45 s here (the task assemblies' ReadyToRun
/// images for every runtime identifier), and thirteen tests that each packed again spent ten minutes of the suite in
/// one serial collection. The restored copy is removed from the NuGet packages folder when the test process ends, not
/// when a test ends (another test may be restoring the same version then). A test about packing itself packs again
/// (<see cref="PackAgainAsync"/>).
/// </remarks>
internal sealed class TestPackage
{
    private static readonly string SharedVersion = "0.0.1-test." + Guid.NewGuid().ToString("N")[..8];
    private static readonly string SharedFeed = Path.Combine(Path.GetTempPath(), "livrable-test-feed-" + SharedVersion);
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static string? _shared;

    static TestPackage() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        Delete(SharedFeed);
        Delete(Path.Combine(Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"), "livrable.sdk", SharedVersion));
    };

    /// <summary>The package's version, the test run's.</summary>
    public string Version => SharedVersion;

    /// <summary>
    /// Puts the test run's package (packed from <c>src/Sdk</c> by the first caller) into <paramref name="feed"/> and
    /// writes <paramref name="nugetConfig"/> naming that feed; returns the nupkg's path.
    /// </summary>
    public async Task<string> PackAsync(string feed, string nugetConfig, TimeSpan timeout)
    {
        string shared;
        await Gate.WaitAsync();
        try
        {
            shared = _shared ??= await PackIntoAsync(SharedFeed, timeout);
        }
        finally
        {
            Gate.Release();
        }
        Directory.CreateDirectory(feed);
        string package = Path.Combine(feed, Path.GetFileName(shared));
        File.Copy(shared, package, overwrite: true);
        WriteNuGetConfig(feed, nugetConfig);
        return package;
    }

    /// <summary>Packs <c>src/Sdk</c> again, into <paramref name="feed"/> (a test of the packing itself); returns the nupkg's path.</summary>
    public async Task<string> PackAgainAsync(string feed, string nugetConfig, TimeSpan timeout)
    {
        await Gate.WaitAsync();
        try
        {
            string package = await PackIntoAsync(feed, timeout);
            WriteNuGetConfig(feed, nugetConfig);
            return package;
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<string> PackIntoAsync(string feed, TimeSpan timeout)
    {
        string repository = TestRepository.Root;
        (await Tools.RunAsync("dotnet", ["pack", Path.Combine(repository, "src", "Sdk"), "-o", feed, $"-p:LivrableVersion={SharedVersion}", "-nodeReuse:false"],
            timeout, repository, Tools.DotnetEnvironment)).EnsureSuccess();
        string package = Path.Combine(feed, $"Livrable.Sdk.{SharedVersion}.nupkg");
        Xunit.Assert.True(File.Exists(package), "dotnet pack made no Livrable.Sdk nupkg");
        return package;
    }

    private static void WriteNuGetConfig(string feed, string nugetConfig) => File.WriteAllText(nugetConfig, $"""
        <?xml version="1.0" encoding="utf-8"?>
        <configuration>
          <packageSources>
            <add key="livrable" value="{feed}" />
          </packageSources>
        </configuration>
        """);

    private static void Delete(string folder)
    {
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
