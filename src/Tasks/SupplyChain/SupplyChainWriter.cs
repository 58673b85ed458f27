using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;
using Livrable.SupplyChain.Inventory;
using Livrable.SupplyChain.Provenance;
using Livrable.SupplyChain.Referrers;
using Livrable.SupplyChain.Sbom;
using Livrable.SupplyChain.Signing;

namespace Livrable.SupplyChain;

/// <summary>What the supply-chain step wrote: each file's path (null when not asked).</summary>
public sealed record SupplyChainResult(IReadOnlyList<string> SbomPaths, string? ProvenancePath, IReadOnlyList<string> Signatures);

/// <summary>
/// The documents of a build, made before the image is written (they depend only on the image and its inputs), so the
/// tarball can carry them: the SBOM of each image and the provenance, as files and as OCI artifacts about the image.
/// </summary>
public sealed record SupplyChainDocuments(IReadOnlyList<(IImage Image, Artifact Artifact, string Path)> Sboms, (Artifact Artifact, string Path)? Provenance)
{
    /// <summary>Nothing asked.</summary>
    public static SupplyChainDocuments None { get; } = new([], null);

    /// <summary>Every artifact, SBOMs first: what a tarball's OCI layout lists beside the image.</summary>
    public IReadOnlyList<Artifact> Artifacts => [.. Sboms.Select(s => s.Artifact), .. Provenance is { } p ? [p.Artifact] : Array.Empty<Artifact>()];
}

/// <summary>
/// The steps around writing an image: before, the SBOM of each image and the provenance of the build, written beside
/// the tarball (<see cref="PrepareAsync"/>); after, the same documents attached to the pushed image as OCI 1.1
/// referrers, cosign signatures of the pushed manifests, then the metadata and digest files, which name all of it
/// (<see cref="FinishAsync"/>). Runs only what <see cref="SupplyChainOptions"/> asks.
/// </summary>
public static class SupplyChainWriter
{
    /// <summary>Makes and writes the SBOMs and provenance <paramref name="build"/>'s options ask for.</summary>
    /// <exception cref="LivrableException">LIV6050 when a file cannot be written; LIV2400/LIV2401 for a signing key that cannot be used.</exception>
    public static async Task<SupplyChainDocuments> PrepareAsync(SupplyChainBuild build, ILogger logger, CancellationToken cancellationToken)
    {
        var options = build.Options;
        if (!options.Any) return SupplyChainDocuments.None;
        // A key that cannot be used fails before anything is written or pushed.
        if (options.SigningKeyPath is { } keyPath) LoadSigner(build, keyPath).Dispose();
        var redaction = new Redaction(build.SecretValues);
        string outputBase = options.OutputBase ?? (build.ArchivePath is { } archive ? StripTar(archive) : Path.GetFullPath(build.Repository.Replace('/', '-') + "-" + build.Tags[0]));
        var annotations = new Dictionary<string, string> { ["org.opencontainers.image.created"] = Documents.Time(build.Created) };

        var sboms = new List<(IImage, Artifact, string)>();
        if (options.GenerateSbom)
        {
            foreach (var image in build.Images)
            {
                var platform = image.Config.Platform;
                var packages = new List<SoftwarePackage>(options.NuGetPackages.Select(NuGetPackages.ToSoftwarePackage));
                packages.AddRange(await ImageInventory.ReadAsync(image.Layers, RuntimeIdentifier(platform), build.EntryIndexDirectory,
                    Path.Combine(build.TempDirectory, $"sbom-{Guid.NewGuid():N}"), logger, cancellationToken).ConfigureAwait(false));
                var unique = packages.GroupBy(p => p.Purl, StringComparer.Ordinal).Select(g => g.First()).ToList();
                byte[] document = SpdxDocument.Create(build.Repository, build.Registry, image.Digest, platform, build.Created, unique);
                string path = build.Images.Count == 1 ? outputBase + ".spdx.json" : $"{outputBase}.{PlatformSuffix(platform)}.spdx.json";
                await WriteFileAsync(path, document, "SBOM", cancellationToken).ConfigureAwait(false);
                logger.Info($"SBOM: {unique.Count} packages in {image.Digest.Hex[..12]} ({platform}) -> {path}");
                var subject = new Descriptor(image.Manifest.MediaType, image.Digest, image.ManifestBytes.Length);
                sboms.Add((image, new Artifact(SpdxDocument.MediaType, document, subject, annotations), path));
            }
        }

        (Artifact, string)? provenance = null;
        if (options.Provenance)
        {
            byte[] statement = SlsaProvenance.Create(Facts(build, redaction));
            string path = outputBase + ".provenance.json";
            await WriteFileAsync(path, statement, "provenance", cancellationToken).ConfigureAwait(false);
            logger.Info($"Provenance: SLSA v1 of {build.Digest.Hex[..12]} -> {path}");
            var withType = new Dictionary<string, string>(annotations) { ["in-toto.io/predicate-type"] = SlsaProvenance.PredicateType };
            provenance = (new Artifact(SlsaProvenance.MediaType, statement, build.Descriptor, withType), path);
        }
        return new SupplyChainDocuments(sboms, provenance);
    }

