using System.Formats.Tar;
using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;

namespace Livrable.Sources;

/// <summary>
/// An image in an image tarball: a docker-archive (<c>manifest.json</c>, as <c>docker save</c> writes it), an
/// oci-archive (an OCI image layout in a tar), or both at once (Docker 25+). The tar is indexed once; manifests and
/// configs are read from it directly, and each layer is copied into the <see cref="BlobStore"/>, verified, the first
/// time it is opened.
/// </summary>
/// <remarks>
/// A docker-archive has no manifest, only a config and layer files, so one is made: OCI, config and layers as found.
/// A layer stored uncompressed (<c>docker save</c> before 25) gets the media type
/// <c>application/vnd.oci.image.layer.v1.tar</c> and, as its digest, its diff id (for an uncompressed layer the two are
/// the same bytes' digest; the copy into the store checks it).
/// </remarks>
public sealed class ArchiveImage : IImageSource
{
    private readonly string _path;
    private readonly string? _tag;
    private readonly BlobStore _store;
    private readonly ArchiveKind _kind;

    /// <summary>
    /// The tarball at <paramref name="path"/>; <paramref name="tag"/> picks an image: an OCI ref name (<c>latest</c>),
    /// or a docker <c>repo:tag</c>. Layers are copied into <paramref name="store"/>.
    /// </summary>
    public ArchiveImage(string path, string? tag, BlobStore store)
        : this(path, tag, store, ArchiveKind.Auto)
    {
    }

