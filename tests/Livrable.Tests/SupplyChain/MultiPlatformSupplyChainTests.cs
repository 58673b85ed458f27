using System.Text.Json;
using Livrable.Build;
using Livrable.Images;
using Livrable.SupplyChain;
using Livrable.Tests.Infrastructure;
using Xunit;
using Livrable.Layers;

namespace Livrable.Tests.SupplyChain;

/// <summary>
/// A two-platform image pushed with every supply-chain output, driven through the engine (no MSBuild): one SBOM per
/// platform attached to that platform's manifest, one provenance whose subjects are the index and both manifests,
/// a cosign signature per manifest, and the metadata file's per-platform digests; read back with the tests' own reader.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class MultiPlatformSupplyChainTests(RegistryFixture registry) : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task An_index_gets_an_sbom_per_platform_one_provenance_and_a_signature_per_manifest()
    {
        Directory.CreateDirectory(_temp["app", "node_modules", "left-pad"]);
        File.WriteAllText(_temp["app", "node_modules", "left-pad", "package.json"], """{"name":"left-pad","version":"1.3.0"}""");
        await Tools.RunCheckedAsync("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", _temp["key.pem"]);
        var request = new ImageBuildRequest
        {
            BaseImage = "scratch",
            Platform = Platform.FromRuntimeIdentifier("linux-x64"),
            Platforms = [Platform.FromRuntimeIdentifier("linux-x64"), Platform.FromRuntimeIdentifier("linux-arm64")],
            Repository = "supply/multi",
            Tags = ["v1"],
            Registry = registry.Registry,
            StateDirectory = _temp["state"],
            Layers = [new DirectoryLayerSpec(_temp["app"], "/srv") { CreatedBy = "app" }],
            SupplyChain = new SupplyChainOptions
            {
                GenerateSbom = true,
                Provenance = true,
                SigningKeyPath = _temp["key.pem"],
                MetadataFile = _temp["out", "metadata.json"],
                OutputBase = _temp["out", "multi"],
                GitCommit = "0123456789abcdef0123456789abcdef01234567",
                GitRepository = "https://user:token123@git.example.com/team/app.git",
            },
        };
        var result = await ImageBuilder.BuildAsync(request, new RecordingLogger(), CancellationToken.None);
        using var reader = new OciRegistryReader(registry.Registry, null);
        var index = JsonDocument.Parse((await reader.ManifestAsync("supply/multi", "v1"))!.Value.Bytes).RootElement;
        Assert.Equal(result.Digest.ToString(), OciRegistryReader.Sha256((await reader.ManifestAsync("supply/multi", "v1"))!.Value.Bytes));
        var platformDigests = index.GetProperty("manifests").EnumerateArray().Select(m => m.GetProperty("digest").GetString()!).ToList();
        Assert.Equal(2, platformDigests.Count);

        using var metadata = JsonDocument.Parse(File.ReadAllBytes(_temp["out", "metadata.json"]));
        Assert.Equal(result.Digest.ToString(), metadata.RootElement.GetProperty("containerimage.digest").GetString());
        Assert.False(metadata.RootElement.TryGetProperty("containerimage.config.digest", out _));
        Assert.Equal(platformDigests, metadata.RootElement.GetProperty("livrable.platforms").EnumerateArray().Select(p => p.GetProperty("digest").GetString()));

        foreach (var (digest, suffix) in platformDigests.Zip(["linux-amd64", "linux-arm64-v8"]))
        {
            string sbom = _temp["out", $"multi.{suffix}.spdx.json"];
            using var doc = JsonDocument.Parse(File.ReadAllBytes(sbom));
            Assert.Equal(digest, doc.RootElement.GetProperty("packages")[0].GetProperty("versionInfo").GetString());
            var (referrers, _) = await reader.ReferrersAsync("supply/multi", digest);
            Assert.Equal("application/spdx+json", Assert.Single(referrers).GetProperty("artifactType").GetString());
            Assert.NotNull(await reader.ManifestAsync("supply/multi", digest.Replace(':', '-') + ".sig"));
        }
        Assert.NotNull(await reader.ManifestAsync("supply/multi", result.Digest.ToString().Replace(':', '-') + ".sig"));

        using var provenance = JsonDocument.Parse(File.ReadAllBytes(_temp["out", "multi.provenance.json"]));
        var subjects = provenance.RootElement.GetProperty("subject").EnumerateArray().Select(s => "sha256:" + s.GetProperty("digest").GetProperty("sha256").GetString()).ToList();
        Assert.Equal([result.Digest.ToString(), .. platformDigests], subjects);
        var (indexReferrers, _) = await reader.ReferrersAsync("supply/multi", result.Digest.ToString());
        Assert.Equal("application/vnd.in-toto+json", Assert.Single(indexReferrers).GetProperty("artifactType").GetString());
        var source = provenance.RootElement.GetProperty("predicate").GetProperty("buildDefinition").GetProperty("resolvedDependencies")
            .EnumerateArray().Single(d => d.GetProperty("digest").TryGetProperty("gitCommit", out _));
        Assert.Equal("git+https://[REDACTED]@git.example.com/team/app.git", source.GetProperty("uri").GetString());
        Assert.DoesNotContain("token123", File.ReadAllText(_temp["out", "multi.provenance.json"]));
    }
}
