using System.Text.Json.Nodes;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Sources;

namespace Livrable.Outputs;

/// <summary>
/// Writes an image into an OCI image layout folder (<c>ContainerOciLayoutPath</c>;
/// https://github.com/opencontainers/image-spec/blob/main/image-layout.md), the output other tools take as it is:
/// <c>skopeo copy oci:DIR:TAG ...</c>, <c>umoci unpack --image DIR:TAG</c>, <c>podman load</c>, containerd. Written
/// incrementally: a blob already in the folder (by digest, with its size) is not written again, so a rebuild that
/// changed one layer writes that layer, the config and the manifest. Each new file appears under its name only once
/// complete (a temporary name in the same folder, then a rename). <c>index.json</c> keeps the layout's other entries;
/// the image's tags replace the entries of the same names.
/// </summary>
public sealed class LayoutOutput : IImageOutput
{
    private readonly string _directory;

    /// <summary>The layout at <paramref name="directory"/>: an OCI layout, an empty folder, or a path to create.</summary>
    public LayoutOutput(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        _directory = directory;
    }

    /// <summary>Manifests about the image (SBOM, provenance), written and listed untagged beside it; none by default.</summary>
    public IReadOnlyList<Attachment> Attachments { get; init; } = [];

    /// <summary>How many blobs the last write found in the folder already and did not write again.</summary>
    public int BlobsKept { get; private set; }

    /// <inheritdoc />
    /// <remarks>Every blob was there, <c>oci-layout</c> too, and <c>index.json</c> already had the bytes it would get.</remarks>
    public bool UpToDate { get; private set; }

    /// <summary>
    /// Writes the image and returns the folder's full path. LIV6004 when the folder is not a layout, LIV6001 when a
    /// file cannot be written, LIV4006 for a full disk, LIV4001 when a blob is not what its descriptor says.
    /// </summary>
    public Task<string> WriteAsync(IImage image, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(image);
        return WriteContentAsync(TarballContent.Of(image) with { Attachments = Attachments }, repository, tags, cancellationToken);
    }

    /// <summary>Writes every image of <paramref name="index"/> and the index, which the tags name. Errors as <see cref="WriteAsync"/>.</summary>
    public Task<string> WriteIndexAsync(IImageIndex index, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(index);
        return WriteContentAsync(TarballContent.ForIndex(index) with { Attachments = Attachments }, repository, tags, cancellationToken);
    }

    private async Task<string> WriteContentAsync(TarballContent content, string repository, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        var names = ImageTarball.Names(repository, tags);
        string root = Path.GetFullPath(_directory);
        try
        {
            UpToDate = false;
            var existing = OpenLayout(root);
            int kept = 0, written = 0;
            foreach (var (name, blob) in ImageTarball.Blobs(content))
            {
                cancellationToken.ThrowIfCancellationRequested();
                string path = Path.Combine(root, name);
                long size = blob is byte[] b ? b.Length : ((ILayer)blob).Descriptor.Size;
                if (new FileInfo(path) is { Exists: true } present && present.Length == size)
                {
                    kept++;
                    continue;
                }
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await WriteFileAsync(path, blob, cancellationToken).ConfigureAwait(false);
                written++;
            }
            BlobsKept = kept;
            string layoutFile = Path.Combine(root, "oci-layout");
            if (!File.Exists(layoutFile))
            {
                await WriteFileAsync(layoutFile, OciLayout.LayoutFileBytes, cancellationToken).ConfigureAwait(false);
                written++;
            }
            // index.json last: until it names the image, the new blobs are only unreferenced files. The same bytes
            // as there already are not written again.
            string indexFile = Path.Combine(root, "index.json");
            byte[] indexBytes = IndexJson(existing, ImageTarball.IndexEntries(content, names));
            if (existing is not null && File.Exists(indexFile) && File.ReadAllBytes(indexFile).AsSpan().SequenceEqual(indexBytes))
            {
                UpToDate = written == 0;
                return root;
            }
            await WriteFileAsync(indexFile, indexBytes, cancellationToken).ConfigureAwait(false);
            return root;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw DiskSpace.IsFull(e)
                ? new LivrableException(DiagnosticCodes.DiskFull, $"The disk is full: could not write the OCI layout '{root}'.", inner: e)
                : new LivrableException(DiagnosticCodes.ArchiveWriteFailed, $"Could not write the OCI layout '{root}': {e.Message}", inner: e);
        }
    }

