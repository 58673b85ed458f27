using System.Formats.Tar;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using TarWriter = System.Formats.Tar.TarWriter;
using Livrable.Runtime;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;
using Livrable.Interop;

namespace Livrable.Tests.Runtime;

/// <summary>
/// Layers extracted as overlay lower folders: overlay's whiteout forms, owners, links as written, and the hostile
/// layers that broke other builders (a symbolic link to the host followed by a file written through it, a <c>..</c>
/// name, hard links to host paths), each refused with nothing written outside the extraction root.
/// </summary>
public sealed class LayerRootfsTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public LayerRootfsTests() => _store = new BlobStore(_temp["state"]);

    public void Dispose() => _temp.Dispose();

    /// <summary>An uncompressed layer made of the entries <paramref name="write"/> adds.</summary>
    internal static async Task<ILayer> LayerAsync(BlobStore store, Action<TarWriter> write)
    {
        var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true)) write(writer);
        byte[] bytes = buffer.ToArray();
        var (digest, size) = await store.PutAsync(bytes, CancellationToken.None);
        return new StoredLayer(new Descriptor(MediaTypes.OciLayer, digest, size), digest, store);
    }

    internal static void File(TarWriter writer, string name, string content, UnixFileMode mode = (UnixFileMode)0b110_100_100, int uid = 0)
        => writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name)
        {
            DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)),
            Mode = mode,
            Uid = uid,
            Gid = uid,
        });

    internal static void Entry(TarWriter writer, TarEntryType type, string name, string? link = null)
    {
        var entry = new PaxTarEntry(type, name) { Mode = (UnixFileMode)0b111_101_101 };
        if (link is not null) entry.LinkName = link;
        writer.WriteEntry(entry);
    }

    [Fact]
    public async Task A_layer_is_extracted_with_overlay_whiteouts_owners_and_links_as_written()
    {
        var layer = await LayerAsync(_store, w =>
        {
            Entry(w, TarEntryType.Directory, "app/");
            File(w, "app/tool", "x", (UnixFileMode)0b100_111_101_101, uid: 1000);
            Entry(w, TarEntryType.HardLink, "app/tool-link", "app/tool");
            Entry(w, TarEntryType.SymbolicLink, "lib", "/usr/lib");
            File(w, ".wh.gone", "");
            Entry(w, TarEntryType.Directory, "replaced/");
            File(w, "replaced/.wh..wh..opq", "");
        });
        var rootfs = new LayerRootfs(_store.Root, NullLogger.Instance);

        string dir = await rootfs.EnsureAsync(layer, CancellationToken.None);

        Assert.Equal(Path.Combine(_store.Root, "rootfs", layer.DiffId.Hex), dir);
        Assert.True(System.IO.File.Exists(dir + ".done"));
        var tool = UnixFileStatus.TryRead(Path.Combine(dir, "app", "tool"))!.Value;
        Assert.Equal(0b100_111_101_101, tool.Mode);
        Assert.Equal(1000u, tool.Uid);
        Assert.Equal(tool.Inode, UnixFileStatus.TryRead(Path.Combine(dir, "app", "tool-link"))!.Value.Inode);
        Assert.Equal("/usr/lib", new FileInfo(Path.Combine(dir, "lib")).LinkTarget);
        var gone = UnixFileStatus.TryRead(Path.Combine(dir, "gone"))!.Value;
        Assert.Equal(UnixFileKind.CharacterDevice, gone.Kind);
        Assert.Equal((0, 0), (gone.DeviceMajor, gone.DeviceMinor));
        Assert.Equal("y"u8.ToArray(), Native.ReadXattr(Path.Combine(dir, "replaced"), "trusted.overlay.opaque"));
        Assert.False(System.IO.File.Exists(Path.Combine(dir, "replaced", ".wh..wh..opq")));
        // Once per diff id: a second call (and a concurrent one) finds it.
        var again = await Task.WhenAll(rootfs.EnsureAsync(layer, CancellationToken.None), rootfs.EnsureAsync(layer, CancellationToken.None));
        Assert.All(again, d => Assert.Equal(dir, d));
    }

    public static TheoryData<string> Hostile => new() { "symlink-absolute", "symlink-relative", "dotdot", "hardlink-host", "hardlink-through-symlink", "hardlink-dotdot" };

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task A_hostile_layer_is_refused_and_nothing_outside_changes(string kind)
    {
        string outside = _temp["outside"];
        Directory.CreateDirectory(outside);
        string sentinel = Path.Combine(outside, "sentinel.txt");
        System.IO.File.WriteAllText(sentinel, "untouched\n");
        var layer = await LayerAsync(_store, w =>
        {
            switch (kind)
            {
                case "symlink-absolute":
                    Entry(w, TarEntryType.SymbolicLink, "evil", outside);
                    File(w, "evil/pwned.txt", "pwned");
                    break;
                case "symlink-relative":
                    Entry(w, TarEntryType.SymbolicLink, "evil", "../../../../../../../../" + outside.TrimStart('/'));
                    File(w, "evil/sentinel.txt", "pwned");
                    break;
                case "dotdot":
                    File(w, "a/../../../../outside/sentinel.txt", "pwned");
                    break;
                case "hardlink-host":
                    Entry(w, TarEntryType.HardLink, "stolen", sentinel);
                    break;
                case "hardlink-through-symlink":
                    Entry(w, TarEntryType.SymbolicLink, "out", outside);
                    Entry(w, TarEntryType.HardLink, "stolen", "out/sentinel.txt");
                    break;
                case "hardlink-dotdot":
                    Entry(w, TarEntryType.HardLink, "stolen", "../../outside/sentinel.txt");
                    break;
            }
        });
        var before = Directory.GetFileSystemEntries(_temp.Path, "*", SearchOption.TopDirectoryOnly).Order().ToList();

        var e = await Assert.ThrowsAsync<LivrableException>(() => new LayerRootfs(_store.Root, NullLogger.Instance).EnsureAsync(layer, CancellationToken.None));

        Assert.Equal("LIV5006", e.Code);
        Assert.Equal(["sentinel.txt"], Directory.GetFileSystemEntries(outside).Select(Path.GetFileName));
        Assert.Equal("untouched\n", System.IO.File.ReadAllText(sentinel));
        Assert.Equal(1u, UnixFileStatus.TryRead(sentinel)!.Value.LinkCount);
        Assert.Equal(before, Directory.GetFileSystemEntries(_temp.Path, "*", SearchOption.TopDirectoryOnly).Order().ToList());
        // No half-extracted layer is left under its final name.
        Assert.False(Directory.Exists(Path.Combine(_store.Root, "rootfs", layer.DiffId.Hex)));
        Assert.Empty(Directory.GetDirectories(Path.Combine(_store.Root, "rootfs"), "tmp-*"));
    }
}
