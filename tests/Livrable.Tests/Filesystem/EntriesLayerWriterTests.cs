using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Layers;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;
using static Livrable.Tests.Filesystem.FsTestSupport;

namespace Livrable.Tests.Filesystem;

public sealed class EntriesLayerWriterTests : IDisposable
{
    private static readonly DateTimeOffset Epoch = new(2021, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private async Task<(StoredLayer Layer, string Blob)> WriteAsync(IReadOnlyList<FileEntry> entries, string store = "store")
    {
        var blobs = new BlobStore(_temp[store]);
        var layer = await LayerWriter.WriteAsync(new EntriesLayerSpec(entries) { CreatedBy = "test" }, new LayerWriteOptions { Epoch = Epoch }, blobs, CancellationToken.None);
        return (layer, blobs.PathOf(layer.Descriptor.Digest));
    }

    private static IReadOnlyList<FileEntry> Sample() =>
    [
        File("/app/z.txt", "zzz", uid: 1000, gid: 1001),
        File("/app/bin/tool", "#!/bin/sh\n", mode: 0x1ED),
        Link("/app/current", "bin/tool"),
        Dir("/var/tmp", mode: 0x3FF /* 01777 */),
        FileEntry.Whiteout("/etc/old.conf"),
        FileEntry.OpaqueWhiteout("/opt/cache"),
        new FileEntry("/dev/null", TarTypeFlag.CharacterDevice, 0x1B6, 0, 0) { DeviceMajor = 1, DeviceMinor = 3 },
        File("/app/a-b", "dash") with { ModificationTime = new DateTimeOffset(2001, 2, 3, 4, 5, 6, TimeSpan.Zero) },
        File("/app/late", "late") with { ModificationTime = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero) },
    ];

    [Fact]
    public async Task Python_reads_sorted_entries_with_parents_modes_owners_times_and_whiteout_names()
    {
        var (_, blob) = await WriteAsync(Sample());
        var members = await TarMember.ReadAllAsync(blob);
        string[] expected =
        [
            "app", "app/a-b", "app/bin", "app/bin/tool", "app/current", "app/late", "app/z.txt",
            "dev", "dev/null", "etc", "etc/.wh.old.conf", "opt", "opt/cache", "opt/cache/.wh..wh..opq", "var", "var/tmp",
        ];
        Assert.Equal(expected, members.Select(m => m.Name));
        var byName = members.ToDictionary(m => m.Name);
        long epoch = Epoch.ToUnixTimeSeconds();
        Assert.All(new[] { "app", "app/bin", "dev", "etc", "opt", "opt/cache", "var" }, d =>
        {
            Assert.Equal("5", byName[d].Type);
            Assert.Equal(0x1ED, byName[d].Mode);
            Assert.Equal((0L, 0L), (byName[d].Uid, byName[d].Gid));
        });
        Assert.Equal((1000L, 1001L, 0x1A4, 3L), (byName["app/z.txt"].Uid, byName["app/z.txt"].Gid, byName["app/z.txt"].Mode, byName["app/z.txt"].Size));
        Assert.Equal(0x1ED, byName["app/bin/tool"].Mode);
        Assert.Equal(("2", "bin/tool"), (byName["app/current"].Type, byName["app/current"].Linkname));
        Assert.Equal(0x3FF, byName["var/tmp"].Mode);
        Assert.Equal(("3", 1, 3), (byName["dev/null"].Type, byName["dev/null"].Devmajor, byName["dev/null"].Devminor));
        Assert.Equal(("0", 0L, 0), (byName["etc/.wh.old.conf"].Type, byName["etc/.wh.old.conf"].Size, byName["etc/.wh.old.conf"].Mode));
        Assert.Equal(new DateTimeOffset(2001, 2, 3, 4, 5, 6, TimeSpan.Zero).ToUnixTimeSeconds(), byName["app/a-b"].Mtime);
        Assert.Equal(epoch, byName["app/late"].Mtime);
        Assert.Equal(epoch, byName["app/z.txt"].Mtime);
    }

