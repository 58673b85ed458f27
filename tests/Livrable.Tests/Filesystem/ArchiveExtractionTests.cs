using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Layers;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Filesystem;

/// <summary>Archives made by GNU tar and compressed by gzip, bzip2, xz and zstd; hostile ones made by python's tarfile.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ArchiveExtractionTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static Func<CancellationToken, Task<Stream>> OpenFile(string path) => _ => Task.FromResult<Stream>(System.IO.File.OpenRead(path));

    /// <summary>A tar by GNU tar of a small tree (files with modes, a link, a hard link, a fifo, a folder), compressed by <paramref name="compressor"/>.</summary>
    private async Task<string> ArchiveAsync(string? compressor)
    {
        string source = _temp["src"];
        if (!Directory.Exists(source))
        {
            Directory.CreateDirectory(Path.Combine(source, "pkg", "bin"));
            await System.IO.File.WriteAllTextAsync(Path.Combine(source, "pkg", "README"), "read me\n");
            await System.IO.File.WriteAllTextAsync(Path.Combine(source, "pkg", "bin", "run"), "#!/bin/sh\necho run\n");
            System.IO.File.SetUnixFileMode(Path.Combine(source, "pkg", "bin", "run"), (UnixFileMode)0x1ED);
            System.IO.File.SetUnixFileMode(Path.Combine(source, "pkg", "README"), (UnixFileMode)0x180);
            System.IO.File.CreateSymbolicLink(Path.Combine(source, "pkg", "latest"), "bin/run");
            await Tools.RunCheckedAsync("ln", Path.Combine(source, "pkg", "README"), Path.Combine(source, "pkg", "README.hard"));
            await Tools.RunCheckedAsync("mkfifo", Path.Combine(source, "pkg", "pipe"));
        }
        string tar = _temp[$"a-{Guid.NewGuid():N}.tar"];
        await Tools.RunCheckedAsync("tar", "-C", source, "--sort=name", "--owner=12", "--group=34", "--numeric-owner", "--mtime=@1000000000", "-cf", tar, "pkg");
        if (compressor is null) return tar;
        await Tools.RunCheckedAsync(compressor, compressor == "zstd" ? ["-q", tar] : ["-k", tar]);
        return tar + compressor switch { "gzip" => ".gz", "bzip2" => ".bz2", "xz" => ".xz", _ => ".zst" };
    }

    [Theory]
    [InlineData(null)]
    [InlineData("gzip")]
    [InlineData("bzip2")]
    [InlineData("xz")]
    [InlineData("zstd")]
    public async Task Extracts_what_python_tarfile_reads(string? compressor)
    {
        string archive = await ArchiveAsync(compressor);
        // The name never matters: the content does.
        string renamed = _temp[$"blob-{compressor ?? "plain"}.txt"];
        if (compressor is null) System.IO.File.Copy(archive, _temp["plain-copy.tar"]);
        System.IO.File.Move(archive, renamed);
        Assert.True(await ArchiveExtraction.IsArchiveAsync(OpenFile(renamed), CancellationToken.None));

        var entries = await ArchiveExtraction.ExtractAsync(OpenFile(renamed), "/opt/dest/", _temp["tmp"], 1 << 20, CancellationToken.None);
        // python's tarfile reads the tar before compression (it has no zstd before 3.14).
        var members = await TarMember.ReadAllAsync(compressor is null ? _temp["plain-copy.tar"] : Path.ChangeExtension(archive, null));

        Assert.Equal(members.Select(m => "/opt/dest/" + m.Name), entries.Select(e => e.Path));
        foreach (var (member, entry) in members.Zip(entries))
        {
            Assert.Equal(member.Type, ((char)(byte)entry.Type).ToString());
            Assert.Equal(member.Mode, entry.Mode);
            Assert.Equal((12L, 34L), (entry.Uid, entry.Gid));
            Assert.Equal(1000000000L, entry.ModificationTime!.Value.ToUnixTimeSeconds());
            if (entry.Type == TarTypeFlag.RegularFile) Assert.Equal(member.Size, entry.Size);
        }
        var byPath = entries.ToDictionary(e => e.Path);
        Assert.Equal("#!/bin/sh\necho run\n", await FsTestSupport.ReadAsync(byPath["/opt/dest/pkg/bin/run"]));
        Assert.Equal(0x1ED, byPath["/opt/dest/pkg/bin/run"].Mode);
        Assert.Equal("bin/run", byPath["/opt/dest/pkg/latest"].LinkTarget);
        Assert.Equal(TarTypeFlag.Fifo, byPath["/opt/dest/pkg/pipe"].Type);
        var hard = byPath["/opt/dest/pkg/README.hard"];
        Assert.Equal((TarTypeFlag.HardLink, "/opt/dest/pkg/README"), (hard.Type, hard.LinkTarget));
        Assert.All(Directory.GetFiles(_temp["tmp"]), f => Assert.StartsWith(_temp["tmp"], f, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Extracted_entries_make_a_layer_that_GNU_tar_extracts_with_the_hard_link()
    {
        string archive = await ArchiveAsync("zstd");
        var entries = await ArchiveExtraction.ExtractAsync(OpenFile(archive), "/opt", _temp["tmp"], 1 << 20, CancellationToken.None);
        var store = new Livrable.Store.BlobStore(_temp["store"]);
        var layer = await LayerWriter.WriteAsync(new EntriesLayerSpec(entries) { CreatedBy = "ADD" },
            new LayerWriteOptions { Epoch = new DateTimeOffset(2021, 1, 1, 0, 0, 0, TimeSpan.Zero) }, store, CancellationToken.None);
        string output = _temp["out"];
        Directory.CreateDirectory(output);
        await Tools.RunCheckedAsync("tar", "-C", output, "-xzf", store.PathOf(layer.Descriptor.Digest));
        Assert.Equal("read me\n", await System.IO.File.ReadAllTextAsync(Path.Combine(output, "opt", "pkg", "README.hard")));
        var inodes = (await Tools.RunCheckedAsync("stat", "-c", "%i", Path.Combine(output, "opt", "pkg", "README"), Path.Combine(output, "opt", "pkg", "README.hard"))).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(inodes[0], inodes[1]);
        var members = await TarMember.ReadAllAsync(store.PathOf(layer.Descriptor.Digest));
        // 2001-09-09 (the archive's times) is before the epoch, so it is kept.
        Assert.All(members.Where(m => m.Name.StartsWith("opt/pkg", StringComparison.Ordinal)), m => Assert.Equal(1000000000L, m.Mtime));
    }

    [Theory]
    [InlineData("text")]
    [InlineData("gzip-text")]
    [InlineData("empty")]
    [InlineData("empty-tar")]
    [InlineData("zip-like")]
    public async Task Other_content_is_not_an_archive(string kind)
    {
        string path = _temp[kind];
        switch (kind)
        {
            case "text": await System.IO.File.WriteAllTextAsync(path, string.Concat(Enumerable.Repeat("not a tar at all, just text\n", 100))); break;
            case "gzip-text":
                await System.IO.File.WriteAllTextAsync(_temp["plain"], string.Concat(Enumerable.Repeat("text\n", 300)));
                await using (var output = System.IO.File.Create(path))
                    (await Tools.RunAsync("gzip", ["-c", _temp["plain"]], stdout: output)).EnsureSuccess();
                break;
            case "empty": await System.IO.File.WriteAllBytesAsync(path, []); break;
            case "empty-tar": await System.IO.File.WriteAllBytesAsync(path, new byte[10240]); break;
            default: await System.IO.File.WriteAllBytesAsync(path, [0x50, 0x4B, 3, 4, .. new byte[600]]); break;
        }
        Assert.False(await ArchiveExtraction.IsArchiveAsync(OpenFile(path), CancellationToken.None));
    }

    private async Task<string> PythonTarAsync(string name, string body)
    {
        string path = _temp[name];
        string script = "import io, sys, tarfile\nt = tarfile.open(sys.argv[1], 'w:gz')\n" + body + "\nt.close()\n";
        await Tools.RunCheckedAsync("python3", "-c", script, path);
        return path;
    }

    private const string AddFile = "def add(name, data=b'x', kind=tarfile.REGTYPE, link=''):\n"
        + "    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data) if kind == tarfile.REGTYPE else 0\n"
        + "    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)\n";

    [Theory]
    [InlineData("add('ok'); add('../evil')")]
    [InlineData("add('a/../../evil')")]
    [InlineData("add('ok'); add('link', kind=tarfile.LNKTYPE, link='../../etc/passwd')")]
    public async Task Names_that_climb_out_are_LIV4070(string body)
    {
        string archive = await PythonTarAsync("evil.tgz", AddFile + body);
        Assert.True(await ArchiveExtraction.IsArchiveAsync(OpenFile(archive), CancellationToken.None));
        var e = await Assert.ThrowsAsync<LivrableException>(() => ArchiveExtraction.ExtractAsync(OpenFile(archive), "/dest", _temp["tmp"], 1 << 20, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.UnsafeArchivePath, e.Code);
    }

    [Fact]
    public async Task Absolute_names_count_from_the_destination_and_devices_are_kept()
    {
        string archive = await PythonTarAsync("abs.tgz", AddFile
            + "add('/abs/file', b'abs'); add('./'.rstrip('/') or '.', kind=tarfile.DIRTYPE)\n"
            + "d = tarfile.TarInfo('dev/null'); d.type = tarfile.CHRTYPE; d.devmajor = 1; d.devminor = 3; d.mode = 0o666; t.addfile(d)\n"
            + "add('abs/file', b'later wins')");
        var entries = await ArchiveExtraction.ExtractAsync(OpenFile(archive), "/", _temp["tmp"], 1 << 20, CancellationToken.None);
        Assert.Equal(["/abs/file", "/dev/null"], entries.Select(e => e.Path));
        Assert.Equal("later wins", await FsTestSupport.ReadAsync(entries[0]));
        Assert.Equal((TarTypeFlag.CharacterDevice, 1, 3, 0x1B6), (entries[1].Type, entries[1].DeviceMajor, entries[1].DeviceMinor, entries[1].Mode));
    }

    [Fact]
    public async Task A_hard_link_to_no_earlier_file_is_LIV4004()
    {
        string archive = await PythonTarAsync("dangling.tgz", AddFile + "add('link', kind=tarfile.LNKTYPE, link='later'); add('later')");
        var e = await Assert.ThrowsAsync<LivrableException>(() => ArchiveExtraction.ExtractAsync(OpenFile(archive), "/d", _temp["tmp"], 1 << 20, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.InvalidArchive, e.Code);
    }

    [Fact]
    public async Task A_bomb_over_the_cap_is_LIV4073()
    {
        string zeros = _temp["zeros"];
        await using (var file = System.IO.File.Create(zeros)) file.SetLength(64L << 20);
        string tar = _temp["bomb.tar"];
        await Tools.RunCheckedAsync("tar", "-C", _temp.Path, "-cf", tar, "zeros");
        await Tools.RunCheckedAsync("xz", "-1", "-T1", tar);
        Assert.True(new FileInfo(tar + ".xz").Length < 1 << 20);

        var e = await Assert.ThrowsAsync<LivrableException>(() => ArchiveExtraction.ExtractAsync(OpenFile(tar + ".xz"), "/d", _temp["tmp"], 8L << 20, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.ArchiveTooLarge, e.Code);
        var entries = await ArchiveExtraction.ExtractAsync(OpenFile(tar + ".xz"), "/d", _temp["tmp2"], 80L << 20, CancellationToken.None);
        Assert.Equal(64L << 20, entries.Single().Size);
    }

    [Fact]
    public async Task A_corrupt_compressed_archive_is_LIV4004()
    {
        string archive = await ArchiveAsync("gzip");
        byte[] bytes = await System.IO.File.ReadAllBytesAsync(archive);
        for (int i = 40; i < bytes.Length - 20; i++) bytes[i] ^= 0x5A;
        await System.IO.File.WriteAllBytesAsync(archive, bytes);
        var e = await Assert.ThrowsAsync<LivrableException>(() => ArchiveExtraction.ExtractAsync(OpenFile(archive), "/d", _temp["tmp"], 1 << 20, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.InvalidArchive, e.Code);
    }
}