    /// <summary>
    /// After the image is written: attaches <paramref name="documents"/> to the pushed image, signs the pushed
    /// manifests, writes the metadata and digest files; <paramref name="registries"/> pushes when the image went to a registry.
    /// </summary>
    /// <exception cref="LivrableException">LIV6050 when a file cannot be written; LIV3040 for a referrers tag that is not an index; the registry's errors.</exception>
    public static async Task<SupplyChainResult> FinishAsync(SupplyChainBuild build, SupplyChainDocuments documents, RegistryClient registries, ILogger logger, CancellationToken cancellationToken)
    {
        var options = build.Options;
        if (!options.Any) return new SupplyChainResult([], null, []);
        var signatures = new List<string>();
        if (build.Registry is { } registry)
        {
            foreach (var (image, artifact, _) in documents.Sboms)
                await ReferrersPublisher.PushAsync(registries, registry, build.Repository, image.Digest, [artifact], logger, cancellationToken).ConfigureAwait(false);
            if (documents.Provenance is { } provenance)
                await ReferrersPublisher.PushAsync(registries, registry, build.Repository, build.Digest, [provenance.Artifact], logger, cancellationToken).ConfigureAwait(false);
            if (documents.Artifacts.Count > 0)
                logger.Info($"Attached {documents.Artifacts.Count} artifact(s) to {build.Name}@{build.Digest} as OCI referrers.");
            if (options.SigningKeyPath is { } keyPath)
            {
                using var signer = LoadSigner(build, keyPath);
                var digests = new List<Digest> { build.Digest };
                if (build.Index is not null) digests.AddRange(build.Images.Select(i => i.Digest));
                foreach (var digest in digests)
                {
                    byte[] payload = CosignSigner.Payload(build.Name, digest);
                    var (manifest, blobs) = CosignSigner.SignatureImage(payload, signer.Sign(payload));
                    foreach (var (descriptor, bytes) in blobs)
                        await registries.PushBlobAsync(registry, build.Repository, descriptor, _ => Task.FromResult<Stream>(new MemoryStream(bytes, writable: false)), null, cancellationToken).ConfigureAwait(false);
                    string tag = CosignSigner.TagFor(digest);
                    await registries.PutManifestAsync(registry, build.Repository, tag, MediaTypes.OciManifest, manifest, cancellationToken).ConfigureAwait(false);
                    signatures.Add($"{build.Name}:{tag}");
                    logger.Info($"Signed {build.Name}@{digest} -> {build.Name}:{tag}");
                }
            }
        }

        var result = new SupplyChainResult(documents.Sboms.Select(s => s.Path).ToList(), documents.Provenance?.Path, signatures);
        if (options.MetadataFile is { } metadataPath)
            await WriteFileAsync(Path.GetFullPath(metadataPath), MetadataFile.Create(build, result), "metadata", cancellationToken).ConfigureAwait(false);
        if (options.DigestFile is { } digestPath)
            await WriteFileAsync(Path.GetFullPath(digestPath), System.Text.Encoding.UTF8.GetBytes(build.Digest.ToString()), "digest", cancellationToken).ConfigureAwait(false);
        return result;
    }

