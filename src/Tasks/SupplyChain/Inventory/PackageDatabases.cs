using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Livrable.SupplyChain.Inventory;

/// <summary>
/// Parsers of the package records an image's file system holds, each the format its package manager writes: dpkg's
/// status file (deb-control(5) paragraphs; <c>status.d/</c> of distroless images holds one paragraph per file), apk's
/// installed database (one <c>X:value</c> line per field), Python's core metadata (<c>*.dist-info/METADATA</c>, RFC 822
/// headers) and npm's <c>package.json</c>. Each returns the packages it can name and skips what it cannot.
/// </summary>
public static partial class PackageDatabases
{
    /// <summary>
    /// Installed packages of a dpkg status file (<c>Status: install ok installed</c> and the like; not-installed and
    /// config-files records are skipped), as <c>pkg:deb/DISTRO/NAME@VERSION?arch=ARCH</c>.
    /// </summary>
    public static IEnumerable<SoftwarePackage> Dpkg(string text, string distro, string source)
    {
        foreach (var fields in Paragraphs(text, ':'))
        {
            if (!fields.TryGetValue("Package", out var name) || !fields.TryGetValue("Version", out var version)) continue;
            // A status.d file (distroless) has no Status field: what it lists is installed.
            if (fields.TryGetValue("Status", out var status) && status.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() != "installed")
                continue;
            string arch = fields.GetValueOrDefault("Architecture", "");
            var qualifiers = new Dictionary<string, string> { ["arch"] = arch };
            yield return new SoftwarePackage("deb", name, version, PackageUrl.Create("deb", distro, name, version, qualifiers), null, source);
        }
    }

    /// <summary>Packages of apk's <c>lib/apk/db/installed</c>, as <c>pkg:apk/DISTRO/NAME@VERSION?arch=ARCH</c>.</summary>
    public static IEnumerable<SoftwarePackage> Apk(string text, string distro, string source)
    {
        foreach (var fields in Paragraphs(text, ':', apk: true))
        {
            if (!fields.TryGetValue("P", out var name) || !fields.TryGetValue("V", out var version)) continue;
            var qualifiers = new Dictionary<string, string> { ["arch"] = fields.GetValueOrDefault("A", "") };
            yield return new SoftwarePackage("apk", name, version, PackageUrl.Create("apk", distro, name, version, qualifiers), License(fields.GetValueOrDefault("L")), source);
        }
    }

    /// <summary>
    /// A Python distribution from its core metadata (https://packaging.python.org/specifications/core-metadata/), as
    /// <c>pkg:pypi/NAME@VERSION</c> with the name normalized as PEP 503 says (lower case, runs of <c>-_.</c> as <c>-</c>).
    /// </summary>
    public static SoftwarePackage? PythonMetadata(string text, string source)
    {
        var fields = Paragraphs(text, ':').FirstOrDefault();
        if (fields is null || !fields.TryGetValue("Name", out var name) || !fields.TryGetValue("Version", out var version)) return null;
        string normalized = PythonName().Replace(name.ToLowerInvariant(), "-");
        string? license = License(fields.GetValueOrDefault("License-Expression")) ?? License(fields.GetValueOrDefault("License"));
        return new SoftwarePackage("pypi", name, version, PackageUrl.Create("pypi", null, normalized, version), license, source);
    }

    /// <summary>An npm package from its <c>package.json</c>, as <c>pkg:npm/[%40SCOPE/]NAME@VERSION</c>.</summary>
    public static SoftwarePackage? NpmPackage(byte[] json, string source)
    {
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64, AllowTrailingCommas = true });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("version", out var v) || v.ValueKind != JsonValueKind.String) return null;
            string name = n.GetString()!;
            string version = v.GetString()!;
            if (name.Length == 0 || version.Length == 0) return null;
            string? scope = null, bare = name;
            if (name.StartsWith('@') && name.IndexOf('/') is > 1 and var slash)
            {
                scope = name[..slash];
                bare = name[(slash + 1)..];
            }
            string? license = root.TryGetProperty("license", out var l) && l.ValueKind == JsonValueKind.String ? License(l.GetString()) : null;
            return new SoftwarePackage("npm", name, version, PackageUrl.Create("npm", scope, bare, version), license, source);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Paragraphs of <c>Name: value</c> fields separated by blank lines; a line starting with a space or tab continues
    /// the field before it (deb-control(5)). apk's lines are <c>X:value</c> with no space.
    /// </summary>
    internal static IEnumerable<Dictionary<string, string>> Paragraphs(string text, char separator, bool apk = false)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        string? last = null;
        foreach (string raw in text.Replace("\r\n", "\n").Split('\n'))
        {
            if (raw.Length == 0)
            {
                if (fields.Count > 0) yield return fields;
                fields = new Dictionary<string, string>(StringComparer.Ordinal);
                last = null;
                continue;
            }
            if (!apk && raw[0] is ' ' or '\t')
            {
                if (last is not null) fields[last] += "\n" + raw.Trim();
                continue;
            }
            int colon = raw.IndexOf(separator);
            if (colon <= 0) continue;
            last = raw[..colon];
            // The first occurrence wins (a Description body may hold "Name:" lines after a blank continuation).
            fields.TryAdd(last, raw[(colon + 1)..].Trim());
        }
        if (fields.Count > 0) yield return fields;
    }

    /// <summary>A declared license as an SPDX expression when it is one (ids, <c>AND</c>, <c>OR</c>, <c>WITH</c>, parentheses); null otherwise.</summary>
    public static string? License(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        string trimmed = value.Trim();
        return SpdxExpression().IsMatch(trimmed) ? trimmed : null;
    }

    [GeneratedRegex(@"^\(?[A-Za-z0-9][A-Za-z0-9.+-]*\)?( +(AND|OR|WITH) +\(?[A-Za-z0-9][A-Za-z0-9.+-]*\)?)*$")]
    private static partial Regex SpdxExpression();

    [GeneratedRegex("[-_.]+")]
    private static partial Regex PythonName();

    /// <summary>The distro id of <c>/etc/os-release</c> (<c>ID=debian</c>), or null.</summary>
    public static string? OsReleaseId(string text)
    {
        foreach (string line in text.Split('\n'))
        {
            if (!line.StartsWith("ID=", StringComparison.Ordinal)) continue;
            string id = line[3..].Trim().Trim('"', '\'');
            return id.Length > 0 ? id : null;
        }
        return null;
    }

    /// <summary>Decodes a package record as UTF-8, replacing what is not (a damaged record still names most packages).</summary>
    internal static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
