using System.IO.Compression;
using System.Text;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Registry;

/// <summary>
/// A real <c>dotnet msbuild -t:PublishContainer</c> pushing to the token-flow registry with credentials from the
/// environment, with a detailed console log and a binary log: neither holds the password, its Basic form, or a token.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class RegistryCanaryTests(TokenRegistryFixture registry) : IClassFixture<TokenRegistryFixture>, IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_push_logs_no_secret_in_the_console_or_the_binary_log()
    {
        string dir = _temp["app"];
        Directory.CreateDirectory(dir);
        SdkProjects.WriteDirectoryBuildFiles(dir);
        File.WriteAllText(Path.Combine(dir, "app.csproj"), """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ContainerBaseImage>scratch</ContainerBaseImage>
              </PropertyGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), "System.Console.WriteLine(\"hi\");\n");
        string binlog = _temp["push.binlog"];

        var result = await Tools.DotnetAsync(_temp.Path, "msbuild", Path.Combine(dir, "app.csproj"),
            ["-restore", "-t:PublishContainer", "-v:d", $"-bl:{binlog}", $"-p:ContainerRegistry={registry.Registry}", "-p:ContainerRepository=canary/app", "-p:ContainerImageTags=1"],
            new Dictionary<string, string>
            {
                ["XDG_CACHE_HOME"] = _temp["cache"],
                ["LIVRABLE_REGISTRY_USER"] = registry.Tokens.User,
                ["LIVRABLE_REGISTRY_PASSWORD"] = registry.Tokens.Password,
            });
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains($"Pushed {registry.Registry}/canary/app@sha256:", result.Output);
        Assert.Contains(registry.Tokens.Requests, r => r.Who == registry.Tokens.User);

        // The binary log is a gzip stream of records whose strings are UTF-8 (and some UTF-16).
        byte[] log;
        using (var gzip = new GZipStream(File.OpenRead(binlog), CompressionMode.Decompress))
        using (var copy = new MemoryStream())
        {
            await gzip.CopyToAsync(copy);
            log = copy.ToArray();
        }
        // The search works: what the build did log is found.
        Assert.True(log.AsSpan().IndexOf(Encoding.UTF8.GetBytes("canary/app")) >= 0 || log.AsSpan().IndexOf(Encoding.Unicode.GetBytes("canary/app")) >= 0);
        string basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{registry.Tokens.User}:{registry.Tokens.Password}"));
        foreach (string secret in new[] { registry.Tokens.Password, basic, "Bearer eyJ" })
        {
            Assert.DoesNotContain(secret, result.Output, StringComparison.Ordinal);
            Assert.Equal(-1, log.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)));
            Assert.Equal(-1, log.AsSpan().IndexOf(Encoding.Unicode.GetBytes(secret)));
        }
    }
}
