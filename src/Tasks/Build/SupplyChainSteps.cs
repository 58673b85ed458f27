using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;
using Livrable.Store;
using Livrable.SupplyChain;

namespace Livrable.Build;

/// <summary>
/// The pipeline's one hook into SupplyChain/: once the image (or index) is written, the request's supply-chain
/// options are turned into a <see cref="SupplyChainBuild"/> of plain values and handed to <see cref="SupplyChainWriter"/>.
/// </summary>
internal static class SupplyChainSteps
{
    /// <summary>Writes the metadata file, SBOM, provenance and signatures <paramref name="request"/> asks for; nothing when it asks none.</summary>
    public static async Task WriteAsync(ImageBuildRequest request, IReadOnlyList<IImage> images, (string MediaType, byte[] Bytes)? index,
        BaseImageRecorder resolved, BlobStore store, RegistryClient registries, ILogger logger, CancellationToken cancellationToken)
    {
        if (!request.SupplyChain.Any) return;
        var dockerfile = request.Dockerfile;
        var build = new SupplyChainBuild
        {
            Options = request.SupplyChain,
            Repository = request.Repository,
            Tags = request.Tags,
            Registry = request.Registry,
            ArchivePath = request.Registry is null && request.LocalEngine is null ? request.ArchivePath : null,
            LocalEngine = request.LocalEngine,
            Images = images,
            Index = index,
            BaseImages = resolved.Images,
            BaseImage = dockerfile is null && request.PlatformImages.Count == 0 ? request.BaseImage : null,
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
        await SupplyChainWriter.WriteAsync(build, registries, logger, cancellationToken).ConfigureAwait(false);
    }
}
