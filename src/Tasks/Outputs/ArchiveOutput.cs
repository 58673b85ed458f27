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
        LayersWrittenEarly = 0;
        // Taken once: whatever happens below, this write deletes the early part's file or renames it into place.
        var prefix = Interlocked.Exchange(ref _prefix, null);
        if (!Rewrite && record?.IsIntact() == true)
        {
            if (prefix is not null) await prefix.DisposeAsync().ConfigureAwait(false);
            // Documents are checked against their digests as a write would, so a bad image still fails here.
            ImageTarball.CheckDocuments(content);
            UpToDate = true;
            return target;
        }
        string temp = TempPathOf(target);
        ArchiveBlobMap? previous = null;
        Microsoft.Win32.SafeHandles.SafeFileHandle? replaced = null;
        FileStream? file = null;
        TarballWriter? writer = null;
        try
        {
            List<TarballBlob> blobs;
            try
            {
                blobs = ImageTarball.Blobs(content);
            }
            catch
            {
                if (prefix is not null) await prefix.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            int from = 0;
            long waiting = System.Diagnostics.Stopwatch.GetTimestamp();
            if (prefix is not null && await prefix.TakeAsync(target, _modificationTime, blobs).ConfigureAwait(false) is { } taken)
            {
                EarlyWait = System.Diagnostics.Stopwatch.GetElapsedTime(waiting);
                (file, writer, previous, temp) = (taken.File, taken.Writer, taken.Previous, taken.Temp);
                from = writer.Written.Count;
                LayersWrittenEarly = from;
            }
            else
            {
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                RemoveStaleTemporaries(target, DateTime.UtcNow);
                // The layers the tarball there already holds are copied from it, not read and hashed again from the store.
                previous = StateDirectory is null || Rewrite ? null : ArchiveBlobMap.TryLoad(StateDirectory, target);
                file = ImageTarball.CreateFile(temp);
                writer = new TarballWriter(file, _modificationTime, previous);
            }
            for (int i = from; i < blobs.Count; i++)
                await writer.WriteBlobAsync(blobs[i], cancellationToken).ConfigureAwait(false);
            await writer.FinishAsync(content, names, cancellationToken).ConfigureAwait(false);
            await file.FlushAsync(cancellationToken).ConfigureAwait(false);
            // Flushed to disk only when a record will vouch for the tarball and cannot name the boot (see below).
            bool flush = record is not null && !OutputRecord.BootBound;
            if (flush) file.Flush(flushToDisk: true);
            await writer.DisposeAsync().ConfigureAwait(false);
            await file.DisposeAsync().ConfigureAwait(false);
            LayersCopied = previous?.Copied ?? 0;
            record?.Forget();
            if (StateDirectory is not null) ArchiveBlobMap.Forget(StateDirectory, target);
            replaced = Replace(temp, target);
            record?.Save(flushed: flush);
            if (StateDirectory is not null) ArchiveBlobMap.Save(StateDirectory, target, writer.Placed);
            return target;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ImageTarball.WriteFailed(target, e);
        }
        finally
        {
            if (writer is not null) await writer.DisposeAsync().ConfigureAwait(false);
            if (file is not null) await DisposeQuietlyAsync(file).ConfigureAwait(false);
            ImageTarball.TryDelete(temp);
            Released = Release(replaced, previous);
        }
    }

    /// <summary>Closes a temporary file being thrown away: what its buffer still held cannot be written is no error.</summary>
    private static async Task DisposeQuietlyAsync(FileStream file)
    {
        try
        {
            await file.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Deleted next.
        }
    }

    /// <summary>
    /// The start of this write, made while the image's last steps ran (<see cref="ArchivePrefix"/>, for this same path,
    /// entry time, state folder and <see cref="Rewrite"/>): taken on when it is the start of this tarball, else thrown
    /// away. Null: the tarball is written whole.
    /// </summary>
    internal ArchivePrefix? Prefix { get => _prefix; init => _prefix = value; }

    private ArchivePrefix? _prefix;

    /// <summary>How many layers of the last write were written before the image was complete (<see cref="Prefix"/>).</summary>
    internal int LayersWrittenEarly { get; private set; }

    /// <summary>How long the last write waited for the early part to be done (the log: zero when it finished before the last step).</summary>
    internal TimeSpan EarlyWait { get; private set; }

    /// <summary>A new temporary name for a write of <paramref name="target"/>, beside it: <c>&lt;target&gt;.tmp-&lt;32 hex&gt;</c>.</summary>
    internal static string TempPathOf(string target) => $"{target}{TempMarker}{Guid.NewGuid():N}";

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
/// come in a fixed order, a function of the image alone: <c>blobs/</c>, every blob once (<see cref="Blobs"/>: the layers
/// base first, then the documents sorted; each folder such as <c>blobs/sha256/</c> just before its first blob), then
/// <c>index.json</c>, <c>manifest.json</c>, <c>oci-layout</c> (<see cref="TarballWriter"/>).
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
    public static async Task WriteFileAsync(string path, TarballContent image, IReadOnlyList<TarballName> names, DateTimeOffset modificationTime, CancellationToken cancellationToken)
    {
        await using var file = CreateFile(path);
        await WriteAsync(file, image, names, modificationTime, cancellationToken).ConfigureAwait(false);
        await file.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes the tarball of one image to <paramref name="output"/>.</summary>
    public static Task WriteAsync(Stream output, IImage image, IReadOnlyList<TarballName> names, DateTimeOffset modificationTime, CancellationToken cancellationToken)
        => WriteAsync(output, TarballContent.Of(image), names, modificationTime, cancellationToken);

    /// <summary>Writes the tarball of <paramref name="content"/> to <paramref name="output"/>.</summary>
    public static async Task WriteAsync(Stream output, TarballContent content, IReadOnlyList<TarballName> names, DateTimeOffset modificationTime, CancellationToken cancellationToken)
    {
        await using var writer = new TarballWriter(output, modificationTime, previous: null);
        foreach (var blob in Blobs(content)) await writer.WriteBlobAsync(blob, cancellationToken).ConfigureAwait(false);
        await writer.FinishAsync(content, names, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A new file for a tarball at <paramref name="path"/> (which must not exist), held so no one else opens it (see <see cref="ArchiveOutput.StaleTempAge"/>).</summary>
    internal static FileStream CreateFile(string path)
        => new(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);

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

    /// <summary>
    /// Every blob of <paramref name="content"/> once, by its path in an OCI layout (<c>blobs/sha256/&lt;hex&gt;</c>), in
    /// an order that is a function of the image alone: first the layers, image by image (an index's in its order), each
    /// image's in its manifest's order (base first), a layer already listed skipped (<see cref="LayerBlobs"/>); then the
    /// manifests, configs, index and attachments, sorted by name. Layers come first so that the layers known before the
    /// image is complete (the base's, the cached steps') can be written while its last steps run (<see cref="ArchivePrefix"/>).
    /// Manifests, configs and attachments as bytes, layers as <see cref="ILayer"/>s to stream. Each document is checked
    /// against its digest first.
    /// </summary>
    internal static List<TarballBlob> Blobs(TarballContent content)
    {
        foreach (var image in content.Images) CheckDocuments(image);
        var blobs = new List<TarballBlob>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var image in content.Images) LayerBlobs(image.Layers, seen, blobs);
        var documents = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var image in content.Images)
        {
            documents[BlobName(image.Digest)] = image.ManifestBytes;
            documents[BlobName(image.Manifest.Config.Digest)] = image.ConfigBytes;
        }
        if (content.Index is { } index)
        {
            CheckDocument(index);
            documents[BlobName(index.Digest)] = index.IndexBytes;
        }
        foreach (var attachment in content.Attachments)
        {
            documents[BlobName(attachment.Descriptor.Digest)] = attachment.ManifestBytes;
            foreach (var (descriptor, bytes) in attachment.Blobs) documents[BlobName(descriptor.Digest)] = bytes;
        }
        // Strings sorted by CoreLib's precompiled sort, not a sorted dictionary (generic code compiled at run time).
        string[] keys = [.. documents.Keys];
        Array.Sort(keys, StringComparer.Ordinal);
        foreach (string key in keys)
            if (seen.Add(key)) blobs.Add(new TarballBlob(key, documents[key]));
        return blobs;
    }

    /// <summary>
    /// <paramref name="layers"/> in their order, each under its blob name, into <paramref name="blobs"/> unless
    /// <paramref name="seen"/> has the name already: the one rule of the layers' order, for the whole tarball and for
    /// the part of it written early (<see cref="ArchivePrefix"/>), whose list is then a prefix of the whole's.
    /// </summary>
    internal static void LayerBlobs(IEnumerable<ILayer> layers, HashSet<string> seen, List<TarballBlob> blobs)
    {
        foreach (var layer in layers)
        {
            string name = BlobName(layer.Descriptor.Digest);
            if (seen.Add(name)) blobs.Add(new TarballBlob(name, layer));
        }
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
    internal static byte[] ManifestJson(IImage image, IReadOnlyList<TarballName> names) => Json.Write(w =>
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
