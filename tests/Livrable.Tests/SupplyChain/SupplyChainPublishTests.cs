using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.SupplyChain;

/// <summary>
/// The supply-chain outputs of a real <c>dotnet publish</c> (docs/supply-chain.md), read back with skopeo, umoci,
/// dpkg-query, openssl, python's jsonschema and the tests' own registry reader (<see cref="OciRegistryReader"/>), never
/// with Livrable's code. The base is an image project whose root file system holds this machine's real dpkg status
/// (so <c>dpkg-query --admindir</c> is the oracle for the Debian packages), a distroless <c>status.d</c> record, a Python
/// dist-info and npm packages; the app is a .NET console app with a real NuGet package (Newtonsoft.Json), pushed to
/// the registry with basic auth (whose password must appear nowhere).
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed partial class SupplyChainPublishTests : IDisposable
{
    private static readonly string Schema = Path.Combine(TestRepository.Root, "tests", "Livrable.Tests", "SupplyChain", "spdx-2.3.schema.json");
    private const string BuildArgCanary = "canary-build-arg-7f3a9c";
    private const string SecretCanary = "canary-secret-52be0d";
    private readonly TempDirectory _temp = new();
    private readonly AuthRegistryFixture _registry;

    public SupplyChainPublishTests(AuthRegistryFixture registry)
    {
        _registry = registry;
        SdkProjects.WriteDirectoryBuildFiles(_temp.Path,
            $"<ContainerStateDirectory>{_temp["base-state"]}</ContainerStateDirectory><ContainerIncremental>false</ContainerIncremental>");
        string root = _temp["base", "root"];
        Directory.CreateDirectory(Path.Combine(root, "bin"));
        File.Copy(Tools.Require("busybox"), Path.Combine(root, "bin", "busybox"));
        Directory.CreateDirectory(Path.Combine(root, "var", "lib", "dpkg", "status.d"));
        File.Copy("/var/lib/dpkg/status", Path.Combine(root, "var", "lib", "dpkg", "status"));
        File.WriteAllText(Path.Combine(root, "var", "lib", "dpkg", "status.d", "livrable-probe"),
            "Package: livrable-probe\nVersion: 1:2.0+b1\nArchitecture: amd64\nMaintainer: Nobody <nobody@example.com>\nDescription: a distroless record\n");
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        File.Copy("/etc/os-release", Path.Combine(root, "etc", "os-release"));
        string distInfo = Path.Combine(root, "usr", "lib", "python3", "dist-packages", "Flask_Login-0.6.3.dist-info");
        Directory.CreateDirectory(distInfo);
        File.WriteAllText(Path.Combine(distInfo, "METADATA"), "Metadata-Version: 2.1\nName: Flask_Login\nVersion: 0.6.3\nLicense: MIT\n\nUser session management.\n");
        Directory.CreateDirectory(Path.Combine(root, "srv", "node_modules", "left-pad"));
        File.WriteAllText(Path.Combine(root, "srv", "node_modules", "left-pad", "package.json"), """{"name":"left-pad","version":"1.3.0","license":"WTFPL"}""");
        Directory.CreateDirectory(Path.Combine(root, "srv", "node_modules", "@types", "node"));
        File.WriteAllText(Path.Combine(root, "srv", "node_modules", "@types", "node", "package.json"), """{"name":"@types/node","version":"20.1.0","license":"MIT"}""");
        File.WriteAllText(_temp["base", "base.csproj"], $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerTag>v1</ContainerTag>
              </PropertyGroup>
              <ItemGroup>
                <ContainerLayer Include="root" Destination="/" />
              </ItemGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
        Directory.CreateDirectory(_temp["docker"]);
        var (user, password) = _registry.Credentials!.Value;
        File.WriteAllText(_temp["docker", "config.json"],
            "{\"auths\":{\"" + _registry.Registry + "\":{\"auth\":\"" + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")) + "\"}}}");
    }

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_pushed_app_gets_its_metadata_sbom_provenance_referrers_and_signature()
    {
        Directory.CreateDirectory(_temp["app"]);
        File.WriteAllText(_temp["app", "app.csproj"], """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ContainerTag>v1</ContainerTag>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Newtonsoft.Json" Version="13.0.3" />
                <ProjectReference Include="../base/base.csproj" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(_temp["app", "Program.cs"], "System.Console.WriteLine(Newtonsoft.Json.JsonConvert.SerializeObject(new { hello = 1 }));\n");
        await OpenSslAsync("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", _temp["key.pem"]);
        await OpenSslAsync("pkey", "-in", _temp["key.pem"], "-pubout", "-out", _temp["key.pub"]);
        await OpenSslAsync("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", _temp["other.pem"]);
        await OpenSslAsync("pkey", "-in", _temp["other.pem"], "-pubout", "-out", _temp["other.pub"]);

        var first = await PublishAsync("first");
        string reference = $"{_registry.Registry}/app:v1";
        string baseTarball = Regex.Match(first.Stdout, @"Built base:v1 sha256:[0-9a-f]{64} \([^)]*\) -> (\S+)").Groups[1].Value;
        Assert.True(File.Exists(baseTarball), "no base tarball in:\n" + first.Stdout);

        // The metadata file: buildx's keys, the values skopeo sees in the registry.
        using var metadata = JsonDocument.Parse(File.ReadAllBytes(_temp["first", "metadata.json"]));
        var m = metadata.RootElement;
        string digest = m.GetProperty("containerimage.digest").GetString()!;
        var inspect = await Skopeo("inspect", $"docker://{reference}");
        Assert.Equal(JsonDocument.Parse(inspect).RootElement.GetProperty("Digest").GetString(), digest);
        byte[] raw = Encoding.UTF8.GetBytes(await Skopeo("inspect", "--raw", $"docker://{reference}"));
        Assert.Equal(digest, OciRegistryReader.Sha256(raw));
        Assert.Equal(JsonDocument.Parse(raw).RootElement.GetProperty("config").GetProperty("digest").GetString(), m.GetProperty("containerimage.config.digest").GetString());
        Assert.Equal(raw.Length, m.GetProperty("containerimage.descriptor").GetProperty("size").GetInt64());
        Assert.Equal(digest, m.GetProperty("containerimage.descriptor").GetProperty("digest").GetString());
        Assert.Equal(reference, m.GetProperty("image.name").GetString());
        Assert.Equal(digest, File.ReadAllText(_temp["first", "digest.txt"]));
        string baseDigest = await BaseManifestDigestAsync(baseTarball);
        Assert.Contains(m.GetProperty("livrable.base-images").EnumerateArray(), b => b.GetProperty("digest").GetString() == baseDigest);

        // The SBOM: valid SPDX 2.3; the NuGet package with its nuspec license; the Debian packages dpkg-query lists.
        string sbomPath = m.GetProperty("livrable.sbom")[0].GetString()!;
        string provenancePath = m.GetProperty("livrable.provenance").GetString()!;
        await Tools.PythonAsync("import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))", sbomPath, Schema);
        using var sbom = JsonDocument.Parse(File.ReadAllBytes(sbomPath));
        var packages = sbom.RootElement.GetProperty("packages").EnumerateArray().ToList();
        var purls = packages.ToDictionary(p => Uri.UnescapeDataString(p.GetProperty("externalRefs")[0].GetProperty("referenceLocator").GetString()!), p => p);
        var newtonsoft = purls["pkg:nuget/Newtonsoft.Json@13.0.3"];
        Assert.Equal("MIT", newtonsoft.GetProperty("licenseDeclared").GetString());
        Assert.Equal(digest, packages[0].GetProperty("versionInfo").GetString());
        Assert.Equal("CONTAINER", packages[0].GetProperty("primaryPackagePurpose").GetString());
        Assert.Contains("pkg:pypi/flask-login@0.6.3", purls.Keys);
        Assert.Contains("pkg:npm/left-pad@1.3.0", purls.Keys);
        Assert.Contains("pkg:npm/@types/node@20.1.0", purls.Keys);
        Assert.Equal(packages.Count - 1, sbom.RootElement.GetProperty("relationships").EnumerateArray().Count(r => r.GetProperty("relationshipType").GetString() == "CONTAINS"));

        string rootfs = await UnpackAsync(reference);
        string distro = Regex.Match(File.ReadAllText("/etc/os-release"), "(?m)^ID=\"?([^\"\n]+)").Groups[1].Value;
        var dpkg = (await Tools.RunCheckedAsync("dpkg-query", $"--admindir={Path.Combine(rootfs, "var", "lib", "dpkg")}", "-W",
            "-f=${db:Status-Status} ${Package} ${Version} ${Architecture}\n")).Stdout;
        var expected = dpkg.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' '))
            .Where(f => f[0] == "installed").Select(f => $"pkg:deb/{distro}/{f[1]}@{f[2]}?arch={f[3]}").ToHashSet();
        expected.Add($"pkg:deb/{distro}/livrable-probe@1:2.0+b1?arch=amd64");
        Assert.True(expected.Count > 50, dpkg);
        Assert.Equal(expected.Order(), purls.Keys.Where(p => p.StartsWith("pkg:deb/", StringComparison.Ordinal)).Order());

        // The provenance: subject = the pushed digest, the base by digest.
        using var provenance = JsonDocument.Parse(File.ReadAllBytes(provenancePath));
        var statement = provenance.RootElement;
        Assert.Equal("https://in-toto.io/Statement/v1", statement.GetProperty("_type").GetString());
        Assert.Equal("https://slsa.dev/provenance/v1", statement.GetProperty("predicateType").GetString());
        Assert.Equal(digest, "sha256:" + statement.GetProperty("subject")[0].GetProperty("digest").GetProperty("sha256").GetString());
        Assert.Contains(statement.GetProperty("predicate").GetProperty("buildDefinition").GetProperty("resolvedDependencies").EnumerateArray(),
            d => "sha256:" + d.GetProperty("digest").GetProperty("sha256").GetString() == baseDigest);

        // Attached: found through the referrers API or, on Distribution 2.8, the referrers tag; the same bytes as the files.
        using var reader = new OciRegistryReader(_registry.Registry, _registry.Credentials);
        var (referrers, _) = await reader.ReferrersAsync("app", digest);
        var spdx = Assert.Single(referrers, r => r.GetProperty("artifactType").GetString() == "application/spdx+json");
        var intoto = Assert.Single(referrers, r => r.GetProperty("artifactType").GetString() == "application/vnd.in-toto+json");
        Assert.Equal(File.ReadAllBytes(sbomPath), await ArtifactDocumentAsync(reader, spdx.GetProperty("digest").GetString()!, digest));
        Assert.Equal(File.ReadAllBytes(provenancePath), await ArtifactDocumentAsync(reader, intoto.GetProperty("digest").GetString()!, digest));

        // The cosign signature: openssl verifies the payload with the public key, and not with another key.
        var signature = (await reader.ManifestAsync("app", digest.Replace(':', '-') + ".sig"))!.Value;
        var layer = JsonDocument.Parse(signature.Bytes).RootElement.GetProperty("layers")[0];
        Assert.Equal("application/vnd.dev.cosign.simplesigning.v1+json", layer.GetProperty("mediaType").GetString());
        byte[] payload = await reader.BlobAsync("app", layer.GetProperty("digest").GetString()!);
        using (var p = JsonDocument.Parse(payload))
        {
            var critical = p.RootElement.GetProperty("critical");
            Assert.Equal(digest, critical.GetProperty("image").GetProperty("docker-manifest-digest").GetString());
            Assert.Equal($"{_registry.Registry}/app", critical.GetProperty("identity").GetProperty("docker-reference").GetString());
        }
        File.WriteAllBytes(_temp["payload"], payload);
        File.WriteAllBytes(_temp["signature"], Convert.FromBase64String(layer.GetProperty("annotations").GetProperty("dev.cosignproject.cosign/signature").GetString()!));
        var good = await Tools.RunAsync("openssl", ["dgst", "-sha256", "-verify", _temp["key.pub"], "-signature", _temp["signature"], _temp["payload"]]);
        Assert.True(good.ExitCode == 0, good.Stdout + good.Stderr);
        var bad = await Tools.RunAsync("openssl", ["dgst", "-sha256", "-verify", _temp["other.pub"], "-signature", _temp["signature"], _temp["payload"]]);
        Assert.NotEqual(0, bad.ExitCode);

        // No secret anywhere: the registry password, the key's content.
        string keyBody = File.ReadAllLines(_temp["key.pem"]).Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).First();
        AssertNowhere(_registry.Credentials!.Value.Password, first, sbomPath, provenancePath, _temp["first", "metadata.json"]);
        AssertNowhere(keyBody, first, sbomPath, provenancePath, _temp["first", "metadata.json"]);
        string binlog = BinlogText(_temp["first", "publish.binlog"]);
        Assert.DoesNotContain(_registry.Credentials!.Value.Password, binlog, StringComparison.Ordinal);
        Assert.DoesNotContain(keyBody, binlog, StringComparison.Ordinal);

        // Another client's referrer stays listed when Livrable updates the referrers tag again.
        string foreign = await PushForeignReferrerAsync(reader, digest, raw.Length);

        // A second publish from an empty state folder: the same SBOM and provenance, byte for byte; nothing listed twice.
        byte[] sbomBytes = File.ReadAllBytes(sbomPath), provenanceBytes = File.ReadAllBytes(provenancePath);
        var second = await PublishAsync("second");
        using var metadata2 = JsonDocument.Parse(File.ReadAllBytes(_temp["second", "metadata.json"]));
        Assert.Equal(digest, metadata2.RootElement.GetProperty("containerimage.digest").GetString());
        Assert.Equal(sbomBytes, File.ReadAllBytes(metadata2.RootElement.GetProperty("livrable.sbom")[0].GetString()!));
        Assert.Equal(provenanceBytes, File.ReadAllBytes(metadata2.RootElement.GetProperty("livrable.provenance").GetString()!));
        var (after, _) = await reader.ReferrersAsync("app", digest);
        Assert.Single(after, r => r.GetProperty("artifactType").GetString() == "application/spdx+json");
        Assert.Single(after, r => r.GetProperty("artifactType").GetString() == "application/vnd.in-toto+json");
        Assert.Contains(after, r => r.GetProperty("digest").GetString() == foreign);

        // VerifyContainerImage: the signature with the right key, the attestations' subjects, and a rebuild to the same
        // digest; another key is LIV3041.
        // dotnet publish builds Release (PublishRelease); dotnet msbuild must be told, or the rebuild is another app.
        var verified = await VerifyAsync(_temp["key.pub"], "-p:ContainerVerifyRebuild=true", "-p:Configuration=Release");
        Assert.True(verified.ExitCode == 0, verified.Stdout);
        Assert.Contains($"Verified {_registry.Registry}/app@{digest}: 1 signature(s), 2 attestation(s) about it.", verified.Stdout);
        Assert.Contains($"Rebuilt app: {digest}, the pushed digest.", verified.Stdout);
        var refused = await VerifyAsync(_temp["other.pub"]);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("LIV3041", refused.Stdout);
    }

    private Task<ToolResult> VerifyAsync(string publicKey, params string[] properties)
        => Tools.DotnetAsync(_temp.Path, "msbuild", _temp["app", "app.csproj"],
            ["-t:VerifyContainerImage", $"-p:ContainerRegistry={_registry.Registry}", $"-p:ContainerVerifyKey={publicKey}",
             $"-p:ContainerStateDirectory={_temp["verify-state"]}", .. properties],
            new Dictionary<string, string> { ["DOCKER_CONFIG"] = _temp["docker"] });

    [Fact]
    public async Task A_dockerfile_build_redacts_secret_arguments_and_never_writes_a_secret()
    {
        Directory.CreateDirectory(_temp["df"]);
        // ADD of a URL: the provenance names it with the sha256 of what it served.
        byte[] served = "downloaded by ADD\n"u8.ToArray();
        int port = RegistryFixture.FreePort();
        using var listener = new System.Net.HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        _ = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                System.Net.HttpListenerContext context;
                try { context = await listener.GetContextAsync(); }
                catch (Exception e) when (e is System.Net.HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
                context.Response.ContentLength64 = served.Length;
                await context.Response.OutputStream.WriteAsync(served);
                context.Response.Close();
            }
        });
        string url = $"http://127.0.0.1:{port}/data.txt";
        File.WriteAllText(_temp["df", "Dockerfile"], $"""
            FROM base
            ARG API_TOKEN
            ARG MIRROR
            ARG PLAIN
            RUN --mount=type=secret,id=tok ["/bin/busybox", "sh", "-c", "test -s /run/secrets/tok"]
            COPY hello.txt /hello.txt
            ADD {url} /data.txt
            """);
        File.WriteAllText(_temp["df", "hello.txt"], "hello\n");
        File.WriteAllText(_temp["df", "df.csproj"], $"""
            <Project>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.props" />
              <PropertyGroup>
                <ContainerTag>v1</ContainerTag>
              </PropertyGroup>
              <ItemGroup>
                <ContainerNamedContext Include="base" Value="archive:{_temp["base", "base.tar"]}" />
                <ContainerBuildArg Include="API_TOKEN" Value="{BuildArgCanary}" />
                <ContainerBuildArg Include="MIRROR" Value="https://user:{BuildArgCanary}x@mirror.example.com/debian" />
                <ContainerBuildArg Include="PLAIN" Value="visible-value" />
                <ContainerSecret Include="tok" Env="LIVRABLE_TEST_SECRET" />
              </ItemGroup>
              <Import Project="{SdkProjects.SdkDirectory}/Sdk/Sdk.targets" />
            </Project>
            """);
        var baseBuild = await Tools.DotnetAsync(_temp.Path, "publish", _temp["base", "base.csproj"], [$"-p:ContainerArchiveOutputPath={_temp["base", "base.tar"]}"]);
        baseBuild.EnsureSuccess();
        var env = new Dictionary<string, string> { ["LIVRABLE_TEST_SECRET"] = SecretCanary };
        var result = (await Tools.DotnetAsync(_temp.Path, "publish", _temp["df", "df.csproj"],
            // Normal verbosity, the default: a detailed log shows every task parameter, build arguments included (MSBuild's own logging).
            ["-p:ContainerGenerateSbom=true", "-p:ContainerProvenance=true", $"-p:ContainerMetadataFile={_temp["df-meta.json"]}",
             $"-p:ContainerArchiveOutputPath={_temp["out", "df.tar"]}", $"-bl:{_temp["df.binlog"]}"], env)).EnsureSuccess();

        string provenancePath = _temp["out", "df.provenance.json"];
        string sbomPath = _temp["out", "df.spdx.json"];
        Assert.True(File.Exists(sbomPath) && File.Exists(provenancePath), result.Stdout);
        using var provenance = JsonDocument.Parse(File.ReadAllBytes(provenancePath));
        var parameters = provenance.RootElement.GetProperty("predicate").GetProperty("buildDefinition").GetProperty("externalParameters");
        var args = parameters.GetProperty("buildArgs");
        Assert.Equal("[REDACTED]", args.GetProperty("API_TOKEN").GetString());
        Assert.Equal("https://[REDACTED]@mirror.example.com/debian", args.GetProperty("MIRROR").GetString());
        Assert.Equal("visible-value", args.GetProperty("PLAIN").GetString());
        Assert.Equal(OciRegistryReader.Sha256(File.ReadAllBytes(_temp["df", "Dockerfile"])), parameters.GetProperty("dockerfile").GetProperty("digest").GetString());
        string baseDigest = await BaseManifestDigestAsync(_temp["base", "base.tar"]);
        Assert.Contains(provenance.RootElement.GetProperty("predicate").GetProperty("buildDefinition").GetProperty("resolvedDependencies").EnumerateArray(),
            d => "sha256:" + d.GetProperty("digest").GetProperty("sha256").GetString() == baseDigest);
        Assert.Contains(provenance.RootElement.GetProperty("predicate").GetProperty("buildDefinition").GetProperty("resolvedDependencies").EnumerateArray(),
            d => d.GetProperty("uri").GetString() == url && "sha256:" + d.GetProperty("digest").GetProperty("sha256").GetString() == OciRegistryReader.Sha256(served));
        await Tools.PythonAsync("import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))", sbomPath, Schema);

        // The tarball's OCI layout lists both documents beside the image, as artifacts whose subject is it; skopeo
        // still reads the image by its tag.
        string tarball = _temp["out", "df.tar"];
        var index = JsonDocument.Parse((await Tools.RunCheckedAsync("tar", "-xOf", tarball, "index.json")).Stdout).RootElement.GetProperty("manifests").EnumerateArray().ToList();
        string imageDigest = index[0].GetProperty("digest").GetString()!;
        Assert.Equal(imageDigest, JsonDocument.Parse(await Tools.RunCheckedAsync("skopeo", "inspect", $"oci-archive:{tarball}:v1") is var s ? s.Stdout : "").RootElement.GetProperty("Digest").GetString());
        var documents = new List<byte[]>();
        foreach (var entry in index.Skip(1))
        {
            var manifest = JsonDocument.Parse(await TarMemberAsync(tarball, entry.GetProperty("digest").GetString()!)).RootElement;
            Assert.Equal(imageDigest, manifest.GetProperty("subject").GetProperty("digest").GetString());
            documents.Add(Encoding.UTF8.GetBytes(await TarMemberAsync(tarball, manifest.GetProperty("layers")[0].GetProperty("digest").GetString()!)));
        }
        Assert.Equal([File.ReadAllBytes(sbomPath), File.ReadAllBytes(provenancePath)], documents);

        // The canaries: in no artifact, not in the log; the secret not in the binlog either (the build argument is an
        // item of the project file, which a binlog embeds by design, as it does every property and item).
        AssertNowhere(BuildArgCanary, result, sbomPath, provenancePath, _temp["df-meta.json"]);
        AssertNowhere(SecretCanary, result, sbomPath, provenancePath, _temp["df-meta.json"], _temp["out", "df.tar"]);
        Assert.DoesNotContain(SecretCanary, BinlogText(_temp["df.binlog"]), StringComparison.Ordinal);
    }

    /// <summary>A blob of a tarball's OCI layout, read with tar, its digest checked.</summary>
    private static async Task<string> TarMemberAsync(string tarball, string digest)
    {
        string text = (await Tools.RunCheckedAsync("tar", "-xOf", tarball, "blobs/sha256/" + digest["sha256:".Length..])).Stdout;
        Assert.Equal(digest, OciRegistryReader.Sha256(Encoding.UTF8.GetBytes(text)));
        return text;
    }

    private async Task<ToolResult> PublishAsync(string name)
    {
        Directory.CreateDirectory(_temp[name]);
        var result = await Tools.DotnetAsync(_temp.Path, "publish", _temp["app", "app.csproj"],
            ["-v:d", $"-p:ContainerRegistry={_registry.Registry}", "-p:ContainerGenerateSbom=true", "-p:ContainerProvenance=true",
             $"-p:ContainerSigningKey={_temp["key.pem"]}", $"-p:ContainerMetadataFile={_temp[name, "metadata.json"]}",
             $"-p:ContainerDigestFile={_temp[name, "digest.txt"]}", $"-p:ContainerStateDirectory={_temp[name, "state"]}", $"-bl:{_temp[name, "publish.binlog"]}"],
            new Dictionary<string, string> { ["DOCKER_CONFIG"] = _temp["docker"] });
        return result.EnsureSuccess();
    }

    /// <summary>The document layer of the artifact <paramref name="artifact"/>, after checking its manifest names <paramref name="subject"/>.</summary>
    private static async Task<byte[]> ArtifactDocumentAsync(OciRegistryReader reader, string artifact, string subject)
    {
        var manifest = JsonDocument.Parse((await reader.ManifestAsync("app", artifact))!.Value.Bytes).RootElement;
        Assert.Equal(subject, manifest.GetProperty("subject").GetProperty("digest").GetString());
        Assert.Equal("application/vnd.oci.empty.v1+json", manifest.GetProperty("config").GetProperty("mediaType").GetString());
        return await reader.BlobAsync("app", manifest.GetProperty("layers")[0].GetProperty("digest").GetString()!);
    }

    /// <summary>Pushes an artifact of another tool about <paramref name="subject"/> and lists it in the referrers tag, as that tool would.</summary>
    private static async Task<string> PushForeignReferrerAsync(OciRegistryReader reader, string subject, long subjectSize)
    {
        byte[] empty = "{}"u8.ToArray();
        byte[] document = "{\"foreign\":true}"u8.ToArray();
        await reader.PushBlobAsync("app", empty);
        await reader.PushBlobAsync("app", document);
        byte[] manifest = Encoding.UTF8.GetBytes($$$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{{{OciRegistryReader.Sha256(empty)}}}","size":2},"layers":[{"mediaType":"application/vnd.example+json","digest":"{{{OciRegistryReader.Sha256(document)}}}","size":{{{document.Length}}}}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{subject}}}","size":{{{subjectSize}}}}}""");
        string digest = OciRegistryReader.Sha256(manifest);
        await reader.PutManifestAsync("app", digest, manifest, "application/vnd.oci.image.manifest.v1+json");
        string tag = subject.Replace(':', '-');
        var current = (await reader.ManifestAsync("app", tag))!.Value.Bytes;
        var entries = JsonDocument.Parse(current).RootElement.GetProperty("manifests").EnumerateArray().Select(e => e.GetRawText()).ToList();
        entries.Add($$"""{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{digest}}","size":{{manifest.Length}},"artifactType":"application/vnd.example+json"}""");
        byte[] index = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{string.Join(",", entries)}}]}""");
        await reader.PutManifestAsync("app", tag, index, "application/vnd.oci.image.index.v1+json");
        return digest;
    }

    /// <summary>The manifest digest of a tarball's image, from its OCI layout's index.json (read with tar).</summary>
    private static async Task<string> BaseManifestDigestAsync(string tarball)
    {
        var index = (await Tools.RunCheckedAsync("tar", "-xOf", tarball, "index.json")).Stdout;
        return JsonDocument.Parse(index).RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!;
    }

    private async Task<string> UnpackAsync(string reference)
    {
        var (user, password) = _registry.Credentials!.Value;
        await Tools.RunCheckedAsync("skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", $"--src-creds={user}:{password}", $"docker://{reference}", $"oci:{_temp["pulled"]}:v1");
        await Tools.RunCheckedAsync("umoci", "unpack", "--image", $"{_temp["pulled"]}:v1", _temp["bundle"]);
        return _temp["bundle", "rootfs"];
    }

    private async Task<string> Skopeo(params string[] arguments)
    {
        var (user, password) = _registry.Credentials!.Value;
        return (await Tools.RunCheckedAsync("skopeo", [arguments[0], "--tls-verify=false", $"--creds={user}:{password}", .. arguments[1..]])).Stdout;
    }

    private static Task<ToolResult> OpenSslAsync(params string[] arguments) => Tools.RunCheckedAsync("openssl", arguments);

    private static void AssertNowhere(string secret, ToolResult log, params string[] files)
    {
        Assert.DoesNotContain(secret, log.Stdout + log.Stderr, StringComparison.Ordinal);
        foreach (string file in files)
            Assert.False(File.ReadAllBytes(file).AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) >= 0, $"{file} holds the secret");
    }

    /// <summary>A binary log's strings (it is a gzip stream of a binary format whose strings are UTF-8).</summary>
    private static string BinlogText(string path)
    {
        using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        gzip.CopyTo(buffer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
