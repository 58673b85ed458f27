using System.Text;
using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;

namespace Livrable.Outputs;

/// <summary>
/// Writes an image tarball that is at once a docker-archive (<c>manifest.json</c>, read by <c>docker load</c> of any
/// version and by <c>podman load</c>) and an OCI image layout (<c>oci-layout</c>, <c>index.json</c>, <c>blobs/</c>),
/// as <c>docker save</c> has since Docker 25. The file is written beside the target under a temporary name and
/// renamed over it only once complete, so a failure or cancellation leaves the target as it was.
/// </summary>
public sealed class ArchiveOutput : IImageOutput
{
    private readonly string _path;
    private readonly DateTimeOffset _modificationTime;

    /// <summary>
    /// The tarball at <paramref name="path"/>; every entry gets <paramref name="modificationTime"/> (the build's
    /// SOURCE_DATE_EPOCH, <see cref="Reproducibility.DefaultEpoch"/> when null) so the same image gives the same bytes.
    /// </summary>
    public ArchiveOutput(string path, DateTimeOffset? modificationTime = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _path = path;
        _modificationTime = modificationTime ?? Reproducibility.DefaultEpoch;
    }

    /// <summary>
    /// Writes the tarball and returns its full path. LIV2008 for a bad repository, LIV2002 for a bad tag, LIV6001
    /// when the file cannot be written, LIV4006 when the disk is full, LIV4001 when a blob is not what its descriptor says.
    /// </summary>
    public async Task<string> WriteAsync(IImage image, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        var names = ImageTarball.Names(repository, tags);
        string target = Path.GetFullPath(_path);
        string temp = $"{target}.tmp-{Guid.NewGuid():N}";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await ImageTarball.WriteFileAsync(temp, image, names, _modificationTime, cancellationToken).ConfigureAwait(false);
            File.Move(temp, target, overwrite: true);
            return target;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ImageTarball.WriteFailed(target, e);
        }
        finally
        {
            ImageTarball.TryDelete(temp);
        }
    }
}

/// <summary>The name an image gets in a tarball: Docker's familiar <c>repo:tag</c>, the full name, and the tag.</summary>
internal sealed record TarballName(string RepoTag, string FullName, string Tag);

/// <summary>
/// The bytes of an image tarball, shared by <see cref="ArchiveOutput"/> and <see cref="LocalEngineOutput"/>. Entries
/// come in a fixed order: <c>blobs/</c>, <c>blobs/sha256/</c>, every blob once sorted by digest, then
/// <c>index.json</c>, <c>manifest.json</c>, <c>oci-layout</c>, as Docker 25's <c>docker save</c> orders them.
/// </summary>
internal static class ImageTarball
{
    /// <summary>Checks <paramref name="repository"/> and each tag, and names the image once per distinct tag.</summary>
    public static IReadOnlyList<TarballName> Names(string repository, IReadOnlyList<string> tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        if (!ImageReference.TryParse(repository, out var reference, out string? error))
            throw new LivrableException(DiagnosticCodes.InvalidRepository, $"'{repository}' is not a valid repository: {error}.");
        if (reference!.Tag is not null || reference.Digest is not null)
            throw new LivrableException(DiagnosticCodes.InvalidRepository, $"'{repository}' is not a valid repository: give the tags separately, not in the repository.");
        var names = new List<TarballName>();
        foreach (string tag in tags.Distinct(StringComparer.Ordinal))
        {
            var tagged = reference.WithTag(tag);
            names.Add(new TarballName(tagged.ToString(), $"{tagged.FullName}:{tag}", tag));
        }
        return names;
    }

    /// <summary>Writes the tarball to a new file at <paramref name="path"/> (which must not exist), flushed to disk.</summary>
    public static async Task WriteFileAsync(string path, IImage image, IReadOnlyList<TarballName> names, DateTimeOffset modificationTime, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await WriteAsync(file, image, names, modificationTime, cancellationToken).ConfigureAwait(false);
        await file.FlushAsync(cancellationToken).ConfigureAwait(false);
        file.Flush(flushToDisk: true);
    }

