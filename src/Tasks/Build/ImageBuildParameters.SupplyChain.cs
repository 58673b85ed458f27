using Livrable.SupplyChain;
using Livrable.SupplyChain.Inventory;

namespace Livrable.Build;

// The supply-chain parameters (ContainerMetadataFile, ContainerDigestFile, ContainerGenerateSbom, ContainerProvenance,
// ContainerSigningKey) and their mapping to SupplyChainOptions; see ../SupplyChain/README.md.
public sealed partial class ImageBuildParameters
{
    /// <summary>ContainerMetadataFile: where to write buildx's metadata-file JSON.</summary>
    public string? MetadataFile { get; set; }

    /// <summary>ContainerDigestFile: where to write the digest alone (as <c>--iidfile</c>).</summary>
    public string? DigestFile { get; set; }

    /// <summary>ContainerGenerateSbom: write (and attach) an SPDX 2.3 SBOM.</summary>
    public bool GenerateSbom { get; set; }

    /// <summary>ContainerProvenance: write (and attach) SLSA v1 provenance.</summary>
    public bool Provenance { get; set; }

    /// <summary>ContainerSigningKey: a PEM private key that signs the pushed manifests (cosign's format).</summary>
    public string? SigningKey { get; set; }

    /// <summary>Where the SBOM and provenance go, without extension (the targets put them beside the tarball).</summary>
    public string? SupplyChainOutputBase { get; set; }

    /// <summary>The project file (only its name is shown), the git commit (SourceRevisionId) and repository URL, for the provenance.</summary>
    public string? ProjectPath { get; set; }
    public string? SourceRevisionId { get; set; }
    public string? RepositoryUrl { get; set; }

    private SupplyChainOptions ToSupplyChainOptions()
    {
        static string? Trim(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
        var options = new SupplyChainOptions
        {
            MetadataFile = Trim(MetadataFile) is { } metadata ? Path.GetFullPath(metadata) : null,
            DigestFile = Trim(DigestFile) is { } digest ? Path.GetFullPath(digest) : null,
            GenerateSbom = GenerateSbom,
            Provenance = Provenance,
            SigningKeyPath = Trim(SigningKey) is { } key ? Path.GetFullPath(key) : null,
            OutputBase = Trim(SupplyChainOutputBase) is { } output ? Path.GetFullPath(output) : null,
            Project = Trim(ProjectPath) is { } project ? Path.GetFileName(project) : null,
            GitCommit = Trim(SourceRevisionId),
            GitRepository = Trim(RepositoryUrl),
        };
        if (!GenerateSbom) return options;
        // The publish files that came from a package (runtime packs too): the packages whose files are in the image.
        var packages = NuGetPackages.FromPublishFiles((PublishFiles ?? [])
            .Select(f => (f.GetMetadata("NuGetPackageId").Trim(), f.GetMetadata("NuGetPackageVersion").Trim(), f.FullPath)));
        return options with { NuGetPackages = packages };
    }
}