    private static CosignSigner LoadSigner(SupplyChainBuild build, string keyPath)
    {
        if (build.Registry is null)
            throw new LivrableException(DiagnosticCodes.SigningNeedsRegistry,
                "ContainerSigningKey signs pushed manifests: set ContainerRegistry too (a tarball or a local engine has no place for cosign's signature).");
        return CosignSigner.Load(Path.GetFullPath(keyPath));
    }

    /// <summary>What the provenance says: the subjects, the parameters (redacted), the dependencies by digest.</summary>
    internal static ProvenanceFacts Facts(SupplyChainBuild build, Redaction redaction)
    {
        var subjects = new List<ProvenanceSubject> { new(build.Name, build.Digest) };
        if (build.Index is not null) subjects.AddRange(build.Images.Select(i => new ProvenanceSubject($"{build.Name}@{i.Config.Platform}", i.Digest)));

        var external = new List<KeyValuePair<string, object>>();
        void Add(string name, object? value)
        {
            if (value is not null) external.Add(new(name, value));
        }
        Add("project", build.Options.Project is { } project ? redaction.Text(Path.GetFileName(project)) : null);
        Add("repository", build.Repository);
        Add("tags", build.Tags.Select(redaction.Text).ToList());
        Add("platforms", build.Images.Select(i => i.Config.Platform.ToString()).ToList());
        Add("baseImage", build.BaseImage is { } baseImage ? redaction.Text(SourceName(baseImage)) : null);
        if (build.DockerfilePath is { } dockerfile)
        {
            string shown = build.ContextDirectory is { } context && Path.GetRelativePath(context, dockerfile) is var relative && !relative.StartsWith("..", StringComparison.Ordinal)
                ? relative.Replace('\\', '/') : Path.GetFileName(dockerfile);
            var file = new List<KeyValuePair<string, string>> { new("path", shown) };
            if (File.Exists(dockerfile)) file.Add(new("digest", Digest.Sha256(File.ReadAllBytes(dockerfile)).ToString()));
            Add("dockerfile", file);
            Add("target", build.Target);
            Add("buildArgs", build.BuildArgs.Select(a => new KeyValuePair<string, string>(a.Key, redaction.Argument(a.Key, a.Value))).ToList());
            Add("namedContexts", build.NamedContexts.Select(c => new KeyValuePair<string, string>(c.Key, redaction.Text(SourceName(c.Value)))).ToList());
        }
        var internalParameters = new List<KeyValuePair<string, object>>
        {
            new("format", build.Format),
            new("layerCompression", build.LayerCompression),
            new("sourceDateEpoch", build.Created.ToUnixTimeSeconds()),
        };

        var dependencies = new List<ResolvedDependency>();
        foreach (var image in build.BaseImages)
        {
            var digests = new Dictionary<string, string> { [image.Digest.Algorithm] = image.Digest.Hex };
            string uri = image.Registry is { } r && image.Repository is { } repo
                ? PackageUrl.Create("docker", null, $"{r}/{repo}", image.Digest.ToString(), new Dictionary<string, string> { ["platform"] = image.Platform.ToString() }).Replace("%2F", "/", StringComparison.Ordinal)
                : redaction.Text(SourceName(image.Name));
            dependencies.Add(new ResolvedDependency(uri, redaction.Text(SourceName(image.Name)), digests));
        }
        foreach (var (url, digest) in build.Downloads)
            dependencies.Add(new ResolvedDependency(redaction.Text(url), null, new Dictionary<string, string> { [digest.Algorithm] = digest.Hex }));
        if (build.Options.GitCommit is { Length: > 0 } commit)
        {
            string uri = build.Options.GitRepository is { Length: > 0 } url ? "git+" + redaction.Text(url) : "git";
            dependencies.Add(new ResolvedDependency(uri, "source", new Dictionary<string, string> { ["gitCommit"] = commit }));
        }
        return new ProvenanceFacts
        {
            Subjects = subjects,
            ExternalParameters = external,
            InternalParameters = internalParameters,
            ResolvedDependencies = dependencies,
            Created = build.Created,
        };
    }

