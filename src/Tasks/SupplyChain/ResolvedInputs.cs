using System.Runtime.CompilerServices;
using Livrable.Images;
using Livrable.Registry;
using Livrable.Sources;
using Livrable.Threading;

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
/// Records what a build fetched: every image it resolves through the sources it opens (bases, named contexts,
/// <c>COPY --from</c> images) and every URL ADD downloaded, each by digest, so that the metadata file and the
/// provenance name them. One per build; thread-safe.
/// </summary>
public sealed class ResolvedInputs
{
    private readonly List<ResolvedImage> _images = [];
    private readonly List<(string Url, Digest Digest)> _downloads = [];

    /// <summary>The URLs ADD downloaded and the sha256 of what each gave, each once, in the order downloaded.</summary>
    public IReadOnlyList<(string Url, Digest Digest)> Downloads
    {
        get
        {
            lock (_downloads) return _downloads.ToList();
        }
    }

    /// <summary>Records that <paramref name="url"/> gave bytes of <paramref name="digest"/>.</summary>
    public void Downloaded(Uri url, Digest digest)
    {
        lock (_downloads)
        {
            if (!_downloads.Contains((url.ToString(), digest))) _downloads.Add((url.ToString(), digest));
        }
    }

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

    private sealed class RecordingSource(IImageSource inner, string name, ResolvedInputs recorder) : IImageSource
    {
        public string Description => inner.Description;

        [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
        public async Task<IImage> ResolveAsync(Platform platform, CancellationToken cancellationToken)
        {
            var image = await inner.ResolveAsync(platform, cancellationToken).ConfigureAwait(false);
            var remote = image as RegistryImage;
            recorder.Add(new ResolvedImage(name, image.Digest, remote?.IndexDigest, image.Config.Platform, remote?.Endpoint.Registry, remote?.Repository));
            return image;
        }
    }
}
