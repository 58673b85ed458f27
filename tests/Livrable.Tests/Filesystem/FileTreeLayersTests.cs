using System.Text;
using System.Text.Json.Nodes;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Filesystem;

/// <summary>Trees loaded from layers that GNU tar wrote, checked against what umoci unpacks from the same layers.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class FileTreeLayersTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public FileTreeLayersTests() => _store = new BlobStore(_temp["store"]);

    public void Dispose() => _temp.Dispose();

    private string Stage(string name) => Directory.CreateDirectory(_temp[name]).FullName;

    private static void Write(string root, string relative, string text, int mode = 0x1A4)
    {
        string path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, text);
        System.IO.File.SetUnixFileMode(path, (UnixFileMode)mode);
    }

    private static void Mkdir(string root, string relative, int mode = 0x1ED)
    {
        string path = Path.Combine(root, relative);
        Directory.CreateDirectory(path);
        System.IO.File.SetUnixFileMode(path, (UnixFileMode)mode);
    }

    /// <summary>Three layers exercising whiteouts, an opaque directory, a symlinked parent, hard links and replacements.</summary>
    private async Task<List<ILayer>> LayersAsync(string? compressor = "gzip")
    {
        string s1 = Stage("s1");
        Mkdir(s1, "etc");
        Write(s1, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
        Write(s1, "etc/old.conf", "old");
        Mkdir(s1, "usr");
        Mkdir(s1, "usr/lib");
        Write(s1, "usr/lib/libc.so", "libc", 0x1ED);
        File.CreateSymbolicLink(Path.Combine(s1, "lib"), "usr/lib");
        Mkdir(s1, "opt", 0x1E8 /* 0750 */);
        Mkdir(s1, "opt/cache");
        Write(s1, "opt/cache/a", "a");
        Mkdir(s1, "opt/cache/sub");
        Write(s1, "opt/cache/sub/b", "b");
        Mkdir(s1, "data");
        Write(s1, "data/big", "big bytes", 0x1B4 /* 0664 */);
        await Tools.RunCheckedAsync("ln", Path.Combine(s1, "data/big"), Path.Combine(s1, "data/hard"));
        Mkdir(s1, "srv");
        Mkdir(s1, "srv/inner");
        Write(s1, "srv/inner/x", "x");
        Mkdir(s1, "tmp", 0x3FF /* 01777 */);
        Mkdir(s1, "bin");
        Write(s1, "bin/sh", "sh", 0x1ED);
        string[] l1 =
        [
            "./", "./etc/", "./etc/passwd", "./etc/old.conf", "./usr/", "./usr/lib/", "./usr/lib/libc.so", "./lib", "./opt/",
            "./opt/cache/", "./opt/cache/a", "./opt/cache/sub/", "./opt/cache/sub/b", "./data/", "./data/big", "./data/hard",
            "./srv/", "./srv/inner/", "./srv/inner/x", "./tmp/", "./bin/", "./bin/sh",
        ];

        string s2 = Stage("s2");
        Write(s2, "etc/.wh.old.conf", "");
        Write(s2, "opt/cache/.wh..wh..opq", "");
        Write(s2, "opt/cache/new", "new");
        Write(s2, "lib/extra.so", "extra");
        Write(s2, "srv", "srv is a file now");
        Write(s2, "data/.wh.big", "");
        Write(s2, "newdir/deep/file", "deep");
        string[] l2 = ["./etc/.wh.old.conf", "./opt/cache/.wh..wh..opq", "./opt/cache/new", "./lib/extra.so", "./srv", "./data/.wh.big", "./newdir/deep/file"];

        string s3 = Stage("s3");
        Mkdir(s3, "srv", 0x1E8);
        Write(s3, "srv/y", "y");
        Write(s3, "bin/sh", "new sh", 0x1C0 /* 0700 */);
        string[] l3 = ["./srv/", "./srv/y", "./bin/sh"];

        string work = _temp["work"];
        return
        [
            await FsTestSupport.TarLayerAsync(_store, s1, l1, work, compressor),
            await FsTestSupport.TarLayerAsync(_store, s2, l2, work, compressor),
            await FsTestSupport.TarLayerAsync(_store, s3, l3, work, compressor),
        ];
    }

    /// <summary>An OCI layout of the layers (tag <c>t</c>), for umoci.</summary>
    private async Task<string> LayoutAsync(IReadOnlyList<ILayer> layers)
    {
        string layout = _temp["layout"];
        string blobs = Path.Combine(layout, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        await System.IO.File.WriteAllTextAsync(Path.Combine(layout, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        async Task<JsonObject> PutAsync(string mediaType, byte[] bytes)
        {
            var digest = Digest.Sha256(bytes);
            await System.IO.File.WriteAllBytesAsync(Path.Combine(blobs, digest.Hex), bytes);
            return new JsonObject { ["mediaType"] = mediaType, ["digest"] = digest.ToString(), ["size"] = bytes.Length };
        }
        var layerDescriptors = new JsonArray();
        foreach (var layer in layers)
        {
            System.IO.File.Copy(_store.PathOf(layer.Descriptor.Digest), Path.Combine(blobs, layer.Descriptor.Digest.Hex), overwrite: true);
            layerDescriptors.Add(new JsonObject { ["mediaType"] = layer.Descriptor.MediaType, ["digest"] = layer.Descriptor.Digest.ToString(), ["size"] = layer.Descriptor.Size });
        }
        var config = new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = new JsonObject(),
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(layers.Select(l => (JsonNode)l.DiffId.ToString()).ToArray()) },
        };
        var configDescriptor = await PutAsync(MediaTypes.OciConfig, Encoding.UTF8.GetBytes(config.ToJsonString()));
        var manifest = new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciManifest, ["config"] = configDescriptor, ["layers"] = layerDescriptors };
        var manifestDescriptor = await PutAsync(MediaTypes.OciManifest, Encoding.UTF8.GetBytes(manifest.ToJsonString()));
        manifestDescriptor["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = "t" };
        var index = new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray(manifestDescriptor) };
        await System.IO.File.WriteAllTextAsync(Path.Combine(layout, "index.json"), index.ToJsonString());
        return layout;
    }

    /// <summary>"path type mode [-> target]" for every entry of a rootfs umoci unpacked, sorted.</summary>
    private static async Task<List<string>> ListRootfsAsync(string rootfs)
    {
        const string script = """
            import os, stat, sys
            root = sys.argv[1]
            out = []
            for d, dirs, files in os.walk(root):
                for n in dirs + files:
                    p = os.path.join(d, n)
                    st = os.lstat(p)
                    rel = '/' + os.path.relpath(p, root)
                    if stat.S_ISLNK(st.st_mode): out.append(f'{rel} l -> {os.readlink(p)}')
                    elif stat.S_ISDIR(st.st_mode): out.append(f'{rel} d {stat.S_IMODE(st.st_mode):o}')
                    else: out.append(f'{rel} f {stat.S_IMODE(st.st_mode):o} {st.st_size}')
            print('\n'.join(out))
            """;
        string stdout = (await Tools.RunCheckedAsync("python3", "-c", script, rootfs)).Stdout;
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToList();
    }

    private static List<string> ListTree(FileTree tree)
        => tree.Enumerate("/").Select(e => e.Type switch
        {
            TarTypeFlag.SymbolicLink => $"{e.Path} l -> {e.LinkTarget}",
            TarTypeFlag.Directory => $"{e.Path} d {Convert.ToString(e.Mode, 8)}",
            _ => $"{e.Path} f {Convert.ToString(e.Mode, 8)} {e.Size}",
        }).Order(StringComparer.Ordinal).ToList();

    [Fact]
    public async Task The_tree_of_GNU_tar_layers_matches_what_umoci_unpacks()
    {
        var layers = await LayersAsync();
        var tree = await FileTree.LoadAsync(layers, CancellationToken.None);

        string layout = await LayoutAsync(layers);
        string bundle = _temp["bundle"];
        await Tools.RunCheckedAsync("umoci", "unpack", "--image", layout + ":t", bundle);
        var expected = await ListRootfsAsync(Path.Combine(bundle, "rootfs"));

        Assert.Equal(expected, ListTree(tree));
        // The cases this image is made of, spelled out.
        Assert.Contains("/usr/lib/extra.so f 644 5", expected);
        Assert.Contains("/data/hard f 664 9", expected);
        Assert.DoesNotContain(expected, l => l.StartsWith("/data/big", StringComparison.Ordinal) || l.StartsWith("/etc/old.conf", StringComparison.Ordinal));
        Assert.DoesNotContain(expected, l => l.StartsWith("/opt/cache/a", StringComparison.Ordinal) || l.StartsWith("/opt/cache/sub", StringComparison.Ordinal));
        Assert.Contains("/srv d 750", expected);
        Assert.DoesNotContain(expected, l => l.StartsWith("/srv/inner", StringComparison.Ordinal));
        Assert.Contains("/newdir/deep d 755", expected);
        Assert.Contains("/tmp d 1777", expected);
    }

    [Fact]
    public async Task A_tree_from_the_layer_entry_index_reads_no_blob_and_equals_the_tree_from_the_blobs()
    {
        var layers = (await LayersAsync()).Select(l => new CountingLayer(l)).ToList();
        var index = new LayerEntryIndex(_temp["trees"]);
        var fromBlobs = await FileTree.LoadAsync(layers, Decompression.DefaultMaxBytes, index, CancellationToken.None);
        Assert.All(layers, l => Assert.Equal(1, l.Opens));
        Assert.Equal(layers.Count, Directory.GetFiles(_temp["trees"], "*.entries").Length);

        var fromIndex = await FileTree.LoadAsync(layers, Decompression.DefaultMaxBytes, index, CancellationToken.None);
        Assert.All(layers, l => Assert.Equal(1, l.Opens));
        Assert.Equal(ListTree(fromBlobs), ListTree(fromIndex));
        // A file's bytes are still found in its layer's blob through the recorded position.
        var extra = fromIndex.Get("/usr/lib/extra.so")!;
        var materialized = await fromIndex.MaterializeAsync([extra], _temp["materialized"], CancellationToken.None);
        await using (var stream = await materialized[0].Open!(CancellationToken.None))
        {
            var bytes = new MemoryStream();
            await stream.CopyToAsync(bytes);
            Assert.Equal(5, bytes.Length);
        }

        // A damaged index file reads as absent: that layer is read from its blob again, and the tree is the same.
        int opens = layers.Sum(l => l.Opens);
        string damaged = Directory.GetFiles(_temp["trees"], "*.entries")[0];
        File.WriteAllBytes(damaged, File.ReadAllBytes(damaged)[..^3]);
        var again = await FileTree.LoadAsync(layers, Decompression.DefaultMaxBytes, index, CancellationToken.None);
        Assert.Equal(ListTree(fromBlobs), ListTree(again));
        Assert.Equal(opens + 1, layers.Sum(l => l.Opens));
    }

    [Fact]
    public async Task Zstd_and_plain_layers_give_the_same_tree_as_gzip_ones()
    {
        var gzip = ListTree(await FileTree.LoadAsync(await LayersAsync("gzip"), CancellationToken.None));
        Directory.Delete(_temp["s1"], true);
        Directory.Delete(_temp["s2"], true);
        Directory.Delete(_temp["s3"], true);
        var zstd = ListTree(await FileTree.LoadAsync(await LayersAsync("zstd"), CancellationToken.None));
        Directory.Delete(_temp["s1"], true);
        Directory.Delete(_temp["s2"], true);
        Directory.Delete(_temp["s3"], true);
        var plain = ListTree(await FileTree.LoadAsync(await LayersAsync(null), CancellationToken.None));
        Assert.Equal(gzip, zstd);
        Assert.Equal(gzip, plain);
    }

    [Fact]
    public async Task Metadata_owners_and_links_of_a_loaded_tree()
    {
        var tree = await FileTree.LoadAsync(await LayersAsync(), CancellationToken.None);
        Assert.Equal(TarTypeFlag.SymbolicLink, tree.Get("/lib")!.Type);
        Assert.Equal("/usr/lib", tree.Resolve("/lib")!.Path);
        Assert.Equal("/usr/lib/extra.so", tree.Get("/lib/extra.so")!.Path);
        Assert.Null(tree.Get("/etc/old.conf"));
        Assert.Equal(0x1C0, tree.Get("/bin/sh")!.Mode);
        Assert.Equal((0L, 0L), (tree.Get("/etc/passwd")!.Uid, tree.Get("/etc/passwd")!.Gid));
        Assert.Null(tree.Get("/srv/inner/x"));
        Assert.Equal((1000L, 1000L), Ownership.Resolve("app", tree, default));
    }

    /// <summary>Counts how often a layer is opened.</summary>
    private sealed class CountingLayer(ILayer inner) : ILayer
    {
        public int Opens;
        public Descriptor Descriptor => inner.Descriptor;
        public Digest DiffId => inner.DiffId;
        public Task<Stream> OpenAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Opens);
            return inner.OpenAsync(cancellationToken);
        }
    }

    [Fact]
    public async Task Materialize_reads_each_involved_layer_once_and_follows_moved_entries()
    {
        var layers = (await LayersAsync()).Select(l => new CountingLayer(l)).ToList();
        var tree = await FileTree.LoadAsync(layers, CancellationToken.None);
        Assert.All(layers, l => Assert.Equal(1, l.Opens));

        var wanted = new List<FileEntry>
        {
            tree.Get("/usr/lib/libc.so")!,
            tree.Get("/data/hard")! with { Path = "/copy/hard", Uid = 5 },
            tree.Get("/opt/cache/new")!,
            tree.Get("/usr/lib/extra.so")!,
            tree.Get("/srv")!,
            FsTestSupport.File("/given", "given"),
        };
        Assert.All(wanted.Take(4), e => Assert.Null(e.Open));
        var materialized = await tree.MaterializeAsync(wanted, _temp["materialized"], CancellationToken.None);

        Assert.Equal(["libc", "big bytes", "new", "extra"], await Task.WhenAll(materialized.Take(4).Select(FsTestSupport.ReadAsync)));
        Assert.Equal(("/copy/hard", 5L), (materialized[1].Path, materialized[1].Uid));
        Assert.Equal(TarTypeFlag.Directory, materialized[4].Type);
        Assert.Same(wanted[5], materialized[5]);
        Assert.Equal([2, 2, 1], layers.Select(l => l.Opens));

        // What COPY --from does next: a layer of the materialized entries.
        var written = await LayerWriter.WriteAsync(new EntriesLayerSpec(materialized) { CreatedBy = "COPY --from" },
            new LayerWriteOptions(), _store, CancellationToken.None);
        var members = await TarMember.ReadAllAsync(_store.PathOf(written.Descriptor.Digest));
        Assert.Equal(["copy", "copy/hard", "given", "opt", "opt/cache", "opt/cache/new", "srv", "usr", "usr/lib", "usr/lib/extra.so", "usr/lib/libc.so"],
            members.Select(m => m.Name));
        Assert.Equal((9L, 5L, 0x1B4), (members[1].Size, members[1].Uid, members[1].Mode));
    }

    [Fact]
    public async Task A_layer_that_is_not_a_tar_is_LIV4004()
    {
        var bytes = Encoding.UTF8.GetBytes(new string('x', 2000));
        var (digest, size) = await _store.PutAsync(new MemoryStream(bytes), null, null, CancellationToken.None);
        var layer = new StoredLayer(new Descriptor(MediaTypes.OciLayer, digest, size), digest, _store);
        var e = await Assert.ThrowsAsync<LivrableException>(() => FileTree.LoadAsync([layer], CancellationToken.None));
        Assert.Equal(DiagnosticCodes.InvalidArchive, e.Code);
    }
}