    /// <summary>Writes the tarball to <paramref name="output"/>.</summary>
    public static async Task WriteAsync(Stream output, IImage image, IReadOnlyList<TarballName> names, DateTimeOffset modificationTime, CancellationToken cancellationToken)
    {
        var manifest = image.Manifest;
        if (Digest.Sha256(image.ManifestBytes) != image.Digest)
            throw new LivrableException(DiagnosticCodes.DigestMismatch, $"The image's manifest bytes do not have its digest {image.Digest}.");
        using var configHash = manifest.Config.Digest.CreateHash();
        configHash.AppendData(image.ConfigBytes);
        if (manifest.Config.Digest.WithHash(configHash.GetHashAndReset()) != manifest.Config.Digest || image.ConfigBytes.Length != manifest.Config.Size)
            throw new LivrableException(DiagnosticCodes.DigestMismatch, $"The image's config bytes are not the {manifest.Config.Digest} its manifest gives.");
        if (image.Layers.Count != manifest.Layers.Count)
            throw Descriptor.Invalid($"The image has {image.Layers.Count} layers but its manifest lists {manifest.Layers.Count}");

        // Every blob once, sorted by digest: the order never depends on the image's history.
        var blobs = new SortedDictionary<string, object>(StringComparer.Ordinal)
        {
            [BlobName(image.Digest)] = image.ManifestBytes,
            [BlobName(manifest.Config.Digest)] = image.ConfigBytes,
        };
        foreach (var layer in image.Layers) blobs.TryAdd(BlobName(layer.Descriptor.Digest), layer);

        var tar = new UstarWriter(output, modificationTime);
        await tar.WriteDirectoryAsync("blobs/", cancellationToken).ConfigureAwait(false);
        foreach (string dir in blobs.Keys.Select(k => k[..(k.LastIndexOf('/') + 1)]).Distinct())
            await tar.WriteDirectoryAsync(dir, cancellationToken).ConfigureAwait(false);
        foreach (var (name, blob) in blobs)
        {
            if (blob is byte[] bytes)
            {
                await tar.WriteFileAsync(name, bytes, cancellationToken).ConfigureAwait(false);
                continue;
            }
            var layer = (ILayer)blob;
            await using var content = await layer.OpenAsync(cancellationToken).ConfigureAwait(false);
            await tar.WriteFileAsync(name, content, layer.Descriptor, cancellationToken).ConfigureAwait(false);
        }
        await tar.WriteFileAsync("index.json", IndexJson(image, names), cancellationToken).ConfigureAwait(false);
        await tar.WriteFileAsync("manifest.json", ManifestJson(image, names), cancellationToken).ConfigureAwait(false);
        await tar.WriteFileAsync("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray(), cancellationToken).ConfigureAwait(false);
        await tar.FinishAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One index entry per tag, each named as containerd and the OCI layout spec name images.</summary>
    private static byte[] IndexJson(IImage image, IReadOnlyList<TarballName> names)
    {
        var entry = new Descriptor(image.Manifest.MediaType, image.Digest, image.ManifestBytes.Length);
        var entries = names.Count == 0
            ? [entry]
            : names.Select(n => entry with
            {
                Annotations = new SortedDictionary<string, string>(StringComparer.Ordinal)
                {
                    ["io.containerd.image.name"] = n.FullName,
                    ["org.opencontainers.image.ref.name"] = n.Tag,
                },
            }).ToList();
        return new ImageIndex(MediaTypes.OciIndex, entries).ToBytes();
    }

    /// <summary>docker save's <c>manifest.json</c>: https://github.com/moby/moby/blob/master/image/tarexport/tarexport.go.</summary>
    private static byte[] ManifestJson(IImage image, IReadOnlyList<TarballName> names) => Json.Write(w =>
    {
        w.WriteStartArray();
        w.WriteStartObject();
        w.WriteString("Config", BlobName(image.Manifest.Config.Digest));
        w.WriteStartArray("RepoTags");
        foreach (var n in names) w.WriteStringValue(n.RepoTag);
        w.WriteEndArray();
        w.WriteStartArray("Layers");
        foreach (var l in image.Manifest.Layers) w.WriteStringValue(BlobName(l.Digest));
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndArray();
    });

    private static string BlobName(Digest digest) => $"blobs/{digest.Algorithm}/{digest.Hex}";

    /// <summary>LIV4006 for a full disk, LIV6001 otherwise.</summary>
    public static LivrableException WriteFailed(string target, Exception e)
    {
        // ENOSPC on Linux and macOS, ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL on Windows.
        bool full = (e.HResult & 0xFFFF) is 28 or 112 or 39;
        return full
            ? new LivrableException(DiagnosticCodes.DiskFull, $"The disk is full: could not write the image tarball '{target}'.", inner: e)
            : new LivrableException(DiagnosticCodes.ArchiveWriteFailed, $"Could not write the image tarball '{target}': {e.Message}", inner: e);
    }

    public static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// The smallest tar writer an image tarball needs: POSIX ustar headers written by hand, uid/gid 0, mode 0644 for
/// files and 0755 for folders, one fixed time, no user or group names; a GNU long-name entry for a name over 100
/// bytes (a sha512 blob). Sizes past 8 GiB use the base-256 encoding GNU tar, Go and .NET read.
/// </summary>
internal sealed class UstarWriter(Stream output, DateTimeOffset modificationTime)
{
    private const int Block = 512;
    private readonly long _mtime = Math.Max(0, modificationTime.ToUnixTimeSeconds());
    private readonly byte[] _header = new byte[Block];

    public Task WriteDirectoryAsync(string name, CancellationToken cancellationToken)
        => WriteHeaderAsync(name, 0, (byte)'5', 0b111_101_101, cancellationToken);

    public async Task WriteFileAsync(string name, byte[] content, CancellationToken cancellationToken)
    {
        await WriteHeaderAsync(name, content.Length, (byte)'0', 0b110_100_100, cancellationToken).ConfigureAwait(false);
        await output.WriteAsync(content, cancellationToken).ConfigureAwait(false);
        await PadAsync(content.Length, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Copies exactly <paramref name="descriptor"/>'s size from <paramref name="content"/>; LIV4001 if it has more or less.</summary>
    public async Task WriteFileAsync(string name, Stream content, Descriptor descriptor, CancellationToken cancellationToken)
    {
        await WriteHeaderAsync(name, descriptor.Size, (byte)'0', 0b110_100_100, cancellationToken).ConfigureAwait(false);
        var buffer = new byte[1 << 16];
        long written = 0;
        int n;
        while ((n = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            written += n;
            if (written > descriptor.Size) break;
            await output.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
        }
        // The header already promised the size: a blob that is not what its descriptor says must not be written.
        if (written != descriptor.Size)
            throw new LivrableException(DiagnosticCodes.DigestMismatch,
                $"Layer {descriptor.Digest} gave {(written > descriptor.Size ? "more than" : "only")} {Math.Min(written, descriptor.Size)} bytes; its descriptor gives {descriptor.Size}.");
        await PadAsync(descriptor.Size, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The end-of-archive marker: two zero blocks.</summary>
    public Task FinishAsync(CancellationToken cancellationToken) => output.WriteAsync(new byte[2 * Block], cancellationToken).AsTask();

    private async Task WriteHeaderAsync(string name, long size, byte type, int mode, CancellationToken cancellationToken)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        if (nameBytes.Length > 100)
        {
            // GNU tar's long name: a pseudo-entry whose data is the name, NUL-terminated.
            var data = new byte[nameBytes.Length + 1];
            nameBytes.CopyTo(data, 0);
            Fill("././@LongLink"u8, data.Length, (byte)'L', 0b110_100_100);
            await output.WriteAsync(_header, cancellationToken).ConfigureAwait(false);
            await output.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            await PadAsync(data.Length, cancellationToken).ConfigureAwait(false);
            nameBytes = nameBytes[..100];
        }
        Fill(nameBytes, size, type, mode);
        await output.WriteAsync(_header, cancellationToken).ConfigureAwait(false);
    }

    private void Fill(ReadOnlySpan<byte> name, long size, byte type, int mode)
    {
        var h = _header.AsSpan();
        h.Clear();
        name.CopyTo(h[..100]);
        Octal(h.Slice(100, 8), mode);
        Octal(h.Slice(108, 8), 0); // uid
        Octal(h.Slice(116, 8), 0); // gid
        if (size <= 0x1_FFFF_FFFF) Octal(h.Slice(124, 12), size);
        else
        {
            var field = h.Slice(124, 12);
            field[0] = 0x80;
            for (int i = 11; i >= 1; i--, size >>= 8) field[i] = (byte)size;
        }
        Octal(h.Slice(136, 12), _mtime);
        h[156] = type;
        "ustar\0"u8.CopyTo(h.Slice(257, 6));
        "00"u8.CopyTo(h.Slice(263, 2));
        Octal(h.Slice(329, 8), 0); // devmajor
        Octal(h.Slice(337, 8), 0); // devminor
        h.Slice(148, 8).Fill((byte)' ');
        int sum = 0;
        foreach (byte b in h) sum += b;
        Octal(h.Slice(148, 7), sum);
        h[155] = (byte)' ';
    }

    /// <summary>Zero-padded octal digits filling all but the last byte of the field, which is NUL.</summary>
    private static void Octal(Span<byte> field, long value)
    {
        field[^1] = 0;
        for (int i = field.Length - 2; i >= 0; i--, value >>= 3) field[i] = (byte)('0' + (value & 7));
    }

    private Task PadAsync(long size, CancellationToken cancellationToken)
    {
        int pad = (int)((Block - size % Block) % Block);
        return pad == 0 ? Task.CompletedTask : output.WriteAsync(new byte[pad], cancellationToken).AsTask();
    }
}
