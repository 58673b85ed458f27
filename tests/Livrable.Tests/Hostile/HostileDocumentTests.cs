using System.Text.RegularExpressions;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Hostile;

/// <summary>
/// Broken and hostile image documents in the three file sources (an OCI layout folder, an OCI image tarball, a
/// docker-archive): digests that are not <c>algorithm:hex</c> of the right length, a manifest that is also an index,
/// JSON with duplicate keys or trailing bytes, documents over the size limit. Each one is refused with its code when
/// the base image is resolved, before any layer is read, and nothing is written outside the state folder.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileDocumentTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly Sentinel _sentinel;

    public HostileDocumentTests() => _sentinel = new Sentinel(_temp["outside"]);

    public void Dispose() => _temp.Dispose();

    private const string Hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// <summary>Where the broken document is read from.</summary>
    public enum Source { Layout, OciArchive, DockerArchive }

    public sealed record Case(string Name, Source[] Sources, HostileDocuments.Mutations Mutations, string Code)
    {
        public override string ToString() => Name;
    }

    private static readonly Source[] Oci = [Source.Layout, Source.OciArchive];
    private static readonly Source[] Every = [Source.Layout, Source.OciArchive, Source.DockerArchive];

    /// <summary>Replaces the digest of the first layer descriptor of a manifest.</summary>
    private static string FirstLayerDigest(string manifest, string digest)
        => new Regex("(\"layers\":\\[\\{\"mediaType\":\"[^\"]*\",\"digest\":\")[^\"]*").Replace(manifest, "${1}" + digest, 1);

    private static string IndexDigest(string index, string digest) => new Regex("(\"manifests\":\\[\\{\"mediaType\":\"[^\"]*\",\"digest\":\")[^\"]*").Replace(index, "${1}" + digest, 1);

    private static readonly Case[] All =
    [
        new("index digest too short", Oci, new(Index: i => IndexDigest(i, "sha256:" + Hex[..63])), DiagnosticCodes.InvalidDigest),
        new("index digest too long", Oci, new(Index: i => IndexDigest(i, "sha256:" + Hex + "0")), DiagnosticCodes.InvalidDigest),
        new("index digest in uppercase", Oci, new(Index: i => IndexDigest(i, "sha256:" + Hex.ToUpperInvariant())), DiagnosticCodes.InvalidDigest),
        new("index digest climbing out as a path", Oci, new(Index: i => IndexDigest(i, "sha256:../../../../outside/sentinel.txt")), DiagnosticCodes.InvalidDigest),
        new("index digest of an unknown algorithm", Oci, new(Index: i => IndexDigest(i, "md5:" + Hex[..32])), DiagnosticCodes.InvalidDigest),
        new("index digest without algorithm", Oci, new(Index: i => IndexDigest(i, Hex)), DiagnosticCodes.InvalidDigest),
        new("index digest with a new line", Oci, new(Index: i => IndexDigest(i, "sha256:" + Hex + "\\n")), DiagnosticCodes.InvalidDigest),
        new("manifest layer digest too short", Oci, new(Manifest: m => FirstLayerDigest(m, "sha256:" + Hex[..10])), DiagnosticCodes.InvalidDigest),
        new("manifest layer digest as a path", Oci, new(Manifest: m => FirstLayerDigest(m, "sha256/../../../outside")), DiagnosticCodes.InvalidDigest),
        new("manifest config digest sha512 of sha256 length", Oci, new(Manifest: m => Regex.Replace(m, "(\"config\":\\{\"mediaType\":\"[^\"]*\",\"digest\":\")sha256:", "${1}sha512:")), DiagnosticCodes.InvalidDigest),
        new("config diff id not a digest", Every, new(Config: c => Regex.Replace(c, "\"diff_ids\":\\[\"[^\"]*\"", "\"diff_ids\":[\"sha256:nothex\"")), DiagnosticCodes.InvalidDigest),
        new("manifest with manifests and layers", Oci, new(Manifest: m => m.Replace("\"layers\":", "\"manifests\":[],\"layers\":")), DiagnosticCodes.InvalidImage),
        new("index with layers and manifests", Oci, new(Index: i => i.Replace("\"manifests\":", "\"layers\":[],\"manifests\":")), DiagnosticCodes.InvalidImage),
        new("index.json with a duplicate key", Oci, new(Index: i => i.Replace("{\"schemaVersion\":2,", "{\"schemaVersion\":2,\"schemaVersion\":2,")), DiagnosticCodes.DuplicateJsonKey),
        new("manifest with duplicate layers", Oci, new(Manifest: m => m.Replace("\"layers\":", "\"layers\":[],\"layers\":")), DiagnosticCodes.DuplicateJsonKey),
        new("descriptor with a duplicate digest", Oci, new(Manifest: m => m.Replace("\"config\":{", "\"config\":{\"digest\":\"sha256:" + Hex + "\",")), DiagnosticCodes.DuplicateJsonKey),
        new("config with duplicate diff ids", Every, new(Config: c => c.Replace("\"rootfs\":{", "\"rootfs\":{\"diff_ids\":[],")), DiagnosticCodes.DuplicateJsonKey),
        new("manifest.json with a duplicate key", [Source.DockerArchive], new(DockerManifest: d => d.Replace("[{\"Config\":", "[{\"Layers\":[],\"Config\":")), DiagnosticCodes.DuplicateJsonKey),
        new("index.json with trailing bytes", Oci, new(Index: i => i + "{}"), DiagnosticCodes.InvalidImage),
        new("manifest with trailing bytes", Oci, new(Manifest: m => m + "\n]"), DiagnosticCodes.InvalidImage),
        new("config with trailing bytes", Every, new(Config: c => c + "x"), DiagnosticCodes.InvalidImage),
        new("manifest.json layer name climbing out", [Source.DockerArchive], new(DockerManifest: d => d.Replace("\"Layers\":[\"blobs/sha256/", "\"Layers\":[\"blobs/sha256/../../../../outside/")), DiagnosticCodes.InvalidArchive),
        new("manifest.json config name climbing out", [Source.DockerArchive], new(DockerManifest: d => d.Replace("[{\"Config\":\"blobs/", "[{\"Config\":\"../../outside/blobs/")), DiagnosticCodes.InvalidArchive),
        new("manifest.json with trailing bytes", [Source.DockerArchive], new(DockerManifest: d => d + "[]"), DiagnosticCodes.InvalidImage),
        new("manifest over 4 MiB", Oci, new(Manifest: m => m.Replace("\"layers\":", "\"annotations\":{\"pad\":\"" + new string('x', 4 << 20) + "\"},\"layers\":")), DiagnosticCodes.DocumentTooLarge),
        new("index.json over 4 MiB", Oci, new(Index: i => i + new string(' ', 4 << 20)), DiagnosticCodes.DocumentTooLarge),
        new("manifest.json over 4 MiB", [Source.DockerArchive], new(DockerManifest: d => d + new string(' ', 4 << 20)), DiagnosticCodes.DocumentTooLarge),
    ];

    /// <summary>Each case by name with each source it applies to, so that each is its own test in a runner's list.</summary>
    public static TheoryData<string, Source> Cases()
    {
        var data = new TheoryData<string, Source>();
        foreach (var c in All)
            foreach (var s in c.Sources) data.Add(c.Name, s);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_broken_document_is_refused_with_its_code(string name, Source source)
    {
        var c = All.Single(a => a.Name == name);
        var store = new BlobStore(_temp["state"]);
        var layer = await new HostileTar().File("hello.txt", "hello\n").LayerAsync(store, gzip: true);
        string folder = _temp["image"];
        if (source == Source.DockerArchive) await HostileDocuments.WriteDockerAsync(folder, store, [layer], c.Mutations);
        else await HostileDocuments.WriteLayoutAsync(folder, store, [layer], c.Mutations);
        IImageSource image = source switch
        {
            Source.Layout => new LayoutImage(folder),
            _ => new ArchiveImage(await HostileDocuments.TarAsync(folder, _temp["image.tar"]), null, new BlobStore(_temp["state"])),
        };

        var e = await Assert.ThrowsAsync<LivrableException>(() => image.ResolveAsync(new Platform("linux", "amd64"), CancellationToken.None));

        Assert.Equal(c.Code, e.Code);
        Assert.True(e.Message.Length < 2000, "the message quotes what was wrong, not the whole document");
        _sentinel.AssertUntouched();
    }

    [Theory]
    [InlineData(Source.Layout)]
    [InlineData(Source.OciArchive)]
    [InlineData(Source.DockerArchive)]
    public async Task The_unbroken_documents_are_read(Source source)
    {
        // The oracle for the table: the same documents with no mutation make a valid image.
        var store = new BlobStore(_temp["state"]);
        var layer = await new HostileTar().File("hello.txt", "hello\n").LayerAsync(store, gzip: true);
        string folder = _temp["image"];
        if (source == Source.DockerArchive) await HostileDocuments.WriteDockerAsync(folder, store, [layer]);
        else await HostileDocuments.WriteLayoutAsync(folder, store, [layer]);
        IImageSource image = source == Source.Layout
            ? new LayoutImage(folder)
            : new ArchiveImage(await HostileDocuments.TarAsync(folder, _temp["image.tar"]), null, new BlobStore(_temp["reader"]));

        var resolved = await image.ResolveAsync(new Platform("linux", "amd64"), CancellationToken.None);

        await ImageValidator.ValidateAsync(resolved);
        if (source == Source.Layout)
            await Tools.RunCheckedAsync(Tools.Require("skopeo"), "inspect", "--raw", "oci:" + folder + ":v1");
        else
            await Tools.RunCheckedAsync(Tools.Require("skopeo"), "inspect", (source == Source.OciArchive ? "oci-archive:" : "docker-archive:") + _temp["image.tar"]);
    }

    public static TheoryData<string> BadDigests =>
    [
        "", "sha256", "sha256:", ":" + Hex, "sha256:" + Hex[..63], "sha256:" + Hex + "0", "sha256:" + Hex.ToUpperInvariant(),
        "SHA256:" + Hex, "sha256:" + Hex[..63] + "g", " sha256:" + Hex, "sha256:" + Hex + " ", "sha256:" + Hex + "\n",
        "sha512:" + Hex, "sha384:" + Hex + Hex[..32], "md5:" + Hex[..32], "sha256:../../" + Hex[..58], "sha256:" + Hex[..32] + "/" + Hex[..31],
        "sha256+b64u:" + Hex, "sha256:" + Hex + ":" + Hex,
    ];

    [Theory]
    [MemberData(nameof(BadDigests))]
    public void A_digest_string_that_is_not_algorithm_and_hex_of_the_right_length_is_refused(string value)
    {
        Assert.False(Digest.TryParse(value, out _));
        Assert.Equal(DiagnosticCodes.InvalidDigest, Assert.Throws<LivrableException>(() => Digest.Parse(value)).Code);
    }
}
