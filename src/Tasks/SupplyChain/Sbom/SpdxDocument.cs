using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Livrable.Images;
using Livrable.SupplyChain.Inventory;

namespace Livrable.SupplyChain.Sbom;

/// <summary>
/// An SPDX 2.3 JSON document of one image (https://spdx.github.io/spdx-spec/v2.3/): the image is the described
/// package (purpose CONTAINER, its manifest digest as checksum and version, a <c>pkg:oci</c> purl), each package found
/// in it is a package with a <c>purl</c> external reference, and the image <c>CONTAINS</c> each. The same image gives
/// the same bytes: the namespace comes from the digest, the creation time from SOURCE_DATE_EPOCH, and packages are
/// sorted by purl.
/// </summary>
public static class SpdxDocument
{
    /// <summary>The media type of an SPDX JSON document, as the artifact type of its referrer.</summary>
    public const string MediaType = "application/spdx+json";

    /// <summary>
    /// The document for the image <paramref name="digest"/> of <paramref name="repository"/> (pushed to
    /// <paramref name="registry"/> when not null) holding <paramref name="packages"/>.
    /// </summary>
    public static byte[] Create(string repository, string? registry, Digest digest, Platform platform, DateTimeOffset created, IReadOnlyList<SoftwarePackage> packages)
    {
        string name = registry is null ? repository : $"{registry}/{repository}";
        var ids = new List<(SoftwarePackage Package, string Id)>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var package in packages.OrderBy(p => p.Purl, StringComparer.Ordinal))
        {
            string id = $"SPDXRef-Package-{package.Ecosystem}-{SpdxIdPart(package.Name)}-{Hash(package.Purl)}";
            if (used.Add(id)) ids.Add((package, id));
        }
        return Documents.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("spdxVersion", "SPDX-2.3");
            w.WriteString("dataLicense", "CC0-1.0");
            w.WriteString("SPDXID", "SPDXRef-DOCUMENT");
            w.WriteString("name", $"{name}@{digest}");
            w.WriteString("documentNamespace", $"https://spdx.org/spdxdocs/livrable/{PackageUrl.Encode(repository)}-{digest.Hex}");
            w.WriteStartObject("creationInfo");
            w.WriteStartArray("creators");
            w.WriteStringValue($"Tool: Livrable-{Documents.LivrableVersion}");
            w.WriteEndArray();
            w.WriteString("created", Documents.Time(created));
            w.WriteEndObject();
            w.WriteStartArray("documentDescribes");
            w.WriteStringValue("SPDXRef-Image");
            w.WriteEndArray();

            w.WriteStartArray("packages");
            w.WriteStartObject();
            w.WriteString("SPDXID", "SPDXRef-Image");
            w.WriteString("name", name);
            w.WriteString("versionInfo", digest.ToString());
            w.WriteString("downloadLocation", "NOASSERTION");
            w.WriteBoolean("filesAnalyzed", false);
            w.WriteString("primaryPackagePurpose", "CONTAINER");
            w.WriteStartArray("checksums");
            w.WriteStartObject();
            w.WriteString("algorithm", "SHA256");
            w.WriteString("checksumValue", digest.Hex);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteString("licenseConcluded", "NOASSERTION");
            w.WriteString("licenseDeclared", "NOASSERTION");
            w.WriteString("copyrightText", "NOASSERTION");
            WritePurl(w, ImagePurl(repository, registry, digest, platform));
            w.WriteEndObject();
            foreach (var (package, id) in ids)
            {
                w.WriteStartObject();
                w.WriteString("SPDXID", id);
                w.WriteString("name", package.Name);
                w.WriteString("versionInfo", package.Version);
                w.WriteString("downloadLocation", "NOASSERTION");
                w.WriteBoolean("filesAnalyzed", false);
                w.WriteString("primaryPackagePurpose", "LIBRARY");
                w.WriteString("sourceInfo", package.Source == "publish" ? "the project's publish output (NuGet assets)" : $"the image's {package.Source}");
                w.WriteString("licenseConcluded", "NOASSERTION");
                w.WriteString("licenseDeclared", package.License ?? "NOASSERTION");
                w.WriteString("copyrightText", "NOASSERTION");
                WritePurl(w, package.Purl);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            w.WriteStartArray("relationships");
            Relationship(w, "SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image");
            foreach (var (_, id) in ids) Relationship(w, "SPDXRef-Image", "CONTAINS", id);
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary><c>pkg:oci/NAME@DIGEST?arch=...&amp;repository_url=...</c> (purl-spec's oci type: the name is the repository's last part).</summary>
    public static string ImagePurl(string repository, string? registry, Digest digest, Platform platform)
    {
        string last = repository[(repository.LastIndexOf('/') + 1)..];
        var qualifiers = new Dictionary<string, string> { ["arch"] = platform.Architecture, ["os"] = platform.Os };
        if (registry is not null) qualifiers["repository_url"] = $"{registry}/{repository}";
        return PackageUrl.Create("oci", null, last, digest.ToString(), qualifiers);
    }

    private static void WritePurl(Utf8JsonWriter w, string purl)
    {
        w.WriteStartArray("externalRefs");
        w.WriteStartObject();
        w.WriteString("referenceCategory", "PACKAGE-MANAGER");
        w.WriteString("referenceType", "purl");
        w.WriteString("referenceLocator", purl);
        w.WriteEndObject();
        w.WriteEndArray();
    }

    private static void Relationship(Utf8JsonWriter w, string element, string type, string related)
    {
        w.WriteStartObject();
        w.WriteString("spdxElementId", element);
        w.WriteString("relationshipType", type);
        w.WriteString("relatedSpdxElement", related);
        w.WriteEndObject();
    }

    /// <summary>An SPDX id holds letters, digits, <c>.</c> and <c>-</c> only.</summary>
    private static string SpdxIdPart(string value)
    {
        var text = new StringBuilder(value.Length);
        foreach (char c in value) text.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '-');
        return text.ToString();
    }

    private static string Hash(string value) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(value)))[..8].ToLowerInvariant();
}
