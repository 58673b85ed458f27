using Livrable.Images;

namespace Livrable.SupplyChain;

/// <summary>
/// One finished build as the supply-chain documents see it: what was asked (<see cref="Options"/>, the Dockerfile,
/// its arguments...), what was made (the images, the index) and where it went. Plain values: the build pipeline fills
/// it, this folder knows nothing of the pipeline.
/// </summary>
public sealed record SupplyChainBuild
{
    public required SupplyChainOptions Options { get; init; }
    public required string Repository { get; init; }
    public required IReadOnlyList<string> Tags { get; init; }

    /// <summary>The registry pushed to (<c>host[:port]</c> as resolved), or null.</summary>
    public string? Registry { get; init; }

    /// <summary>The tarball written, or null.</summary>
    public string? ArchivePath { get; init; }

    /// <summary>The local engine loaded into, or null.</summary>
    public string? LocalEngine { get; init; }

    /// <summary>The images built, one per platform, in the index's order.</summary>
    public required IReadOnlyList<IImage> Images { get; init; }

    /// <summary>The index over <see cref="Images"/>, when the build wrote one (its bytes and media type).</summary>
    public (string MediaType, byte[] Bytes)? Index { get; init; }

    /// <summary>Bases and named contexts resolved (<see cref="ResolvedInputs"/>).</summary>
    public IReadOnlyList<ResolvedImage> BaseImages { get; init; } = [];

    /// <summary>The base image as asked, in properties mode.</summary>
    public string? BaseImage { get; init; }

    /// <summary>The Dockerfile's path, in Dockerfile mode.</summary>
    public string? DockerfilePath { get; init; }
    public string? ContextDirectory { get; init; }
    public string? Target { get; init; }
    public IReadOnlyDictionary<string, string> BuildArgs { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> NamedContexts { get; init; } = new Dictionary<string, string>();

    /// <summary>The values of the build's secrets (ContainerSecret), only to make sure none is written anywhere.</summary>
    public IReadOnlyList<string> SecretValues { get; init; } = [];

    /// <summary>ADD URLs the build downloaded, with the digest of what it got.</summary>
    public IReadOnlyList<(string Url, Digest Digest)> Downloads { get; init; } = [];

    public required DateTimeOffset Created { get; init; }
    public required string Format { get; init; }
    public required string LayerCompression { get; init; }

    /// <summary>Where the state folder keeps layer entry lists (<c>cache/trees</c>) and temporary files.</summary>
    public string? EntryIndexDirectory { get; init; }
    public required string TempDirectory { get; init; }

    /// <summary>The manifest or index digest: what the build's tags name.</summary>
    public Digest Digest => Index is { } index ? Digest.Sha256(index.Bytes) : Images[0].Digest;

    /// <summary>The descriptor of <see cref="Digest"/>: its media type and size.</summary>
    public Descriptor Descriptor => Index is { } index
        ? new Descriptor(index.MediaType, Digest.Sha256(index.Bytes), index.Bytes.Length)
        : new Descriptor(Images[0].Manifest.MediaType, Images[0].Digest, Images[0].ManifestBytes.Length);

    /// <summary><c>registry/repository</c>, or the repository alone when nothing was pushed.</summary>
    public string Name => Registry is null ? Repository : $"{Registry}/{Repository}";

    /// <summary>Every reference the tags make: <c>name:tag</c>.</summary>
    public IReadOnlyList<string> References => Tags.Select(t => $"{Name}:{t}").ToList();
}
