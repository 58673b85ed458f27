using System.Text;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;
using Livrable.Tests.Infrastructure;

namespace Livrable.Tests.Filesystem;

/// <summary>
/// Helpers of the Filesystem tests: layers made by GNU tar from a staging folder (gzip, zstd or none), entries with
/// in-memory content. Tar listings by python's tarfile are Infrastructure's <see cref="TarMember"/>.
/// </summary>
internal static class FsTestSupport
{
    /// <summary>
    /// A layer of the paths listed (relative to <paramref name="staging"/>, in that order, no recursion: a parent is in
    /// the layer only when listed), written by GNU tar with numeric owners, compressed by <paramref name="compressor"/>
    /// (<c>gzip</c>, <c>zstd</c> or null), stored in <paramref name="store"/>.
    /// </summary>
    public static async Task<ILayer> TarLayerAsync(BlobStore store, string staging, IEnumerable<string> paths, string work, string? compressor = "gzip")
    {
        Directory.CreateDirectory(work);
        string list = Path.Combine(work, $"list-{Guid.NewGuid():N}");
        await System.IO.File.WriteAllLinesAsync(list, paths);
        string tar = Path.Combine(work, $"layer-{Guid.NewGuid():N}.tar");
        await Tools.RunCheckedAsync("tar", "-C", staging, "--no-recursion", "--numeric-owner", "--format=gnu", "-cf", tar, "-T", list);
        Digest diffId = Digest.Sha256(await System.IO.File.ReadAllBytesAsync(tar));
        string blob = tar;
        string mediaType = MediaTypes.OciLayer;
        if (compressor == "gzip")
        {
            (await Tools.RunAsync("gzip", ["-n", "-k", tar])).EnsureSuccess();
            blob = tar + ".gz";
            mediaType = MediaTypes.OciLayerGzip;
        }
        else if (compressor == "zstd")
        {
            (await Tools.RunAsync("zstd", ["-q", "-k", tar, "-o", tar + ".zst"])).EnsureSuccess();
            blob = tar + ".zst";
            mediaType = MediaTypes.OciLayerZstd;
        }
        await using var stream = System.IO.File.OpenRead(blob);
        var (digest, size) = await store.PutAsync(stream, null, null, CancellationToken.None);
        return new StoredLayer(new Descriptor(mediaType, digest, size), diffId, store);
    }

    /// <summary>A regular file entry whose bytes are <paramref name="text"/>.</summary>
    public static FileEntry File(string path, string text, int mode = 0x1A4, long uid = 0, long gid = 0)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        return new FileEntry(path, TarTypeFlag.RegularFile, mode, uid, gid)
        {
            Size = bytes.Length,
            Open = _ => Task.FromResult<Stream>(new MemoryStream(bytes, writable: false)),
        };
    }

    public static FileEntry Dir(string path, int mode = 0x1ED, long uid = 0, long gid = 0) => new(path, TarTypeFlag.Directory, mode, uid, gid);

    public static FileEntry Link(string path, string target) => new(path, TarTypeFlag.SymbolicLink, 0x1FF, 0, 0) { LinkTarget = target };

    public static async Task<string> ReadAsync(FileEntry entry)
    {
        await using var stream = await entry.Open!(CancellationToken.None);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }
}