    internal ArchiveImage(string path, string? tag, BlobStore store, ArchiveKind kind)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(store);
        _path = Path.GetFullPath(path);
        _tag = tag;
        _store = store;
        _kind = kind;
    }

    /// <inheritdoc />
    public string Description => _tag is null ? $"archive:{_path}" : $"archive:{_path}:{_tag}";

    /// <summary>
    /// Indexes the tarball and picks the image for <paramref name="platform"/>: LIV4004 for a malformed tar, LIV4050
    /// when the tag is not there, LIV3005 for another platform.
    /// </summary>
    public async Task<IImage> ResolveAsync(Platform platform, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(platform);
        if (!File.Exists(_path))
            throw new LivrableException(DiagnosticCodes.InputNotFound, $"The image tarball '{_path}' does not exist.");
        var tar = await Task.Run(() => TarIndex.Read(_path), cancellationToken).ConfigureAwait(false);
        bool oci = tar.Contains("oci-layout") && tar.Contains("index.json");
        bool docker = tar.Contains("manifest.json");
        if (_kind == ArchiveKind.Oci && !oci)
            throw new LivrableException(DiagnosticCodes.InvalidArchive, $"'{_path}' is not an oci-archive: it has no 'oci-layout' and 'index.json'.");
        if (_kind == ArchiveKind.Docker && !docker)
            throw new LivrableException(DiagnosticCodes.InvalidArchive, $"'{_path}' is not a docker-archive: it has no 'manifest.json'.");
        if (!oci && !docker)
            throw new LivrableException(DiagnosticCodes.InvalidArchive,
                $"'{_path}' is not an image tarball: it has neither 'manifest.json' (docker save) nor 'oci-layout' and 'index.json' (OCI).");
        bool useOci = _kind == ArchiveKind.Oci || (_kind == ArchiveKind.Auto && oci);
        return useOci
            ? await ResolveOciAsync(tar, platform, cancellationToken).ConfigureAwait(false)
            : await ResolveDockerAsync(tar, platform, cancellationToken).ConfigureAwait(false);
    }

    private async Task<IImage> ResolveOciAsync(TarIndex tar, Platform platform, CancellationToken cancellationToken)
    {
        OciLayout.CheckLayoutFile(tar.ReadAll("oci-layout", OciLayout.MaxManifestSize), Description);
        byte[] index = tar.ReadAll("index.json", OciLayout.MaxManifestSize);
        Task<Stream> OpenBlob(Descriptor d, CancellationToken ct) => Task.FromResult(tar.OpenVerified(BlobName(d.Digest), d, Description));
        return await OciLayout.ResolveAsync(index, _tag, platform, OpenBlob, (d, ct) => OpenLayerAsync(tar, BlobName(d.Digest), d, ct), Description, cancellationToken)
            .ConfigureAwait(false);
    }

    private async Task<IImage> ResolveDockerAsync(TarIndex tar, Platform platform, CancellationToken cancellationToken)
    {
        var entry = PickDockerEntry(tar.ReadAll("manifest.json", OciLayout.MaxManifestSize));
        byte[] config = tar.ReadAll(entry.Config, OciLayout.MaxDocumentSize);
        var diffIds = ImageConfig.Parse(config).DiffIds;
        if (diffIds.Count != entry.Layers.Count)
            throw Descriptor.Invalid($"The image in {Description} has {entry.Layers.Count} layers but its config lists {diffIds.Count} diff ids");

        var layers = new List<Descriptor>();
        var names = new Dictionary<Digest, string>();
        for (int i = 0; i < entry.Layers.Count; i++)
        {
            string name = entry.Layers[i];
            var (mediaType, digest, size) = await DescribeLayerAsync(tar, name, diffIds[i], cancellationToken).ConfigureAwait(false);
            layers.Add(new Descriptor(mediaType, digest, size));
            names.TryAdd(digest, name);
        }
        var manifest = new ImageManifest(MediaTypes.OciManifest, new Descriptor(MediaTypes.OciConfig, Digest.Sha256(config), config.Length), layers);
        return SourcedImage.Create(manifest.ToBytes(), MediaTypes.OciManifest, config, (d, ct) => OpenLayerAsync(tar, names[d.Digest], d, ct), Description)
            .ForPlatform(platform, Description);
    }

    /// <summary>
    /// The descriptor of a docker-archive layer: its digest is in its name when Docker 25+ wrote it
    /// (<c>blobs/sha256/hex</c>); else, uncompressed, it is the diff id; else it is computed.
    /// </summary>
    private async Task<(string MediaType, Digest Digest, long Size)> DescribeLayerAsync(TarIndex tar, string name, Digest diffId, CancellationToken cancellationToken)
    {
        long size = tar.SizeOf(name);
        BlobCompression compression;
        using (var peek = tar.Open(name)) compression = CompressionMagic.Detect(peek);
        string mediaType = compression switch
        {
            BlobCompression.Gzip => MediaTypes.OciLayerGzip,
            BlobCompression.Zstd => MediaTypes.OciLayerZstd,
            _ => MediaTypes.OciLayer,
        };
        if (name.StartsWith("blobs/", StringComparison.Ordinal) && Digest.TryParse(name["blobs/".Length..].Replace('/', ':'), out var named))
            return (mediaType, named, size);
        if (mediaType == MediaTypes.OciLayer) return (mediaType, diffId, size);
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        await using (var s = tar.Open(name))
        {
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await s.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0) hash.AppendData(buffer, 0, read);
        }
        return (mediaType, Digest.FromSha256Hash(hash.GetHashAndReset()), size);
    }

    /// <summary>Copies the layer into the store on first use (verified there), then reads it from the store.</summary>
    private async Task<Stream> OpenLayerAsync(TarIndex tar, string name, Descriptor descriptor, CancellationToken cancellationToken)
    {
        // A stored copy that fails its digest is evicted by the check, and copied again from the archive.
        if (!_store.ContainsIntact(descriptor.Digest, descriptor.Size))
        {
            await using var source = tar.Open(name);
            await _store.PutAsync(source, descriptor.Digest, descriptor.Size, cancellationToken).ConfigureAwait(false);
        }
        return _store.Open(descriptor);
    }

    private static string BlobName(Digest digest) => $"blobs/{digest.Algorithm}/{digest.Hex}";

    private sealed record DockerEntry(string Config, IReadOnlyList<string> RepoTags, IReadOnlyList<string> Layers);

    private DockerEntry PickDockerEntry(byte[] manifestJson)
    {
        var entries = new List<DockerEntry>();
        using (var doc = Json.Parse(manifestJson, $"The manifest.json of {Description}"))
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
                throw Descriptor.Invalid($"The manifest.json of {Description} is not a JSON array");
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Object) throw Descriptor.Invalid($"The manifest.json of {Description} has an entry that is not an object");
                string config = Json.RequiredString(e, "Config", $"An entry of the manifest.json of {Description}");
                entries.Add(new DockerEntry(config, Strings(e, "RepoTags"), Strings(e, "Layers")));
            }
        }
        var candidates = _tag is null ? entries : entries.Where(e => e.RepoTags.Any(t => TagMatches(t, _tag))).ToList();
        var all = string.Join(", ", entries.SelectMany(e => e.RepoTags).Select(t => $"'{t}'"));
        if (candidates.Count == 1) return candidates[0];
        if (candidates.Count == 0)
            throw new LivrableException(DiagnosticCodes.ImageNotInArchive, _tag is null
                ? $"{Description} holds no image."
                : $"{Description} has no image tagged '{_tag}'; it has {(all.Length == 0 ? "no tagged image" : all)}.");
        throw new LivrableException(DiagnosticCodes.ImageNotInArchive,
            $"{Description} holds {candidates.Count} images; name one with ':repo:tag' after the path. It has {all}.");
    }

    /// <summary>
    /// Whether a <c>RepoTags</c> entry answers to <paramref name="wanted"/>: the same string, the same reference once
    /// normalized (<c>ubuntu:22.04</c> is <c>docker.io/library/ubuntu:22.04</c>), or just its tag.
    /// </summary>
    private static bool TagMatches(string repoTag, string wanted)
    {
        if (repoTag == wanted) return true;
        if (!ImageReference.TryParse(repoTag, out var have, out _)) return false;
        if (!wanted.Contains(':') && !wanted.Contains('/')) return have!.Tag == wanted;
        return ImageReference.TryParse(wanted, out var want, out _) && want!.FullName == have!.FullName && (want.Tag ?? "latest") == (have.Tag ?? "latest");
    }

    private static IReadOnlyList<string> Strings(JsonElement e, string name)
        => e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()!).ToList()
            : [];
}