    /// <summary>An image name as attestations show it: a local tarball or layout by its file name only (a machine's folders are not a build input).</summary>
    internal static string SourceName(string name)
    {
        foreach (string prefix in new[] { "archive:", "docker-archive:", "oci-archive:", "oci-layout:" })
            if (name.StartsWith(prefix, StringComparison.Ordinal))
                return prefix + Path.GetFileName(name[prefix.Length..].TrimEnd('/', '\\'));
        return Path.IsPathRooted(name) ? Path.GetFileName(name.TrimEnd('/', '\\')) : name;
    }

    private static string StripTar(string path) => path.EndsWith(".tar", StringComparison.OrdinalIgnoreCase) ? path[..^4] : path;

    private static string PlatformSuffix(Platform platform) => platform.ToString().Replace('/', '-');

    /// <summary>The .NET runtime identifier of a platform, for the runtime pack's package id (<c>linux-x64</c>).</summary>
    internal static string RuntimeIdentifier(Platform platform) => $"{platform.Os}-" + platform.Architecture switch
    {
        "amd64" => "x64",
        "386" => "x86",
        var other => other,
    };

    /// <summary>Writes a file whole (a temporary file renamed over it); LIV6050 when it cannot.</summary>
    internal static async Task WriteFileAsync(string path, byte[] bytes, string what, CancellationToken cancellationToken)
    {
        string temp = $"{path}.tmp-{Guid.NewGuid():N}";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllBytesAsync(temp, bytes, cancellationToken).ConfigureAwait(false);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new LivrableException(DiagnosticCodes.SupplyChainWriteFailed, $"The {what} file '{path}' cannot be written: {e.Message}", inner: e);
        }
    }
}

/// <summary>
/// The metadata file (ContainerMetadataFile): buildx's <c>--metadata-file</c> keys, so a CI step written for
/// <c>docker buildx build</c> reads it unchanged (<c>containerimage.digest</c>, <c>containerimage.config.digest</c>,
/// <c>containerimage.descriptor</c>, <c>image.name</c> as the comma-joined references), and Livrable's own under
/// <c>livrable.</c>: each platform's image of an index, the bases by digest, the tarball, the SBOM, provenance and
/// signature references.
/// </summary>
public static class MetadataFile
{
    /// <summary>The document for <paramref name="build"/>.</summary>
    public static byte[] Create(SupplyChainBuild build, SupplyChainResult result) => Documents.Write(w =>
    {
        w.WriteStartObject();
        if (build.Index is null) w.WriteString("containerimage.config.digest", build.Images[0].Manifest.Config.Digest.ToString());
        w.WritePropertyName("containerimage.descriptor");
        build.Descriptor.Write(w);
        w.WriteString("containerimage.digest", build.Digest.ToString());
        w.WriteString("image.name", string.Join(",", build.References));
        if (build.ArchivePath is { } archive) w.WriteString("livrable.archive", archive);
        w.WriteStartArray("livrable.base-images");
        foreach (var image in build.BaseImages)
        {
            w.WriteStartObject();
            w.WriteString("name", SupplyChainWriter.SourceName(image.Name));
            w.WriteString("digest", image.Digest.ToString());
            if (image.IndexDigest is { } index) w.WriteString("index-digest", index.ToString());
            w.WriteString("platform", image.Platform.ToString());
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (build.Index is not null)
        {
            w.WriteStartArray("livrable.platforms");
            foreach (var image in build.Images)
            {
                w.WriteStartObject();
                w.WriteString("platform", image.Config.Platform.ToString());
                w.WriteString("digest", image.Digest.ToString());
                w.WriteString("config-digest", image.Manifest.Config.Digest.ToString());
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (build.Registry is not null) w.WriteString("livrable.pushed", $"{build.Name}@{build.Digest}");
        if (result.SbomPaths.Count > 0)
        {
            w.WriteStartArray("livrable.sbom");
            foreach (string path in result.SbomPaths) w.WriteStringValue(path);
            w.WriteEndArray();
        }
        if (result.ProvenancePath is { } provenance) w.WriteString("livrable.provenance", provenance);
        if (result.Signatures.Count > 0)
        {
            w.WriteStartArray("livrable.signatures");
            foreach (string signature in result.Signatures) w.WriteStringValue(signature);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    });
}
