namespace Livrable.SupplyChain;

/// <summary>
/// What a build writes about itself besides the image (ContainerMetadataFile, ContainerDigestFile,
/// ContainerGenerateSbom, ContainerProvenance, ContainerSigningKey) and the facts those documents need that the image
/// request does not carry (the NuGet packages of the publish output, the project, the git commit). Nothing is written
/// when every switch is off.
/// </summary>
public sealed record SupplyChainOptions
{
    /// <summary>ContainerMetadataFile: a JSON file with buildx's <c>--metadata-file</c> keys (<see cref="MetadataFile"/>).</summary>
    public string? MetadataFile { get; init; }

    /// <summary>ContainerDigestFile: the image (or index) digest alone, as <c>docker build --iidfile</c> writes it.</summary>
    public string? DigestFile { get; init; }

    /// <summary>ContainerGenerateSbom: an SPDX 2.3 JSON document of the image.</summary>
    public bool GenerateSbom { get; init; }

    /// <summary>ContainerProvenance: an in-toto Statement v1 with a SLSA Provenance v1 predicate.</summary>
    public bool Provenance { get; init; }

    /// <summary>ContainerSigningKey: a PEM private key (PKCS#8 EC P-256 or RSA) that signs each pushed manifest, cosign's way.</summary>
    public string? SigningKeyPath { get; init; }

    /// <summary>
    /// Where the SBOM and provenance files go, without extension: <c>PATH.spdx.json</c>, <c>PATH.provenance.json</c>
    /// (beside the tarball, with its name, when the image is one).
    /// </summary>
    public string? OutputBase { get; init; }

    /// <summary>The NuGet packages whose files the publish output put in the image (runtime packs included).</summary>
    public IReadOnlyList<NuGetPackage> NuGetPackages { get; init; } = [];

    /// <summary>The project file, by its name (never a machine's path): an external parameter of the provenance.</summary>
    public string? Project { get; init; }

    /// <summary>The source's git commit (SourceRevisionId), a resolved dependency of the provenance when known.</summary>
    public string? GitCommit { get; init; }

    /// <summary>The source's repository URL (RepositoryUrl / PrivateRepositoryUrl); credentials in it are redacted.</summary>
    public string? GitRepository { get; init; }

    /// <summary>Whether anything is asked.</summary>
    public bool Any => MetadataFile is not null || DigestFile is not null || GenerateSbom || Provenance || SigningKeyPath is not null;

    /// <summary>Whether documents are attached to the image (in the registry, in the tarball's OCI layout).</summary>
    public bool AnyAttestation => GenerateSbom || Provenance;
}

/// <summary>A NuGet package in the image: id, version, and its license expression when its nuspec declares one.</summary>
public sealed record NuGetPackage(string Id, string Version, string? License);
