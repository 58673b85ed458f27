using System.Text;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Filesystem;

/// <summary>
/// <see cref="TreeSnapshot"/> answers every lookup as the <see cref="FileTree"/> it records: three layers (read from
/// their entry indexes, as a build reads cached layers) with whiteouts, an opaque folder, entries under a symbolically
/// linked parent, a folder replaced by a file and back, hard links, link loops, devices, inline passwd bytes and
/// non-ASCII names; every path of the tree and paths through links, through files, missing and looping are asked of
/// both. A damaged, foreign or truncated file reads as absent; a tree holding planned entries is not recorded.
/// </summary>
public sealed class TreeSnapshotTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private sealed class Layer(string name) : ILayer
    {
        public Descriptor Descriptor => new(MediaTypes.OciLayer, DiffId, 1);
        public Digest DiffId { get; } = Digest.Sha256(Encoding.UTF8.GetBytes(name));
        public Task<Stream> OpenAsync(CancellationToken cancellationToken) => throw new InvalidOperationException("the index holds the entries");
    }

    private static readonly DateTimeOffset Time = DateTimeOffset.FromUnixTimeSeconds(1_600_000_000);

    private static FileEntry Dir(string path, int mode = 0x1ED, long uid = 0) => new(path, TarTypeFlag.Directory, mode, uid, uid) { ModificationTime = Time };

    private static FileEntry Link(string path, string target) => new(path, TarTypeFlag.SymbolicLink, 0x1FF, 0, 0) { LinkTarget = target, ModificationTime = Time };

    private static FileEntry Hard(string path, string target) => new(path, TarTypeFlag.HardLink, 0, 0, 0) { LinkTarget = target };

    private static List<FileEntry> Files(ILayer layer, params object[] items)
    {
        var entries = new List<FileEntry>();
        foreach (var item in items)
        {
            var entry = item as FileEntry ?? new FileEntry((string)item, TarTypeFlag.RegularFile, 0x1A4, 0, 0) { Size = ((string)item).Length, ModificationTime = Time };
            if (entry.Type == TarTypeFlag.RegularFile)
            {
                var location = new LayerLocation(layer, entries.Count, entry.Name == "weird" ? "./" + entry.Path : entry.Path);
                if (entry.Name is "passwd" or "group") location = location with { Inline = Encoding.UTF8.GetBytes("root:x:0:0::/root:/bin/sh\n") };
                entry = entry with { Location = location };
            }
            entries.Add(entry);
        }
        return entries;
    }

    /// <summary>The three layers, their entries recorded in an index, as a cached chain.</summary>
    private (List<ILayer> Layers, LayerEntryIndex Index) Chain()
    {
        var l1 = new Layer("one");
        var l2 = new Layer("two");
        var l3 = new Layer("three");
        var index = new LayerEntryIndex(_temp["trees"]);
        index.Write(l1, Files(l1,
            Dir("/"), Dir("/etc"), "/etc/passwd", "/etc/group", "/etc/old.conf", Dir("/usr"), Dir("/usr/lib"), "/usr/lib/libc.so",
            Link("/lib", "usr/lib"), Link("/abs", "/usr/lib"), Link("/dotdot", "../../../usr"), Dir("/opt", 0x1E8), Dir("/opt/cache"),
            "/opt/cache/a", Dir("/opt/cache/sub"), "/opt/cache/sub/b", Dir("/data"), "/data/big", Hard("/data/hard", "/data/big"),
            "/data/h1", Hard("/data/h2", "/data/h1"), Dir("/srv"), Dir("/srv/inner"), "/srv/inner/x", Link("/loop1", "loop2"),
            Link("/loop2", "/loop1"), Link("/etc/localtime", "/usr/share/zoneinfo/UTC"), "/etc/weird", "/caf\u00e9-\u00fc\u4e2d",
            new FileEntry("/dev-null", TarTypeFlag.CharacterDevice, 0x1B6, 0, 0) { DeviceMajor = 1, DeviceMinor = 3 },
            Dir("/var"), Dir("/var/thing"), "/var/thing/t", Dir("/tmp", 0x3FF),
            new FileEntry("/bin-ping", TarTypeFlag.RegularFile, 0x1ED, 0, 0) { Size = 4, ModificationTime = Time, Capability = Convert.FromHexString("0100000200200000000000000000000000000000") },
            Hard("/bin-ping6", "/bin-ping")));
        index.Write(l2, Files(l2,
            "/etc/.wh.old.conf", "/opt/cache/.wh..wh..opq", "/opt/cache/new", "/lib/extra.so", "/srv", "/data/.wh.big",
            "/newdir/deep/file", Dir("/usr/lib", 0x1C0, 5), "/var/.wh.thing", "/var/thing"));
        index.Write(l3, Files(l3, Dir("/srv", 0x1C9, 7), "/srv/new", Link("/data/h3", "h1"), Dir("/lib/x"), "/lib/x/y"));
        return ([l1, l2, l3], index);
    }

    private static string Shown(FileEntry? e)
        => e is null ? "-" : $"{e.Path} {e.Type} {e.Mode} {e.Uid}:{e.Gid} {e.Size} {e.LinkTarget} {e.DeviceMajor},{e.DeviceMinor} {e.ModificationTime?.UtcTicks} " +
           $"{e.Location?.Layer.DiffId.Hex[..8]} {e.Location?.Ordinal} {e.Location?.Name} {(e.Location?.Inline is { } b ? Convert.ToHexString(b) : "-")} {e.HardLinks is not null} " +
           $"{(e.Capability is { } c ? Convert.ToHexString(c) : "-")}";

    private static string Ask(Func<string> question)
    {
        try
        {
            return question();
        }
        catch (LivrableException e)
        {
            return e.Code;
        }
    }

    [Fact]
    public async Task Every_lookup_is_answered_as_the_loaded_tree_answers_it()
    {
        var (layers, index) = Chain();
        var tree = await FileTree.LoadAsync(layers, Decompression.DefaultMaxBytes, index, CancellationToken.None);
        string path = Path.Combine(_temp["snapshots"], TreeSnapshot.FileName(layers));
        Assert.True(TreeSnapshot.TryWrite(path, layers, tree));
        using var snapshot = TreeSnapshot.TryOpen(path, layers);
        Assert.NotNull(snapshot);
        Assert.Equal(tree.Count, snapshot.Count);

        var questions = tree.Entries.Select(e => e.Path).Concat(
        [
            "/lib/libc.so", "/lib/extra.so", "/lib/x/y", "/abs/libc.so", "/dotdot/lib/libc.so", "/opt/cache/a", "/opt/cache/sub/b",
            "/opt/cache/sub", "/srv/inner/x", "/srv/new", "/etc/old.conf", "/data/big", "/data/h3", "/loop1", "/loop1/x", "/missing/x",
            "/etc/localtime", "/etc/passwd/x", "/lib/../etc/passwd", "/", "", "/var/thing/t", "/newdir/deep", "lib/x/", "/caf\u00e9-\u00fc",
            "/\ud800", "/" + new string('n', 600),
        ]).ToList();
        foreach (string question in questions)
        {
            Assert.Equal(Ask(() => Shown(tree.Get(question))), Ask(() => Shown(snapshot.Get(question))));
            Assert.Equal(Ask(() => Shown(tree.Resolve(question))), Ask(() => Shown(snapshot.Resolve(question))));
            Assert.Equal(Ask(() => tree.RealPath(question)), Ask(() => snapshot.RealPath(question)));
        }
        Assert.Equal(DiagnosticCodes.SymlinkLoop, Ask(() => Shown(snapshot.Resolve("/loop1"))));
        // The names of one file share one identity, as in the tree; another file has another.
        Assert.Same(snapshot.Get("/data/h1")!.HardLinks, snapshot.Get("/data/h2")!.HardLinks);
        Assert.NotSame(snapshot.Get("/data/h1")!.HardLinks, snapshot.Get("/data/hard")!.HardLinks);
        Assert.Same(layers[0], snapshot.Get("/usr/lib/libc.so")!.Location!.Layer);
        Assert.Same(snapshot.Get("/etc/passwd"), snapshot.Resolve("/etc/passwd"));
        // File capabilities are recorded (a base's /bin/ping and its other name), so a COPY --from planned on the snapshot keeps them.
        Assert.Equal("0100000200200000000000000000000000000000", Convert.ToHexStringLower(snapshot.Get("/bin-ping6")!.Capability!));
    }

    [Fact]
    public async Task A_damaged_foreign_or_truncated_snapshot_reads_as_absent()
    {
        var (layers, index) = Chain();
        var tree = await FileTree.LoadAsync(layers, Decompression.DefaultMaxBytes, index, CancellationToken.None);
        string path = Path.Combine(_temp["snapshots"], TreeSnapshot.FileName(layers));
        Assert.True(TreeSnapshot.TryWrite(path, layers, tree));
        byte[] bytes = File.ReadAllBytes(path);

        // Another chain (the same layers less one, or in another order) is not this file's.
        Assert.Null(TreeSnapshot.TryOpen(path, layers.Take(2).ToList()));
        Assert.Null(TreeSnapshot.TryOpen(path, [layers[1], layers[0], layers[2]]));
        foreach (int cut in new[] { bytes.Length - 1, 100, 47, 0 })
        {
            File.WriteAllBytes(path, bytes[..cut]);
            Assert.Null(TreeSnapshot.TryOpen(path, layers));
        }
        File.WriteAllBytes(path, [.. bytes, 0]);
        Assert.Null(TreeSnapshot.TryOpen(path, layers));
        byte[] magic = bytes.ToArray();
        magic[15] ^= 1;
        File.WriteAllBytes(path, magic);
        Assert.Null(TreeSnapshot.TryOpen(path, layers));
        File.Delete(path);
        Assert.Null(TreeSnapshot.TryOpen(path, layers));
    }

    [Fact]
    public async Task A_snapshot_written_in_another_boot_reads_as_absent()
    {
        var (layers, index) = Chain();
        var tree = await FileTree.LoadAsync(layers, Decompression.DefaultMaxBytes, index, CancellationToken.None);
        string path = Path.Combine(_temp["snapshots"], TreeSnapshot.FileName(layers));
        using (BootId.Use(() => "11111111-1111-4111-8111-111111111111"))
            Assert.True(TreeSnapshot.TryWrite(path, layers, tree));
        using (BootId.Use(() => "11111111-1111-4111-8111-111111111111"))
            TreeSnapshot.TryOpen(path, layers)!.Dispose();
        // Not flushed to disk: after a reboot its bytes may be lost, so the snapshot is not trusted.
        using (BootId.Use(() => "22222222-2222-4222-8222-222222222222"))
            Assert.Null(TreeSnapshot.TryOpen(path, layers));
        using (BootId.Use(() => null))
        {
            Assert.Null(TreeSnapshot.TryOpen(path, layers));
            Assert.False(TreeSnapshot.TryWrite(path + ".none", layers, tree));
        }
    }

    [Fact]
    public async Task A_tree_holding_a_steps_planned_entries_is_not_recorded()
    {
        var (layers, index) = Chain();
        var tree = await FileTree.LoadAsync(layers, Decompression.DefaultMaxBytes, index, CancellationToken.None);
        var planned = tree.With([new FileEntry("/app/main.py", TarTypeFlag.RegularFile, 0x1A4, 0, 0) { Size = 1, Open = _ => Task.FromResult<Stream>(new MemoryStream([1])) }]);
        string path = Path.Combine(_temp["snapshots"], "planned.tree");
        Assert.False(TreeSnapshot.TryWrite(path, layers, planned));
        // Nor one whose bytes lie in a layer that is not the chain's.
        Assert.False(TreeSnapshot.TryWrite(path, layers.Take(2).ToList(), tree));
        Assert.False(File.Exists(path));
        Assert.False(Directory.Exists(_temp["snapshots"]) && Directory.GetFiles(_temp["snapshots"]).Length > 0);
    }
}