    [Fact]
    public async Task Gnu_tar_lists_and_extracts_the_layer()
    {
        var (_, blob) = await WriteAsync(Sample());
        var listing = (await Tools.RunCheckedAsync("tar", "--numeric-owner", "-tvzf", blob)).Stdout;
        var lines = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("-rw-r--r-- 1000/1001", StringComparison.Ordinal) && l.EndsWith("app/z.txt", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("drwxrwxrwt 0/0", StringComparison.Ordinal) && l.EndsWith("var/tmp/", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("lrwxrwxrwx 0/0", StringComparison.Ordinal) && l.EndsWith("app/current -> bin/tool", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("---------- 0/0", StringComparison.Ordinal) && l.EndsWith("etc/.wh.old.conf", StringComparison.Ordinal));

        string output = _temp["out"];
        Directory.CreateDirectory(output);
        await Tools.RunCheckedAsync("tar", "-C", output, "--exclude=dev/*", "-xzf", blob);
        Assert.Equal("zzz", await System.IO.File.ReadAllTextAsync(Path.Combine(output, "app", "z.txt")));
        Assert.Equal("#!/bin/sh\n", await System.IO.File.ReadAllTextAsync(Path.Combine(output, "app", "current")));
    }

    [Fact]
    public async Task Hard_links_in_the_layer_follow_the_first_name_in_sorted_order()
    {
        FileEntry[] entries =
        [
            File("/d/zeta", "shared bytes", mode: 0x1C0, uid: 7, gid: 8),
            new FileEntry("/d/alpha", TarTypeFlag.HardLink, 0, 0, 0) { LinkTarget = "/d/zeta" },
            new FileEntry("/d/mid", TarTypeFlag.HardLink, 0, 0, 0) { LinkTarget = "/d/alpha" },
        ];
        var (_, blob) = await WriteAsync(entries);
        var members = await TarMember.ReadAllAsync(blob);
        Assert.Equal(["d", "d/alpha", "d/mid", "d/zeta"], members.Select(m => m.Name));
        Assert.Equal(("0", 12L, 0x1C0, 7L), (members[1].Type, members[1].Size, members[1].Mode, members[1].Uid));
        Assert.Equal(("1", "d/alpha"), (members[2].Type, members[2].Linkname));
        Assert.Equal(("1", "d/alpha"), (members[3].Type, members[3].Linkname));

        string output = _temp["links"];
        Directory.CreateDirectory(output);
        await Tools.RunCheckedAsync("tar", "-C", output, "-xzf", blob);
        Assert.Equal("shared bytes", await System.IO.File.ReadAllTextAsync(Path.Combine(output, "d", "zeta")));
        var stat = (await Tools.RunCheckedAsync("stat", "-c", "%i %h", Path.Combine(output, "d", "alpha"), Path.Combine(output, "d", "zeta"))).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(stat[0], stat[1]);
        Assert.EndsWith(" 3", stat[0]);
    }

    [Fact]
    public async Task The_later_of_two_entries_with_one_path_wins()
    {
        var (_, blob) = await WriteAsync([File("/x", "first"), File("/x", "second!")]);
        var members = await TarMember.ReadAllAsync(blob);
        Assert.Equal(("x", 7L), (members.Single().Name, members.Single().Size));
    }

    [Fact]
    public async Task A_file_that_is_also_a_parent_is_LIV4010()
    {
        var e = await Assert.ThrowsAsync<LivrableException>(() => WriteAsync([File("/a", "file"), File("/a/b", "child")]));
        Assert.Equal(DiagnosticCodes.LayerPathConflict, e.Code);
    }

    [Fact]
    public async Task The_same_entries_give_the_same_digest()
    {
        var (a, _) = await WriteAsync(Sample(), "s1");
        var (b, _) = await WriteAsync(Sample().Reverse().ToList(), "s2");
        Assert.Equal(a.Descriptor, b.Descriptor);
        Assert.Equal(a.DiffId, b.DiffId);
    }

    [Fact]
    public async Task A_base_layer_entry_without_bytes_is_refused()
    {
        var entry = new FileEntry("/x", TarTypeFlag.RegularFile, 0x1A4, 0, 0) { Size = 4 };
        await Assert.ThrowsAsync<ArgumentException>(() => WriteAsync([entry]));
    }
}
