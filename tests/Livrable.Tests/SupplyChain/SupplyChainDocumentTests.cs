using System.Text;
using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.SupplyChain;
using Livrable.SupplyChain.Inventory;
using Livrable.SupplyChain.Referrers;
using Livrable.SupplyChain.Signing;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.SupplyChain;

/// <summary>
/// The pieces of SupplyChain/ one by one: package record parsers against the formats' own rules, package URLs,
/// redaction, the referrers tag's merge, and cosign signatures checked by openssl (RSA here; EC in
/// <see cref="SupplyChainPublishTests"/>).
/// </summary>
public sealed class SupplyChainDocumentTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Dpkg_lists_installed_packages_only_and_follows_continuation_lines()
    {
        const string status = """
            Package: libc6
            Status: install ok installed
            Version: 2.36-9+deb12u9
            Architecture: amd64
            Description: GNU C Library
             Package: not-a-field
             .
             more text

            Package: removed-pkg
            Status: deinstall ok config-files
            Version: 1.0
            Architecture: amd64

            Package: tzdata
            Status: install ok installed
            Version: 2024a-0+deb12u1
            Architecture: all
            """;
        var packages = PackageDatabases.Dpkg(status, "debian", "/var/lib/dpkg/status").ToList();
        Assert.Equal(["pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64", "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all"], packages.Select(p => p.Purl));
        // A distroless status.d record has no Status: it is installed.
        var distroless = PackageDatabases.Dpkg("Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n", "debian", "/var/lib/dpkg/status.d/base").Single();
        Assert.Equal("pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64", distroless.Purl);
        // An epoch's colon is percent-encoded as purl-spec asks of a version.
        Assert.Equal("pkg:deb/debian/x@1%3A2.0?arch=amd64", PackageDatabases.Dpkg("Package: x\nVersion: 1:2.0\nArchitecture: amd64\n", "debian", "s").Single().Purl);
    }

    [Fact]
    public void Apk_python_and_npm_records_become_purls_with_their_declared_licenses()
    {
        var apk = PackageDatabases.Apk("C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\n\nP:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\n", "alpine", "/lib/apk/db/installed").ToList();
        Assert.Equal(["pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64", "pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64"], apk.Select(p => p.Purl));
        Assert.Equal("GPL-2.0-only", apk[1].License);

        var python = PackageDatabases.PythonMetadata("Metadata-Version: 2.1\nName: Zope.Interface\nVersion: 6.0\nLicense: ZPL 2.1 and some prose\n\nbody\n", "m")!;
        Assert.Equal("pkg:pypi/zope-interface@6.0", python.Purl);
        Assert.Null(python.License);
        Assert.Equal("Apache-2.0", PackageDatabases.PythonMetadata("Name: a\nVersion: 1\nLicense-Expression: Apache-2.0\n", "m")!.License);

        var npm = PackageDatabases.NpmPackage("""{"name":"@babel/core","version":"7.24.0","license":"MIT"}"""u8.ToArray(), "p")!;
        Assert.Equal("pkg:npm/%40babel/core@7.24.0", npm.Purl);
        Assert.Null(PackageDatabases.NpmPackage("""{"name":"x"}"""u8.ToArray(), "p"));
        Assert.Null(PackageDatabases.NpmPackage("not json"u8.ToArray(), "p"));
        Assert.Equal("(MIT OR Apache-2.0)", PackageDatabases.License("(MIT OR Apache-2.0)"));
    }

    [Fact]
    public async Task The_inventory_reads_the_final_file_system_and_the_shared_frameworks()
    {
        var store = new Livrable.Store.BlobStore(_temp["store"]);
        var image = await TestImages.BuildAsync(store, [
            new Dictionary<string, string>
            {
                ["var/lib/dpkg/status"] = "Package: libc6\nStatus: install ok installed\nVersion: 2.36\nArchitecture: amd64\n",
                ["lib/apk/db/installed"] = "P:musl\nV:1.2.4-r2\nA:x86_64\n",
                ["etc/os-release"] = "PRETTY_NAME=\"x\"\nID=ubuntu\n",
                ["usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.11/System.Private.CoreLib.dll"] = "x",
                ["usr/lib/python3/site-packages/six-1.16.0.dist-info/METADATA"] = "Name: six\nVersion: 1.16.0\n",
                ["app/node_modules/left-pad/package.json"] = """{"name":"left-pad","version":"1.3.0"}""",
                ["app/node_modules/left-pad/lib/package.json"] = """{"name":"not-a-package","version":"0"}""",
            },
            // A later layer removes the Python package (a whiteout) and the apk database: gone from the final file system.
            new Dictionary<string, string>
            {
                ["usr/lib/python3/site-packages/.wh.six-1.16.0.dist-info"] = "",
                ["lib/apk/db/.wh.installed"] = "",
            },
        ]);
        var packages = await ImageInventory.ReadAsync(image.Layers, "linux-x64", null, _temp["inventory"], NullLogger.Instance, CancellationToken.None);
        Assert.Equal([
            "pkg:deb/ubuntu/libc6@2.36?arch=amd64",
            "pkg:npm/left-pad@1.3.0",
            "pkg:nuget/Microsoft.NETCore.App.Runtime.linux-x64@8.0.11",
        ], packages.Select(p => p.Purl));
        Assert.False(Directory.Exists(_temp["inventory"]));
    }

    [Theory]
    [InlineData("API_TOKEN", true)]
    [InlineData("npm_auth", true)]
    [InlineData("DB_PASSWORD", true)]
    [InlineData("SSH_PRIVATE", true)]
    [InlineData("VERSION", false)]
    [InlineData("MIRROR", false)]
    public void Secret_looking_names_are_redacted(string name, bool secret)
    {
        var redaction = new Redaction(["hunter22"]);
        Assert.Equal(secret ? Redaction.Redacted : "v", redaction.Argument(name, "v"));
        Assert.Equal("https://[REDACTED]@host/path and [REDACTED]", redaction.Text("https://user:pw@host/path and hunter22"));
    }

    [Fact]
    public void The_referrers_tag_index_keeps_other_referrers_and_lists_each_artifact_once()
    {
        var subject = new Descriptor(MediaTypes.OciManifest, Digest.Sha256("image"u8), 5);
        var artifact = new Artifact("application/spdx+json", "{}"u8.ToArray(), subject, new Dictionary<string, string> { ["a"] = "b" });
        byte[] other = Encoding.UTF8.GetBytes("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"DIGEST","size":1,"artifactType":"application/vnd.example","x-unknown":{"kept":true}}],"annotations":{"k":"v"}}""".Replace("DIGEST", Digest.Sha256("x"u8).ToString()));
        byte[] merged = ReferrersPublisher.Merge(ReferrersPublisher.Merge(other, [artifact]), [artifact]);
        var root = JsonDocument.Parse(merged).RootElement;
        var manifests = root.GetProperty("manifests").EnumerateArray().ToList();
        Assert.Equal(2, manifests.Count);
        Assert.True(manifests[0].GetProperty("x-unknown").GetProperty("kept").GetBoolean());
        Assert.Equal("v", root.GetProperty("annotations").GetProperty("k").GetString());
        Assert.Equal(artifact.Digest.ToString(), manifests[1].GetProperty("digest").GetString());
        Assert.Equal("application/spdx+json", manifests[1].GetProperty("artifactType").GetString());
        Assert.Equal("b", manifests[1].GetProperty("annotations").GetProperty("a").GetString());
        Assert.Equal($"sha256-{subject.Digest.Hex}", ReferrersPublisher.TagFor(subject.Digest));
        Assert.Equal(DiagnosticCodes.ReferrersTagNotIndex, Assert.Throws<LivrableException>(() => ReferrersPublisher.Merge("[1]"u8.ToArray(), [artifact])).Code);
    }

    [Fact]
    public async Task An_rsa_key_signs_as_openssl_verifies_and_unusable_keys_are_LIV2400_without_their_content()
    {
        await Tools.RunCheckedAsync("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", _temp["rsa.pem"]);
        await Tools.RunCheckedAsync("openssl", "pkey", "-in", _temp["rsa.pem"], "-pubout", "-out", _temp["rsa.pub"]);
        byte[] payload = CosignSigner.Payload("registry.example.com/app", Digest.Sha256("manifest"u8));
        using (var signer = CosignSigner.Load(_temp["rsa.pem"]))
        {
            File.WriteAllBytes(_temp["payload"], payload);
            File.WriteAllBytes(_temp["sig"], signer.Sign(payload));
        }
        (await Tools.RunCheckedAsync("openssl", "dgst", "-sha256", "-verify", _temp["rsa.pub"], "-signature", _temp["sig"], _temp["payload"])).EnsureSuccess();
        using (var doc = JsonDocument.Parse(payload))
            Assert.Equal("cosign container image signature", doc.RootElement.GetProperty("critical").GetProperty("type").GetString());

        await Tools.RunCheckedAsync("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", _temp["p384.pem"]);
        await Tools.RunCheckedAsync("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:pw", "-out", _temp["encrypted.pem"]);
        await Tools.RunCheckedAsync("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", _temp["rsa1024.pem"]);
        File.WriteAllText(_temp["junk.pem"], "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
        foreach (string name in new[] { "p384.pem", "encrypted.pem", "junk.pem", "missing.pem", "rsa1024.pem", "rsa.pub" })
        {
            var e = Assert.Throws<LivrableException>(() => CosignSigner.Load(_temp[name]));
            Assert.Equal(DiagnosticCodes.SigningKeyUnusable, e.Code);
            Assert.DoesNotContain("bm90IGEga2V5", e.Message);
        }
    }
}
