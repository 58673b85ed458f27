using Livrable.Layers;
namespace Livrable.Build;

/// <summary>
/// One file of a <c>dotnet publish</c> output: where it is on disk, where it goes under the working directory, and
/// where it came from (the metadata of MSBuild's <c>ResolvedFileToPublish</c> item, reduced to what the split needs).
/// </summary>
/// <param name="SourcePath">The absolute path of the file on disk.</param>
/// <param name="RelativePath">Its path relative to the publish folder (<c>RelativePath</c> metadata), either slash.</param>
/// <param name="IsPackageAsset">Whether it comes from a NuGet package (<c>NuGetPackageId</c> metadata is set).</param>
/// <param name="IsRuntimePackAsset">Whether it is part of the .NET runtime of a self-contained app (runtime pack content).</param>
public sealed record PublishFile(string SourcePath, string RelativePath, bool IsPackageAsset = false, bool IsRuntimePackAsset = false)
{
    /// <summary>
    /// Classifies a file from its <c>ResolvedFileToPublish</c> metadata: a runtime pack asset has <c>RuntimePackAsset</c>
    /// metadata (or, in older SDKs, a <c>NuGetPackageId</c> of a <c>Microsoft.*.App.Runtime.*</c> pack); a package
    /// asset has any other <c>NuGetPackageId</c>.
    /// </summary>
    public static PublishFile FromMetadata(string sourcePath, string relativePath, string? nuGetPackageId, string? assetType, string? runtimePackAsset)
    {
        bool fromRuntimePack = !string.IsNullOrEmpty(runtimePackAsset)
            || (nuGetPackageId is { Length: > 0 } id && RuntimePackPrefixes.Any(p => id.StartsWith(p, StringComparison.OrdinalIgnoreCase)));
        bool isRuntime = fromRuntimePack && (string.IsNullOrEmpty(assetType)
            || string.Equals(assetType, "runtime", StringComparison.OrdinalIgnoreCase)
            || string.Equals(assetType, "native", StringComparison.OrdinalIgnoreCase)
            || string.Equals(assetType, "resources", StringComparison.OrdinalIgnoreCase));
        return new PublishFile(sourcePath, relativePath, IsPackageAsset: !isRuntime && !string.IsNullOrEmpty(nuGetPackageId), IsRuntimePackAsset: isRuntime);
    }

    // The shared frameworks' runtime packs, as restored for a self-contained publish.
    private static readonly string[] RuntimePackPrefixes =
        ["Microsoft.NETCore.App.Runtime.", "Microsoft.AspNetCore.App.Runtime.", "Microsoft.WindowsDesktop.App.Runtime."];
}

/// <summary>
/// Splits a publish output into the layers that change at different rates, so that editing the app re-pushes only
/// its own small layer: the .NET runtime (self-contained apps only; changes with the SDK), NuGet package assets
/// (change with the lock file), and the application (changes at every edit). This is Jib's split of dependencies,
/// resources and classes, applied to .NET.
/// </summary>
public static class PublishLayers
{
    /// <summary>
    /// Returns the layers, in the order they go on the image (runtime, dependencies, application), omitting empty
    /// ones. Each file goes to <c>workingDirectory/RelativePath</c>. Files are sorted by target path so that the
    /// result does not depend on the order MSBuild listed them in. A relative path given twice keeps its last file,
    /// as the publish copy itself does.
    /// </summary>
    public static IReadOnlyList<FilesLayerSpec> Split(IEnumerable<PublishFile> files, string workingDirectory)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentException.ThrowIfNullOrEmpty(workingDirectory);
        var byTarget = new Dictionary<string, (PublishFile File, int Kind)>(StringComparer.Ordinal);
        foreach (var f in files)
        {
            int kind = f.IsRuntimePackAsset ? 0 : f.IsPackageAsset ? 1 : 2;
            byTarget[TargetPath(workingDirectory, f.RelativePath)] = (f, kind);
        }
        var layers = new List<FilesLayerSpec>();
        for (int kind = 0; kind < LayerNames.Length; kind++)
        {
            var layerFiles = byTarget.Where(e => e.Value.Kind == kind)
                .Select(e => new LayerFile(e.Value.File.SourcePath, e.Key))
                .OrderBy(l => l.TargetPath, StringComparer.Ordinal)
                .ToList();
            if (layerFiles.Count == 0) continue;
            layers.Add(new FilesLayerSpec(layerFiles)
            {
                CreatedBy = $"Livrable: {LayerNames[kind]} ({layerFiles.Count} file{(layerFiles.Count == 1 ? "" : "s")})",
            });
        }
        return layers;
    }

    /// <summary>The absolute image path of <paramref name="relativePath"/> under <paramref name="workingDirectory"/>, with forward slashes.</summary>
    public static string TargetPath(string workingDirectory, string relativePath)
    {
        string dir = workingDirectory.Replace('\\', '/').TrimEnd('/');
        if (dir.Length > 0 && !dir.StartsWith('/')) dir = "/" + dir;
        string rel = relativePath.Replace('\\', '/').TrimStart('/');
        if (rel.Split('/').Any(s => s is ".." or "."))
            throw new Diagnostics.LivrableException(Diagnostics.DiagnosticCodes.InvalidItem,
                $"The publish file '{relativePath}' has a relative path that leaves the working directory.");
        return dir + "/" + rel;
    }

    private static readonly string[] LayerNames = ["runtime", "dependencies", "application"];
}
