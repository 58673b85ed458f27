using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Interop;

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

    /// <summary>Manifests about the image (SBOM, provenance) the tarball's OCI layout carries beside it; none by default.</summary>
    public IReadOnlyList<Attachment> Attachments { get; init; } = [];

    /// <summary>
    /// The state folder where the record of the last write is kept (<see cref="OutputRecord"/>); with it, a tarball
    /// that is already the one this write would make is left as it is. Null: always written.
    /// </summary>
    public string? StateDirectory { get; init; }

    /// <summary>Write even when the record says the tarball is already this one (<c>ContainerNoCache</c>); the record is still kept.</summary>
    public bool Rewrite { get; init; }

    /// <inheritdoc />
    public bool UpToDate { get; private set; }

    /// <summary>How many layers the last write copied from the tarball it replaced (<see cref="ArchiveBlobMap"/>) instead of reading them from the store.</summary>
    internal int LayersCopied { get; private set; }

    /// <summary>
    /// Writes the tarball and returns its full path. LIV2008 for a bad repository, LIV2002 for a bad tag, LIV6001
    /// when the file cannot be written, LIV4006 when the disk is full, LIV4001 when a blob is not what its descriptor says.
    /// </summary>
    public Task<string> WriteAsync(IImage image, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        return WriteContentAsync(TarballContent.Of(image), repository, tags, cancellationToken);
    }

    /// <summary>
    /// Writes the multi-platform tarball: every image's blobs and the index blob; <c>index.json</c> names the index
    /// once per tag; <c>manifest.json</c> lists the one image <c>docker load</c> should take (see
    /// <see cref="TarballContent.ForIndex"/>). Errors as <see cref="WriteAsync"/>.
    /// </summary>
    public Task<string> WriteIndexAsync(IImageIndex index, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(index);
        return WriteContentAsync(TarballContent.ForIndex(index), repository, tags, cancellationToken);
    }

    private async Task<string> WriteContentAsync(TarballContent content, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        var names = ImageTarball.Names(repository, tags);
        string target = Path.GetFullPath(_path);
        content = content with { Attachments = Attachments };
        var record = StateDirectory is null ? null : OutputRecord.For(StateDirectory, target, content, names, _modificationTime.ToUnixTimeSeconds());
        UpToDate = false;
        LayersCopied = 0;
        if (!Rewrite && record?.IsIntact() == true)
        {
            // Documents are checked against their digests as a write would, so a bad image still fails here.
            ImageTarball.CheckDocuments(content);
            UpToDate = true;
            return target;
        }
        string temp = $"{target}{TempMarker}{Guid.NewGuid():N}";
        ArchiveBlobMap? previous = null;
        Microsoft.Win32.SafeHandles.SafeFileHandle? replaced = null;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            RemoveStaleTemporaries(target, DateTime.UtcNow);
            // The layers the tarball there already holds are copied from it, not read and hashed again from the store.
            previous = StateDirectory is null || Rewrite ? null : ArchiveBlobMap.TryLoad(StateDirectory, target);
            var placed = new Dictionary<Digest, (long Offset, long Size)>();
            // Flushed to disk only when a record will vouch for the tarball and cannot name the boot (see below).
            bool flush = record is not null && !OutputRecord.BootBound;
            await ImageTarball.WriteFileAsync(temp, content, names, _modificationTime, previous, placed, flush, cancellationToken).ConfigureAwait(false);
            LayersCopied = previous?.Copied ?? 0;
            record?.Forget();
            if (StateDirectory is not null) ArchiveBlobMap.Forget(StateDirectory, target);
            replaced = Replace(temp, target);
            record?.Save(flushed: flush);
            if (StateDirectory is not null) ArchiveBlobMap.Save(StateDirectory, target, placed);
            return target;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ImageTarball.WriteFailed(target, e);
        }
        finally
        {
            ImageTarball.TryDelete(temp);
            Released = Release(replaced, previous);
        }
    }

    /// <summary>
    /// Lets go of the tarball this write replaced, whose name is gone already: its last handles are closed on another
    /// thread. Removing a file's last name while it is open only drops the name; the kernel frees its blocks and page
    /// cache when the last handle closes, in that call: 0.06 s for pyapp's 248 MB tarball, which the build's own thread
    /// no longer waits for (issue 14, the edit loop). A process that ends first has them closed by the kernel, so
    /// nothing is left on disk either way.
    /// </summary>
    private Task Release(Microsoft.Win32.SafeHandles.SafeFileHandle? replaced, ArchiveBlobMap? previous)
    {
        if (replaced is null && previous is null) return Task.CompletedTask;
        return ReleaseScheduler(() =>
        {
            replaced?.Dispose();
            previous?.Dispose();
        });
    }

    /// <summary>Runs the closing of <see cref="Release"/>: on the thread pool; tests hold it back to look in between.</summary>
    internal Func<Action, Task> ReleaseScheduler { get; init; } = Task.Run;

    /// <summary>The closing of the replaced tarball's handles (<see cref="Release"/>), done or under way: the tests await it.</summary>
    internal Task Released { get; private set; } = Task.CompletedTask;

    /// <summary>
    /// Puts the tarball written at <paramref name="temp"/> in <paramref name="target"/>'s place, the old one (if any)
    /// left at <paramref name="temp"/> for the caller to delete. Where there is an old one, the two are exchanged in one
    /// step (<see cref="Native.TryExchange"/>) rather than renamed over: ext4 (<c>auto_da_alloc</c>, its default) takes
    /// a rename over an existing file as a replace-by-rename and allocates and starts writing the new file's delayed
    /// blocks inside the <c>rename</c> call, 0.21 s for pyapp's 248 MB tarball against 0.07 s for the exchange and the
    /// old file's removal (issue 14). That write-back guards programs that trust a renamed file after a crash; this
    /// tarball's record is trusted only within its boot instead (<see cref="OutputRecord"/>). Either way the target
    /// name always holds a whole tarball, the old or the new.
    /// </summary>
    /// <returns>
    /// The old tarball, open, its name already removed (<see cref="Release"/> closes it), when it was exchanged; null
    /// when there was none, or it was renamed over.
    /// </returns>
    private static Microsoft.Win32.SafeHandles.SafeFileHandle? Replace(string temp, string target)
    {
        if (!Native.TryExchange(temp, target))
        {
            File.Move(temp, target, overwrite: true);
            return null;
        }
        Microsoft.Win32.SafeHandles.SafeFileHandle? old = null;
        try
        {
            old = File.OpenHandle(temp, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Removed below all the same, in this thread.
        }
        ImageTarball.TryDelete(temp);
        return old;
    }

    /// <summary>What separates the target's name from the random part in the name of a tarball being written.</summary>
    private const string TempMarker = ".tmp-";

    /// <summary>
    /// How long a temporary tarball must have gone unwritten before it is taken for the leftover of a killed write.
    /// A live writer holds its file open (<c>FileShare.None</c>: <c>flock</c> on Unix, a share mode on Windows), which
    /// is what protects it; the age covers the instants between its open and its lock, and between its close and its
    /// rename, as <c>Store/StateFolder</c> waits a minute before it removes a lease file.
    /// </summary>
    internal static readonly TimeSpan StaleTempAge = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Removes what a killed write of this same tarball left: <c>&lt;target&gt;.tmp-&lt;32 hex&gt;</c> files (our names
    /// only, nothing else in the folder) last written over <see cref="StaleTempAge"/> before <paramref name="now"/> and
    /// held open by no one. A concurrent writer's temporary file is written now, and open, so it stays. Nothing it
    /// cannot remove is an error: it only costs disk space until the next write.
    /// </summary>
    internal static int RemoveStaleTemporaries(string target, DateTime now)
    {
        string folder = Path.GetDirectoryName(target)!;
        string prefix = Path.GetFileName(target) + TempMarker;
        int removed = 0;
        IEnumerable<string> candidates;
        try
        {
            candidates = Directory.EnumerateFiles(folder, prefix + "*", new EnumerationOptions { MatchType = MatchType.Simple, AttributesToSkip = 0 }).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
        foreach (string path in candidates)
        {
            string random = Path.GetFileName(path)[prefix.Length..];
            if (random.Length != 32 || !random.All(char.IsAsciiHexDigitLower)) continue;
            try
            {
                var info = new FileInfo(path);
                if ((info.Attributes & (FileAttributes.Directory | FileAttributes.ReparsePoint)) != 0) continue;
                if (now - info.LastWriteTimeUtc < StaleTempAge) continue;
                // Held open by a live writer: the open fails. Else the file is ours while we hold it, and deleted
                // when we let it go.
                using (new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Being written, or gone already.
            }
        }
        return removed;
    }
}

/// <summary>
/// What a tarball holds: the images (one, or one per platform), the index over them when there are several, and the
/// one image <c>manifest.json</c> lists for <c>docker load</c>.
/// </summary>
internal sealed record TarballContent(IReadOnlyList<IImage> Images, IImageIndex? Index, IImage LoadImage)
{
    /// <summary>Manifests about the image, listed untagged in <c>index.json</c> after the image's entries.</summary>
    public IReadOnlyList<Attachment> Attachments { get; init; } = [];

    public static TarballContent Of(IImage image) => new([image], null, image);

    /// <summary>
    /// A multi-platform image. <c>docker load</c> (without the containerd image store) reads only <c>manifest.json</c>,
    /// where each entry is one image and a tag can name one: the entry is the image for this machine's platform (else the
    /// first), so what it loads runs here, under the tags; the OCI <c>index.json</c> names the whole index for tools
    /// that read OCI layouts (skopeo, containerd, podman).
    /// </summary>
    public static TarballContent ForIndex(IImageIndex index)
    {
        Platform? host = null;
        try
        {
            host = Platform.Host();
        }
        catch (LivrableException)
        {
            // A CPU no runtime identifier names: load the first image.
        }
        var load = index.Images.FirstOrDefault(i => host is not null && host.Matches(i.Config.Platform)) ?? index.Images[0];
        return new TarballContent(index.Images, index, load);
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

    /// <summary>
    /// Writes the tarball to a new file at <paramref name="path"/> (which must not exist), not flushed to disk: the
    /// local engine loads it and it is deleted; nothing trusts it after a crash.
    /// </summary>
    public static Task WriteFileAsync(string path, TarballContent image, IReadOnlyList<TarballName> names, DateTimeOffset modificationTime, CancellationToken cancellationToken)
        => WriteFileAsync(path, image, names, modificationTime, null, null, flushToDisk: false, cancellationToken);

    /// <summary>
    /// Writes the tarball to a new file at <paramref name="path"/> (which must not exist), taking the layer blobs
    /// <paramref name="previous"/> places in the old tarball from there, and noting in <paramref name="placed"/> where
    /// each layer blob's bytes lie in the new one. <paramref name="flushToDisk"/>: <c>fsync</c> before returning (about
    /// 0.2 s for 250 MB), for a record that cannot name the boot (<see cref="OutputRecord.BootBound"/>).
    /// </summary>
    public static async Task WriteFileAsync(string path, TarballContent image, IReadOnlyList<TarballName> names, DateTimeOffset modificationTime,
        ArchiveBlobMap? previous, Dictionary<Digest, (long Offset, long Size)>? placed, bool flushToDisk, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        await WriteAsync(file, image, names, modificationTime, previous, placed, cancellationToken).ConfigureAwait(false);
        await file.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (flushToDisk) file.Flush(flushToDisk: true);
    }

    /// <summary>Writes the tarball of one image to <paramref name="output"/>.</summary>
    public static Task WriteAsync(Stream output, IImage image, IReadOnlyList<TarballName> names, DateTimeOffset modificationTime, CancellationToken cancellationToken)
        => WriteAsync(output, TarballContent.Of(image), names, modificationTime, cancellationToken);

    /// <summary>Writes the tarball of <paramref name="content"/> to <paramref name="output"/>.</summary>
    public static Task WriteAsync(Stream output, TarballContent content, IReadOnlyList<TarballName> names, DateTimeOffset modificationTime, CancellationToken cancellationToken)
        => WriteAsync(output, content, names, modificationTime, null, null, cancellationToken);

    private static async Task WriteAsync(Stream output, TarballContent content, IReadOnlyList<TarballName> names, DateTimeOffset modificationTime,
        ArchiveBlobMap? previous, Dictionary<Digest, (long Offset, long Size)>? placed, CancellationToken cancellationToken)
    {
        var blobs = Blobs(content);

        // Layers/TarWriter, so the tarball follows the same reproducibility rules as a layer: uid/gid 0, no owner
        // names, one fixed time; plain ustar for sha256 names, a PAX header only for a name over 100 bytes (sha512).
        long mtime = modificationTime.ToUnixTimeSeconds();
        await using var tar = new TarWriter(output, leaveOpen: true);
        await WriteDirectoryAsync(tar, "blobs/", mtime, cancellationToken).ConfigureAwait(false);
        foreach (string dir in blobs.Keys.Select(k => k[..(k.LastIndexOf('/') + 1)]).Distinct())
            await WriteDirectoryAsync(tar, dir, mtime, cancellationToken).ConfigureAwait(false);
        foreach (var (name, blob) in blobs)
        {
            if (blob is byte[] bytes)
            {
                await WriteFileAsync(tar, name, bytes, mtime, cancellationToken).ConfigureAwait(false);
                continue;
            }
            // The header promises the descriptor's size; ILayer's stream throws LIV4001 when the bytes are longer,
            // shorter or another digest, so a blob that is not what its descriptor says is never written whole.
            // A layer the old tarball holds (ArchiveBlobMap: the file is the one written, so its bytes were checked then)
            // is copied from there.
            // Those bytes are copied in the kernel (TarWriter, copy_file_range).
            var layer = (ILayer)blob;
            long size = layer.Descriptor.Size;
            if (previous?.TryLocate(layer.Descriptor) is { } old)
                await tar.WriteEntryAsync(FileHeader(name, size, mtime), old.File, old.Offset, cancellationToken).ConfigureAwait(false);
            else
            {
                await using var stream = await layer.OpenAsync(cancellationToken).ConfigureAwait(false);
                // A plain file of the descriptor's size is a stored blob read as it is (the store hashed it, or wrote it,
                // in this build: Store/BlobStore.Open), so it is copied in the kernel too: a cold build's base layers
                // (87 MB on bench workload a, issue 14) no longer pass through this process's memory on their way in.
                if (stream is FileStream { Position: 0 } file && file.Length == size)
                    await tar.WriteEntryAsync(FileHeader(name, size, mtime), file.SafeFileHandle, 0, cancellationToken).ConfigureAwait(false);
                else
                    await tar.WriteEntryAsync(FileHeader(name, size, mtime), stream, cancellationToken).ConfigureAwait(false);
            }
            // The entry ends with its bytes and their padding to the next 512-byte block.
            placed?.TryAdd(layer.Descriptor.Digest, (tar.Position - size - (512 - size % 512) % 512, size));
        }
        await WriteFileAsync(tar, "index.json", new ImageIndex(MediaTypes.OciIndex, IndexEntries(content, names)).ToBytes(), mtime, cancellationToken).ConfigureAwait(false);
        await WriteFileAsync(tar, "manifest.json", ManifestJson(content.LoadImage, names), mtime, cancellationToken).ConfigureAwait(false);
        await WriteFileAsync(tar, "oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray(), mtime, cancellationToken).ConfigureAwait(false);
        await tar.FinishAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The manifest, config and layers of <paramref name="image"/>, checked against their digests, into <paramref name="blobs"/>.</summary>
    private static void AddBlobs(SortedDictionary<string, object> blobs, IImage image)
    {
        CheckDocuments(image);
        var manifest = image.Manifest;
        blobs[BlobName(image.Digest)] = image.ManifestBytes;
        blobs[BlobName(manifest.Config.Digest)] = image.ConfigBytes;
        foreach (var layer in image.Layers) blobs.TryAdd(BlobName(layer.Descriptor.Digest), layer);
    }

    /// <summary>
    /// The documents of <paramref name="content"/> checked against their digests, as <see cref="Blobs"/> checks them before
    /// a write: the check of an up-to-date tarball, without the sorted blob list a write needs (the generic code of that
    /// list is compiled at run time, some 20 methods, on a path that otherwise writes nothing).
    /// </summary>
    internal static void CheckDocuments(TarballContent content)
    {
        foreach (var image in content.Images) CheckDocuments(image);
        if (content.Index is { } index) CheckDocument(index);
    }

    private static void CheckDocument(IImageIndex index)
    {
        if (Digest.Sha256(index.IndexBytes) != index.Digest)
            throw new LivrableException(DiagnosticCodes.DigestMismatch, $"The index bytes do not have its digest {index.Digest}.");
    }

    private static void CheckDocuments(IImage image)
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
    }

    private static Task WriteDirectoryAsync(TarWriter tar, string name, long mtime, CancellationToken cancellationToken)
        => tar.WriteEntryAsync(new TarHeader { Name = name, Type = TarTypeFlag.Directory, Mode = FileModes.Directory, ModificationTime = mtime }, null, cancellationToken);

    private static async Task WriteFileAsync(TarWriter tar, string name, byte[] content, long mtime, CancellationToken cancellationToken)
    {
        using var stream = new MemoryStream(content, writable: false);
        await tar.WriteEntryAsync(FileHeader(name, content.Length, mtime), stream, cancellationToken).ConfigureAwait(false);
    }

    private static TarHeader FileHeader(string name, long size, long mtime)
        => new() { Name = name, Mode = FileModes.RegularFile, Size = size, ModificationTime = mtime };

    /// <summary>
    /// Every blob of <paramref name="content"/> once, by its path in an OCI layout (<c>blobs/sha256/&lt;hex&gt;</c>), sorted
    /// so the order never depends on the image's history: manifests, configs and attachments as bytes, layers as
    /// <see cref="ILayer"/>s to stream. Each document is checked against its digest first.
    /// </summary>
    internal static SortedDictionary<string, object> Blobs(TarballContent content)
    {
        var blobs = new SortedDictionary<string, object>(StringComparer.Ordinal);
        foreach (var image in content.Images) AddBlobs(blobs, image);
        if (content.Index is { } index)
        {
            CheckDocument(index);
            blobs[BlobName(index.Digest)] = index.IndexBytes;
        }
        foreach (var attachment in content.Attachments)
        {
            blobs[BlobName(attachment.Descriptor.Digest)] = attachment.ManifestBytes;
            foreach (var (descriptor, bytes) in attachment.Blobs) blobs[BlobName(descriptor.Digest)] = bytes;
        }
        return blobs;
    }

    /// <summary>
    /// The entries of an OCI layout's <c>index.json</c> for <paramref name="content"/>: the image (or index) once per tag,
    /// each named as containerd and the OCI layout spec name images, then the attachments, untagged.
    /// </summary>
    internal static IReadOnlyList<Descriptor> IndexEntries(TarballContent content, IReadOnlyList<TarballName> names)
    {
        var entry = content.Index is { } i
            ? new Descriptor(i.Index.MediaType, i.Digest, i.IndexBytes.Length)
            : new Descriptor(content.LoadImage.Manifest.MediaType, content.LoadImage.Digest, content.LoadImage.ManifestBytes.Length);
        var entries = names.Count == 0
            ? [entry]
            : names.Select(n => entry with
            {
                Annotations = new SortedDictionary<string, string>(StringComparer.Ordinal)
                {
                    [Sources.OciLayout.ContainerdNameAnnotation] = n.FullName,
                    [Sources.OciLayout.RefNameAnnotation] = n.Tag,
                },
            }).ToList();
        return [.. entries, .. content.Attachments.Select(a => a.Descriptor)];
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

    internal static string BlobName(Digest digest) => $"blobs/{digest.Algorithm}/{digest.Hex}";

    /// <summary>LIV4006 for a full disk, LIV6001 otherwise.</summary>
    public static LivrableException WriteFailed(string target, Exception e)
    {
        return DiskSpace.IsFull(e)
            ? new LivrableException(DiagnosticCodes.DiskFull, $"The disk is full: could not write the image tarball '{target}'.", inner: e)
            : new LivrableException(DiagnosticCodes.ArchiveWriteFailed, $"Could not write the image tarball '{target}': {e.Message}", inner: e);
    }

    public static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
