using Livrable.Images;
using Livrable.Registry;
using Livrable.Sources;

namespace Livrable.SupplyChain;

/// <summary>A base image (or named context) a build resolved: the name it was given and the manifest it read.</summary>
/// <param name="Name">The name as given (a reference, <c>archive:FILE</c>, <c>oci-layout:DIR</c>).</param>
/// <param name="Digest">The digest of the platform's image manifest the build used.</param>
/// <param name="IndexDigest">The digest of the index it was chosen from, when it came from one in a registry.</param>
/// <param name="Platform">The platform resolved.</param>
/// <param name="Registry">The registry it came from (as resolved), when it came from one.</param>
/// <param name="Repository">Its repository in that registry.</param>
public sealed record ResolvedImage(string Name, Digest Digest, Digest? IndexDigest, Platform Platform, string? Registry, string? Repository);

/// <summary>
/// Records every image a build resolves through the sources it opens (bases, named contexts, <c>COPY --from</c>
/// images), so that the metadata file and the provenance name them by digest. One per build; thread-safe.
/// </summary>
public sealed class BaseImageRecorder
{
    private readonly List<ResolvedImage> _images = [];

    /// <summary>The images resolved so far, each once, in the order first resolved.</summary>
    public IReadOnlyList<ResolvedImage> Images
    {
        get
        {
            lock (_images) return _images.ToList();
        }
    }

    /// <summary><paramref name="source"/>, recording what it resolves under <paramref name="name"/>.</summary>
    public IImageSource Wrap(IImageSource source, string name) => source is ScratchImage ? source : new RecordingSource(source, name, this);

    private void Add(ResolvedImage image)
    {
        lock (_images)
        {
            if (!_images.Any(i => i.Name == image.Name && i.Digest == image.Digest)) _images.Add(image);
        }
    }

    private sealed class RecordingSource(IImageSource inner, string name, BaseImageRecorder recorder) : IImageSource
    {
        public string Description => inner.Description;

        public async Task<IImage> ResolveAsync(Platform platform, CancellationToken cancellationToken)
        {
            var image = await inner.ResolveAsync(platform, cancellationToken).ConfigureAwait(false);
            var remote = image as RegistryImage;
            recorder.Add(new ResolvedImage(name, image.Digest, remote?.IndexDigest, image.Config.Platform, remote?.Endpoint.Registry, remote?.Repository));
            return image;
        }
    }
}
