using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Livrable.Images;
using Livrable.Store;

namespace Livrable.Layers;

/// <summary>
/// Remembers which blob a layer spec produced, keyed by the spec and the file-system metadata of its inputs (path,
/// size, modification time, mode, link target: what make and MSBuild's own up-to-date checks trust), so that an
/// unchanged input is neither read nor compressed again. A hit is used only when the blob is still in the store, and
/// every read of that blob is still verified against its digest, so a stale or damaged entry cannot produce a wrong
/// image: at worst the layer is written again.
/// Entries live in <c>&lt;state&gt;/cache/layers/&lt;key&gt;</c>, written to a temporary name and renamed.
/// </summary>
internal static class LayerCache
{
    /// <summary>
    /// Bumped whenever the layer writer's output for the same inputs could change. v2: gzip in parallel 1 MiB blocks
    /// joined by sync flushes (other compressed bytes, same diff ids), and the layer compression in the key.
    /// </summary>
    private const string Version = "livrable-layer-cache-v2";

    /// <summary>
    /// How recent an input's modification time may be for the layer to be recorded. A file written within the file
    /// system's timestamp granularity of being read could change again without its time changing (git's "racily
    /// clean" problem), so a layer with such an input is written, and used, but not recorded.
    /// </summary>
    public static readonly TimeSpan RacyWindow = TimeSpan.FromSeconds(2);

    /// <summary>The cache key of <paramref name="spec"/>, or null when its inputs cannot be described by metadata.</summary>
    public static string? KeyFor(LayerSpec spec, LayerWriteOptions options) => KeyFor(spec, options, out _);

    /// <summary>The cache key, and the newest modification time among the inputs.</summary>
    public static string? KeyFor(LayerSpec spec, LayerWriteOptions options, out DateTime newestInput)
    {
        newestInput = DateTime.MinValue;
        var text = new StringBuilder();
        text.Append(Version).Append('\n')
            .Append(options.Epoch.ToUnixTimeSeconds()).Append('\n')
            .Append((int)options.CompressionLevel).Append('\n')
            .Append(options.Compression).Append('\n')
            .Append(string.Join(",", options.ExecutableNames.Order(StringComparer.Ordinal))).Append('\n');
        switch (spec)
        {
            case FilesLayerSpec files:
                text.Append("files ").Append(files.Uid).Append(' ').Append(files.Gid).Append('\n');
                foreach (var file in files.Files.OrderBy(f => f.TargetPath, StringComparer.Ordinal).ThenBy(f => f.SourcePath, StringComparer.Ordinal))
                {
                    text.Append(file.TargetPath).Append('\0');
                    if (!Describe(new FileInfo(file.SourcePath), text, ref newestInput)) return null;
                }
                break;
            case DirectoryLayerSpec directory:
                var root = new DirectoryInfo(directory.SourceDirectory);
                if (!root.Exists) return null;
                text.Append("directory ").Append(directory.Destination).Append('\n');
                foreach (var info in root.EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
                             .OrderBy(i => i.FullName, StringComparer.Ordinal))
                    if (!Describe(info, text, ref newestInput)) return null;
                break;
            case TarLayerSpec archive:
                text.Append("tar ").Append(archive.Destination).Append('\n');
                if (!Describe(new FileInfo(archive.TarPath), text, ref newestInput)) return null;
                break;
            default:
                return null;
        }
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()))).ToLowerInvariant();
    }

    /// <summary>The layer recorded under <paramref name="key"/>, if its blob is still in the store.</summary>
    public static StoredLayer? TryGet(string key, BlobStore store)
    {
        string path = PathOf(store, key);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            var digest = Digest.Parse(root.GetProperty("digest").GetString()!);
            var diffId = Digest.Parse(root.GetProperty("diffId").GetString()!);
            long size = root.GetProperty("size").GetInt64();
            string mediaType = root.GetProperty("mediaType").GetString()!;
            // A blob that fails its digest is evicted by the check, and the layer written again.
            if (!store.ContainsIntact(digest, size)) return null;
            // Both the record and its blob were used now: least-recently-used eviction keeps them.
            StateFolder.Touch(path);
            store.Touch(digest);
            return new StoredLayer(new Descriptor(mediaType, digest, size), diffId, store) { FromCache = true };
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException
                                      or Diagnostics.LivrableException or UnauthorizedAccessException)
        {
            return null; // missing or unreadable: write the layer
        }
    }

    /// <summary>Records <paramref name="layer"/> under <paramref name="key"/>; a failure to record only costs a later rewrite.</summary>
    public static void Put(string key, StoredLayer layer, BlobStore store)
    {
        string path = PathOf(store, key);
        string temp = store.NewTempPath("layer-cache");
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(temp, JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["digest"] = layer.Descriptor.Digest.ToString(),
                ["diffId"] = layer.DiffId.ToString(),
                ["size"] = layer.Descriptor.Size,
                ["mediaType"] = layer.Descriptor.MediaType,
            }));
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { }
        }
    }

    private static string PathOf(BlobStore store, string key) => Path.Combine(StateLayout.Records(store.Root, CacheRecordKind.Layers), key);

    /// <summary>Appends what identifies a file's content and metadata without reading it; false when it does not exist.</summary>
    private static bool Describe(FileSystemInfo info, StringBuilder text, ref DateTime newest)
    {
        info.Refresh();
        if (!info.Exists) return false;
        if (info.LastWriteTimeUtc > newest) newest = info.LastWriteTimeUtc;
        text.Append(info.FullName).Append('\0')
            .Append(info.LinkTarget ?? "").Append('\0')
            .Append(info is FileInfo f && info.LinkTarget is null ? f.Length : 0).Append('\0')
            .Append(info.LastWriteTimeUtc.Ticks).Append('\0')
            .Append(OperatingSystem.IsWindows() ? 0 : (int)info.UnixFileMode).Append('\n');
        return true;
    }
}
