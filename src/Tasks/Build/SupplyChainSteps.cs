using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;
using Livrable.Store;
using Livrable.SupplyChain;

namespace Livrable.Build;

/// <summary>
/// The pipeline's hooks into SupplyChain/: the request's supply-chain options and the built images as a
/// <see cref="SupplyChainBuild"/> of plain values; before the output, the documents (which a tarball carries); after
/// it, attaching, signing and the metadata file (<see cref="SupplyChainWriter"/>).
/// </summary>
internal static class SupplyChainSteps
{
    /// <summary>The SBOMs and provenance asked for, written beside the output; none when nothing is asked.</summary>
    public static async Task<(SupplyChainBuild? Build, SupplyChainDocuments Documents)> PrepareAsync(ImageBuildRequest request, Recipe recipe, IReadOnlyList<IImage> images,
        (string MediaType, byte[] Bytes)? index, ResolvedInputs resolved, BlobStore store, ILogger logger, CancellationToken cancellationToken)
    {
        if (!request.SupplyChain.Any) return (null, SupplyChainDocuments.None);
        var build = Describe(request, recipe, images, index, resolved, store);
        return (build, await SupplyChainWriter.PrepareAsync(build, logger, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Attaches, signs and writes the metadata file, once the image is written.</summary>
    public static async Task FinishAsync(SupplyChainBuild? build, SupplyChainDocuments documents, RegistryClient registries, ILogger logger, CancellationToken cancellationToken)
    {
        if (build is null) return;
        await SupplyChainWriter.FinishAsync(build, documents, registries, logger, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The documents as a tarball's attachments (its OCI layout lists them beside the image).</summary>
    public static IReadOnlyList<Outputs.Attachment> Attachments(SupplyChainDocuments documents)
        => documents.Artifacts.Select(a => new Outputs.Attachment(a.Descriptor, a.ManifestBytes, a.Blobs)).ToList();

    /// <summary>
    /// The images a multi-platform build resolved, in an order that does not depend on which platform resolved first
    /// (platforms build at the same time): by the index's platform order, then by name and digest.
    /// </summary>
    internal static IReadOnlyList<ResolvedImage> InPlatformOrder(IReadOnlyList<ResolvedImage> resolved, IReadOnlyList<IImage> images)
    {
        var order = images.Select(i => i.Config.Platform).ToList();
        int Rank(Platform p) => order.FindIndex(p.Matches) is var n and >= 0 ? n : order.Count;
        return [.. resolved.OrderBy(r => Rank(r.Platform)).ThenBy(r => r.Name, StringComparer.Ordinal).ThenBy(r => r.Digest.ToString(), StringComparer.Ordinal)];
    }

    private static SupplyChainBuild Describe(ImageBuildRequest request, Recipe recipe, IReadOnlyList<IImage> images, (string MediaType, byte[] Bytes)? index,
        ResolvedInputs resolved, BlobStore store)
    {
        var dockerfile = (recipe as DockerfileRecipe)?.Dockerfile;
        return new SupplyChainBuild
        {
            Options = request.SupplyChain,
            Repository = request.Repository,
            Tags = request.Tags,
            Registry = request.Registry,
            ArchivePath = request.Registry is null && request.LocalEngine is null ? request.ArchivePath : null,
            LocalEngine = request.LocalEngine,
            Images = images,
            Index = index,
            BaseImages = index is null ? resolved.Images : InPlatformOrder(resolved.Images, images),
            Downloads = index is null ? resolved.Downloads : [.. resolved.Downloads.OrderBy(d => d.Url, StringComparer.Ordinal).ThenBy(d => d.Digest.ToString(), StringComparer.Ordinal)],
            BaseImage = (recipe as PropertiesRecipe)?.BaseImage,
            DockerfilePath = dockerfile?.DockerfilePath,
            ContextDirectory = dockerfile?.ContextDirectory,
            Target = dockerfile?.Target,
            BuildArgs = dockerfile?.BuildArgs ?? new Dictionary<string, string>(),
            NamedContexts = dockerfile?.NamedContexts ?? new Dictionary<string, string>(),
            SecretValues = (dockerfile?.Secrets.Values ?? []).Select(s => s.Read()).OfType<byte[]>()
                .Select(b => System.Text.Encoding.UTF8.GetString(b).Trim()).ToList(),
            Created = request.Created,
            Format = request.Format.ToString(),
            LayerCompression = request.LayerCompression.ToString().ToLowerInvariant(),
            EntryIndexDirectory = Path.Combine(store.Root, "cache", "trees"),
            TempDirectory = store.TempDirectory,
        };
    }
}