/// <summary>
/// Where each regular file of a tar is: one pass with <see cref="TarReader"/> records the data offset and length of
/// every entry, so any entry can then be read directly with a bounded stream. Links (docker save writes symlinks for
/// layers it already wrote) are followed; names are cleaned as a tar layer's are, and an absolute name or one that
/// climbs out of the archive (<c>../x</c>) is refused.
/// </summary>
internal sealed class TarIndex
{
    private const int MaxLinkHops = 16;

    private readonly string _path;
    private readonly Dictionary<string, (long Offset, long Length)> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _links = new(StringComparer.Ordinal);

    private TarIndex(string path) => _path = path;

    /// <summary>Indexes the tar at <paramref name="path"/>; LIV4004 when it is not one.</summary>
    public static TarIndex Read(string path)
    {
        var index = new TarIndex(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        if (CompressionMagic.Detect(file) == BlobCompression.Gzip)
            throw new LivrableException(DiagnosticCodes.InvalidArchive, $"'{path}' is gzip-compressed; Livrable reads uncompressed image tarballs (gunzip it first).");
        file.Position = 0;
        var tracking = new ReadTrackingStream(file);
        try
        {
            using var reader = TarReading.OpenReader(tracking, leaveOpen: true);
            while (reader.GetNextEntry(copyData: false) is { } entry)
            {
                string name = Normalize(entry.Name, path);
                switch (entry.EntryType)
                {
                    case var type when TarReading.IsRegularFile(type):
                        // The last bytes TarReader read were this entry's header: its data starts right after. (Where
                        // it leaves the position differs between .NET versions; it seeks over data, never reads it.)
                        index._files[name] = (tracking.LastReadEnd, entry.Length);
                        index._links.Remove(name);
                        break;
                    case TarEntryType.SymbolicLink:
                        string dir = name.Contains('/') ? name[..name.LastIndexOf('/')] + "/" : "";
                        index._links[name] = entry.LinkName.StartsWith('/') ? entry.LinkName : dir + entry.LinkName;
                        index._files.Remove(name);
                        break;
                    case TarEntryType.HardLink:
                        index._links[name] = entry.LinkName;
                        index._files.Remove(name);
                        break;
                }
            }
        }
        catch (Exception e) when (TarReading.IsFormatError(e))
        {
            throw TarReading.NotATar(path, e);
        }
        return index;
    }

    /// <summary>Whether the tar has a file (or link to one) named <paramref name="name"/>.</summary>
    public bool Contains(string name) => TryResolve(name, out _);

    /// <summary>The length of the file <paramref name="name"/>.</summary>
    public long SizeOf(string name) => Resolve(name).Length;

    /// <summary>Opens the data of <paramref name="name"/>, no more and no less.</summary>
    public Stream Open(string name)
    {
        var (offset, length) = Resolve(name);
        var file = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        file.Position = offset;
        return new BoundedStream(file, length);
    }

    /// <summary>Opens <paramref name="name"/> as the blob <paramref name="descriptor"/>, checked as it is read.</summary>
    public Stream OpenVerified(string name, Descriptor descriptor, string description)
    {
        if (!TryResolve(name, out _))
            throw new LivrableException(DiagnosticCodes.InvalidArchive, $"{description} has no blob {descriptor.Digest}.");
        return new VerifyingStream(Open(name), descriptor.Digest, descriptor.Size, $"Blob {descriptor.Digest} of {description}");
    }

    /// <summary>Reads a small file whole; LIV4004 when it is missing, LIV4200 when larger than <paramref name="max"/>.</summary>
    public byte[] ReadAll(string name, int max)
    {
        var (_, length) = Resolve(name);
        if (length > max) throw OciLayout.TooLarge($"{TarReading.Shown(name)} in '{_path}'", length, max);
        using var s = Open(name);
        var bytes = new byte[length];
        s.ReadExactly(bytes);
        return bytes;
    }

    private (long Offset, long Length) Resolve(string name)
        => TryResolve(name, out var found) ? found : throw new LivrableException(DiagnosticCodes.InvalidArchive, $"'{_path}' has no file {TarReading.Shown(name)}.");

    private bool TryResolve(string name, out (long Offset, long Length) found)
    {
        // Names asked for (from manifest.json or a digest) and link targets are cleaned as the entries' names were;
        // one that climbs out of the archive leads nowhere.
        if (LayerPath.TryCleanArchiveName(name, out string current))
        {
            for (int hops = 0; hops < MaxLinkHops; hops++)
            {
                if (_files.TryGetValue(current, out found)) return true;
                if (!_links.TryGetValue(current, out var target)) return false;
                if (!LayerPath.TryCleanArchiveName(target, out current)) break;
            }
        }
        found = default;
        return false;
    }

    /// <summary>
    /// An entry's name cleaned by the rule a tar layer's entries follow (<see cref="LayerPath.TryCleanArchiveName"/>);
    /// LIV4004 for an absolute name or one that climbs out of the archive.
    /// </summary>
    private static string Normalize(string name, string path)
    {
        string slashes = name.Replace('\\', '/');
        if (slashes.StartsWith('/') || !LayerPath.TryCleanArchiveName(slashes, out string cleaned))
            throw new LivrableException(DiagnosticCodes.InvalidArchive, $"'{path}' has an entry named {TarReading.Shown(name)}, which points outside the archive; it is refused.");
        return cleaned;
    }

    /// <summary>A seekable pass-through that remembers where the last read ended.</summary>
    private sealed class ReadTrackingStream(Stream inner) : Stream
    {
        public long LastReadEnd { get; private set; }

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            LastReadEnd = inner.Position;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>A read-only window of <c>length</c> bytes onto a stream already positioned at its start.</summary>
    private sealed class BoundedStream(Stream inner, long length) : ReadOnlyStreamBase
    {
        private readonly long _length = length;
        private long _remaining = length;

        public override long Length => _length;
        public override long Position { get => _length - _remaining; set => throw new NotSupportedException(); }

        public override int Read(Span<byte> buffer)
        {
            if (_remaining <= 0 || buffer.IsEmpty) return 0;
            int n = inner.Read(buffer[..(int)Math.Min(buffer.Length, _remaining)]);
            return Took(n);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_remaining <= 0 || buffer.IsEmpty) return 0;
            int n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken).ConfigureAwait(false);
            return Took(n);
        }

        private int Took(int n)
        {
            if (n == 0 && _remaining > 0)
                throw new LivrableException(DiagnosticCodes.InvalidArchive, "The tar archive ends in the middle of an entry.");
            _remaining -= n;
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
