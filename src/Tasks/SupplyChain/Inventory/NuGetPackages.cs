using System.Xml;

namespace Livrable.SupplyChain.Inventory;

/// <summary>
/// The NuGet packages of a publish output: every <c>ResolvedFileToPublish</c> with <c>NuGetPackageId</c> and
/// <c>NuGetPackageVersion</c> metadata (the assets file's packages whose files were published, runtime packs included),
/// each with the license its nuspec declares as an expression
/// (https://learn.microsoft.com/nuget/reference/nuspec#license). The nuspec is found in the package folder the file
/// came from (<c>.../id/version/id.nuspec</c> in the global packages folder).
/// </summary>
public static class NuGetPackages
{
    /// <summary>One package per id and version, sorted; <paramref name="files"/> are (id, version, the file's path on disk).</summary>
    public static IReadOnlyList<NuGetPackage> FromPublishFiles(IEnumerable<(string Id, string Version, string Path)> files)
    {
        var packages = new Dictionary<(string, string), NuGetPackage>();
        foreach (var (id, version, path) in files)
        {
            if (id.Length == 0 || version.Length == 0) continue;
            var key = (id.ToLowerInvariant(), version.ToLowerInvariant());
            if (packages.ContainsKey(key)) continue;
            packages[key] = new NuGetPackage(id, version, DeclaredLicense(id, version, path));
        }
        return packages.Values.OrderBy(p => p.Id, StringComparer.OrdinalIgnoreCase).ThenBy(p => p.Version, StringComparer.Ordinal).ToList();
    }

    /// <summary>As an SBOM package: <c>pkg:nuget/ID@VERSION</c>.</summary>
    public static SoftwarePackage ToSoftwarePackage(NuGetPackage package)
        => new("nuget", package.Id, package.Version, PackageUrl.Create("nuget", null, package.Id, package.Version), package.License, "publish");

    /// <summary>The nuspec's <c>&lt;license type="expression"&gt;</c>, looking up from <paramref name="file"/> for the package's folder; null when there is none.</summary>
    private static string? DeclaredLicense(string id, string version, string file)
    {
        try
        {
            for (var dir = new DirectoryInfo(Path.GetDirectoryName(file) ?? "."); dir is not null; dir = dir.Parent)
            {
                if (!dir.Name.Equals(version, StringComparison.OrdinalIgnoreCase)) continue;
                string nuspec = Path.Combine(dir.FullName, id.ToLowerInvariant() + ".nuspec");
                if (!File.Exists(nuspec)) nuspec = Path.Combine(dir.FullName, id + ".nuspec");
                return File.Exists(nuspec) ? ReadLicense(nuspec) : null;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or XmlException) { }
        return null;
    }

    private static string? ReadLicense(string nuspec)
    {
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null, MaxCharactersInDocument = 4 << 20 };
        using var reader = XmlReader.Create(nuspec, settings);
        while (reader.Read())
        {
            if (reader.NodeType != XmlNodeType.Element || reader.LocalName != "license") continue;
            bool expression = reader.GetAttribute("type") == "expression";
            string value = reader.ReadElementContentAsString();
            return expression ? PackageDatabases.License(value) : null;
        }
        return null;
    }
}