    /// <summary>
    /// The layout's current <c>index.json</c> (null for a new layout). A path that is a file, a folder holding other
    /// things and no <c>oci-layout</c>, or a layout whose files do not parse is LIV6004: nothing is written there.
    /// </summary>
    private static JsonObject? OpenLayout(string root)
    {
        if (File.Exists(root))
            throw NotLayout(root, "it is a file");
        if (!Directory.Exists(root) || !Directory.EnumerateFileSystemEntries(root).Any())
        {
            Directory.CreateDirectory(root);
            return null;
        }
        string layoutFile = Path.Combine(root, "oci-layout");
        if (!File.Exists(layoutFile))
            throw NotLayout(root, "it holds other files and no 'oci-layout'");
        try
        {
            OciLayout.CheckLayoutFile(File.ReadAllBytes(layoutFile), root);
            string indexFile = Path.Combine(root, "index.json");
            if (!File.Exists(indexFile)) return null;
            var info = new FileInfo(indexFile);
            if (info.Length > OciLayout.MaxManifestSize) throw NotLayout(root, $"its index.json is larger than {OciLayout.MaxManifestSize} bytes");
            return JsonNode.Parse(File.ReadAllBytes(indexFile)) as JsonObject ?? throw NotLayout(root, "its index.json is not a JSON object");
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or LivrableException { Code: DiagnosticCodes.InvalidImage })
        {
            throw NotLayout(root, $"its files do not parse ({e.Message})");
        }
    }

    /// <summary>
    /// The new <c>index.json</c>: the entries of <paramref name="existing"/> that name none of the new tags and are not
    /// one of the new attachments, as they were (fields Livrable does not know included), then the new entries.
    /// </summary>
    private static byte[] IndexJson(JsonObject? existing, IReadOnlyList<Descriptor> entries)
    {
        byte[] ours = new ImageIndex(MediaTypes.OciIndex, entries).ToBytes();
        if (existing?["manifests"] is not JsonArray old) return ours;
        var tags = entries.Select(e => e.Annotations?.GetValueOrDefault(OciLayout.RefNameAnnotation)).Where(t => t is not null).ToHashSet(StringComparer.Ordinal);
        var digests = entries.Where(e => e.Annotations?.ContainsKey(OciLayout.RefNameAnnotation) != true).Select(e => e.Digest.ToString()).ToHashSet(StringComparer.Ordinal);
        var manifests = new JsonArray();
        foreach (var entry in old)
        {
            string? tag = entry?["annotations"]?[OciLayout.RefNameAnnotation]?.GetValue<string>();
            string? digest = entry?["digest"]?.GetValue<string>();
            if (tag is not null ? tags.Contains(tag) : digest is not null && digests.Contains(digest)) continue;
            manifests.Add(entry!.DeepClone());
        }
        // Nothing of the old index is kept: the same bytes as a new layout's, so an unchanged build finds them equal.
        if (manifests.Count == 0) return ours;
        foreach (var entry in JsonNode.Parse(ours)!["manifests"]!.AsArray()) manifests.Add(entry!.DeepClone());
        var index = new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = manifests };
        return System.Text.Encoding.UTF8.GetBytes(index.ToJsonString());
    }

    /// <summary>Writes a blob or document under a temporary name beside <paramref name="path"/>, then renames it into place.</summary>
    private static async Task WriteFileAsync(string path, object content, CancellationToken cancellationToken)
    {
        string temp = $"{path}.tmp-{Guid.NewGuid():N}";
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                if (content is byte[] bytes)
                {
                    await file.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    // A layer's stream throws LIV4001 when the bytes are not its descriptor's: never renamed into place.
                    await using var stream = await ((ILayer)content).OpenAsync(cancellationToken).ConfigureAwait(false);
                    await stream.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                }
                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            ImageTarball.TryDelete(temp);
        }
    }

    private static LivrableException NotLayout(string root, string why)
        => new(DiagnosticCodes.NotAnOciLayout, $"ContainerOciLayoutPath '{root}' is not an OCI image layout: {why}. Name an empty or new folder, or a layout.");
}
