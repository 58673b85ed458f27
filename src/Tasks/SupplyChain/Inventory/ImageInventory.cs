using System.Text.RegularExpressions;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;

namespace Livrable.SupplyChain.Inventory;

/// <summary>
/// The packages an image's final file system records, read from its layers merged as the layer spec says (a package
/// a later layer removed is gone): dpkg's <c>var/lib/dpkg/status</c> and <c>status.d/</c>, apk's
/// <c>lib/apk/db/installed</c>, Python's <c>*.dist-info/METADATA</c>, npm's <c>node_modules/*/package.json</c>, and the
/// .NET shared frameworks under <c>dotnet/shared/NAME/VERSION/</c> (as their runtime pack's NuGet package).
/// </summary>
public static partial class ImageInventory
{
    private const string DpkgStatus = "/var/lib/dpkg/status";
    private const string DpkgStatusD = "/var/lib/dpkg/status.d";
    private const string ApkInstalled = "/lib/apk/db/installed";
    private const string OsRelease = "/etc/os-release";
    private const string UsrOsRelease = "/usr/lib/os-release";

    /// <summary>Package records larger than this are skipped with a warning (LIV4300): no real database is near it.</summary>
    private const long MaxRecordBytes = 64L << 20;

    /// <summary>
    /// The packages of the image whose layers are <paramref name="layers"/>, sorted by purl. Reads each layer's
    /// entries once (from <paramref name="entryIndexDirectory"/> when it holds them), then only the bytes of the
    /// package records, in one more pass over the layers that hold them; temporary copies go to
    /// <paramref name="tempDirectory"/>, deleted at the end.
    /// </summary>
    public static async Task<IReadOnlyList<SoftwarePackage>> ReadAsync(IReadOnlyList<ILayer> layers, string runtimeIdentifier,
        string? entryIndexDirectory, string tempDirectory, ILogger logger, CancellationToken cancellationToken)
    {
        var index = entryIndexDirectory is null ? null : new LayerEntryIndex(entryIndexDirectory);
        var tree = await FileTree.LoadAsync(layers, Decompression.DefaultMaxBytes, index, cancellationToken).ConfigureAwait(false);
        var records = new List<FileEntry>();
        var packages = new List<SoftwarePackage>();
        foreach (var entry in tree.Enumerate("/"))
        {
            if (entry.Type == TarTypeFlag.Directory)
            {
                if (DotNetFramework().Match(entry.Path) is { Success: true } fx)
                {
                    string id = $"{fx.Groups["name"].Value}.Runtime.{runtimeIdentifier}";
                    string version = fx.Groups["version"].Value;
                    packages.Add(new SoftwarePackage("nuget", id, version, PackageUrl.Create("nuget", null, id, version), "MIT", entry.Path));
                }
                continue;
            }
            if (entry.Type != TarTypeFlag.RegularFile || !IsRecord(entry.Path)) continue;
            if (entry.Size > MaxRecordBytes)
            {
                logger.Warning(DiagnosticCodes.PackageRecordSkipped, $"SBOM: {entry.Path} is {entry.Size} bytes, too large for a package record; its packages are not listed.");
                continue;
            }
            records.Add(entry);
        }
        if (records.Count == 0) return Sorted(packages);

        Directory.CreateDirectory(tempDirectory);
        try
        {
            var readable = await tree.MaterializeAsync(records, tempDirectory, cancellationToken).ConfigureAwait(false);
            var bytes = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var entry in readable)
            {
                if (entry.Open is not { } open) continue;
                await using var stream = await open(cancellationToken).ConfigureAwait(false);
                var copy = new MemoryStream();
                await stream.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
                bytes[entry.Path] = copy.ToArray();
            }
            string distro = "debian";
            if ((bytes.GetValueOrDefault(OsRelease) ?? bytes.GetValueOrDefault(UsrOsRelease)) is { } osRelease
                && PackageDatabases.OsReleaseId(PackageDatabases.Text(osRelease)) is { } id)
                distro = id;
            foreach (var (path, content) in bytes.OrderBy(b => b.Key, StringComparer.Ordinal))
            {
                string text = PackageDatabases.Text(content);
                if (path == DpkgStatus || IsStatusD(path)) packages.AddRange(PackageDatabases.Dpkg(text, distro, path));
                else if (path == ApkInstalled) packages.AddRange(PackageDatabases.Apk(text, distro == "debian" ? "alpine" : distro, path));
                else if (path.EndsWith(".dist-info/METADATA", StringComparison.Ordinal) && PackageDatabases.PythonMetadata(text, path) is { } python) packages.Add(python);
                else if (path.EndsWith("/package.json", StringComparison.Ordinal) && PackageDatabases.NpmPackage(content, path) is { } npm) packages.Add(npm);
            }
        }
        finally
        {
            try { Directory.Delete(tempDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return Sorted(packages);
    }

    /// <summary>One package per purl (a package recorded twice, as a framework folder seen through two links, once), sorted.</summary>
    private static IReadOnlyList<SoftwarePackage> Sorted(IEnumerable<SoftwarePackage> packages)
        => packages.GroupBy(p => p.Purl, StringComparer.Ordinal).Select(g => g.First()).OrderBy(p => p.Purl, StringComparer.Ordinal).ToList();

    private static bool IsRecord(string path)
        => path is DpkgStatus or ApkInstalled or OsRelease or UsrOsRelease
           || IsStatusD(path)
           || path.EndsWith(".dist-info/METADATA", StringComparison.Ordinal)
           || NpmPackageJson().IsMatch(path);

    private static bool IsStatusD(string path)
        => path.StartsWith(DpkgStatusD + "/", StringComparison.Ordinal) && path.IndexOf('/', DpkgStatusD.Length + 1) < 0
           && !path.EndsWith(".md5sums", StringComparison.Ordinal);

    // node_modules/NAME/package.json or node_modules/@SCOPE/NAME/package.json: a package's own manifest, not a file of its.
    [GeneratedRegex(@"/node_modules/(@[^/]+/)?[^/@][^/]*/package\.json$")]
    private static partial Regex NpmPackageJson();

    // .../dotnet/shared/Microsoft.NETCore.App/8.0.11: a shared framework folder.
    [GeneratedRegex(@"/dotnet/shared/(?<name>Microsoft\.[A-Za-z.]+\.App)/(?<version>[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.+-]*)$")]
    private static partial Regex DotNetFramework();
}
