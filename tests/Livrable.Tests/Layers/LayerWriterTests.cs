using System.IO.Compression;
using System.Security.Cryptography;
using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;
using Xunit;
using Livrable.Tests.Infrastructure;

namespace Livrable.Tests.Layers;

public sealed class LayerWriterTests : IDisposable
{
    private static readonly DateTimeOffset Epoch = new(2021, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly LayerWriteOptions Options = new() { Epoch = Epoch };
    private const int Executable = 0x1ED, Regular = 0x1A4; // 0755, 0644
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private async Task<(StoredLayer Layer, string Blob)> WriteAsync(LayerSpec spec, string store = "store", LayerWriteOptions? options = null)
    {
        var blobs = new BlobStore(_temp[store]);
        var layer = await LayerWriter.WriteAsync(spec, options ?? Options, blobs, CancellationToken.None);
        Assert.Empty(Directory.GetFiles(blobs.TempDirectory));
        return (layer, blobs.PathOf(layer.Descriptor.Digest));
    }

    private static string Write(string path, string content, DateTime mtime, bool executable = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, executable ? (UnixFileMode)0x1FD /* 0775 */ : (UnixFileMode)0x1B4 /* 0664 */);
        File.SetLastWriteTimeUtc(path, mtime);
        return path;
    }

    /// <summary>The publish output of a small app, in <paramref name="folder"/>, with the given file times.</summary>
    private FilesLayerSpec App(string folder, DateTime mtime)
    {
        string root = _temp[folder];
        var files = new[]
        {
            new LayerFile(Write(Path.Combine(root, "sub", "data.json"), "{\"a\":1}", mtime), "/app/sub/data.json"),
            new LayerFile(Write(Path.Combine(root, "hello"), "#!/bin/sh\necho hello\n", mtime, executable: true), "/app/hello"),
            new LayerFile(Write(Path.Combine(root, "hello.dll"), new string('x', 100_000), mtime), "/app/hello.dll"),
        };
        return new FilesLayerSpec(folder == "a" ? files : files.Reverse().ToList()) { CreatedBy = "test" };
    }

    [Fact]
    public async Task The_same_files_in_other_folders_with_other_times_give_the_same_layer()
    {
        var (a, _) = await WriteAsync(App("a", new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc)), "store-a");
        var (b, _) = await WriteAsync(App("b", new DateTime(2024, 6, 6, 6, 6, 6, DateTimeKind.Utc)), "store-b");

        Assert.Equal(a.DiffId, b.DiffId);
        Assert.Equal(a.Descriptor, b.Descriptor);
        Assert.Equal(MediaTypes.OciLayerGzip, a.Descriptor.MediaType);
        Assert.NotEqual(a.DiffId, a.Descriptor.Digest);
    }

    [Fact]
    public async Task The_stored_blob_matches_its_descriptor_and_diff_id()
    {
        var (layer, blob) = await WriteAsync(App("a", DateTime.UtcNow));
        byte[] bytes;
        await using (var stream = await layer.OpenAsync(CancellationToken.None))
        {
            var copy = new MemoryStream();
            await stream.CopyToAsync(copy);
            bytes = copy.ToArray();
        }
        Assert.Equal(layer.Descriptor.Size, bytes.Length);
        Assert.Equal(layer.Descriptor.Digest, Digest.Sha256(bytes));
        Assert.Equal(await File.ReadAllBytesAsync(blob), bytes);

        var tar = new MemoryStream();
        await new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress).CopyToAsync(tar);
        Assert.Equal(layer.DiffId, Digest.Sha256(tar.ToArray()));
    }

    [Fact]
    public async Task A_files_layer_is_sorted_with_parents_epoch_times_root_owner_and_real_exec_bits()
    {
        var (_, blob) = await WriteAsync(App("a", DateTime.UtcNow));

        string listing = (await Tools.RunCheckedAsync("tar", "--numeric-owner", "-tvzf", blob)).Stdout;
        string[] lines = listing.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
        [
            "drwxr-xr-x 0/0               0 2021-01-01 00:00 app/",
            "-rwxr-xr-x 0/0              21 2021-01-01 00:00 app/hello",
            "-rw-r--r-- 0/0          100000 2021-01-01 00:00 app/hello.dll",
            "drwxr-xr-x 0/0               0 2021-01-01 00:00 app/sub/",
            "-rw-r--r-- 0/0               7 2021-01-01 00:00 app/sub/data.json",
        ], lines);

        var members = await TarMember.ReadAllAsync(blob);
        Assert.Equal(["app", "app/hello", "app/hello.dll", "app/sub", "app/sub/data.json"], members.Select(m => m.Name));
        Assert.All(members, m => Assert.Equal((0L, 0L, "", "", Epoch.ToUnixTimeSeconds()), (m.Uid, m.Gid, m.Uname, m.Gname, m.Mtime)));
        Assert.Equal([Executable, Executable, Regular, Executable, Regular], members.Select(m => m.Mode));
        Assert.All(members, m => Assert.Empty(m.Pax));
    }

    [Fact]
    public async Task A_files_layer_takes_the_owner_from_the_spec()
    {
        var spec = App("a", DateTime.UtcNow) with { Uid = 1000, Gid = 1001 };
        var (_, blob) = await WriteAsync(spec);
        Assert.All(await TarMember.ReadAllAsync(blob), m => Assert.Equal((1000L, 1001L), (m.Uid, m.Gid)));
    }

    [Fact]
    public async Task A_folder_layer_keeps_long_and_unicode_names_symlinks_and_hardlinks()
    {
        string source = _temp["site"];
        string longDirectory = Path.Combine(source, string.Join('/', Enumerable.Range(0, 12).Select(i => $"level-{i:D3}")));
        string longFile = Write(Path.Combine(longDirectory, new string('f', 110) + ".txt"), "deep", DateTime.UtcNow);
        Write(Path.Combine(source, "données", "日本.txt"), "unicode", DateTime.UtcNow);
        Write(Path.Combine(source, "bin", "tool"), "tool", DateTime.UtcNow, executable: true);
        File.CreateSymbolicLink(Path.Combine(source, "bin", "tool-link"), "tool");
        File.CreateSymbolicLink(Path.Combine(source, "dangling"), "/nowhere/at/all");
        await Tools.RunCheckedAsync("ln", Path.Combine(source, "bin", "tool"), Path.Combine(source, "zz-hard"));

        var spec = new DirectoryLayerSpec(source, "/opt/site") { CreatedBy = "test" };
        var (_, blob) = await WriteAsync(spec);

        string relativeLong = Path.GetRelativePath(source, longFile).Replace('\\', '/');
        Assert.True(("opt/site/" + relativeLong).Length > 150);
        var members = await TarMember.ReadAllAsync(blob);
        var names = members.Select(m => m.Name).ToList();
        Assert.Equal(["opt", "opt/site", "opt/site/bin", "opt/site/bin/tool", "opt/site/bin/tool-link", "opt/site/dangling", "opt/site/données"],
            names.Take(7));
        Assert.Contains("opt/site/" + relativeLong, names);
        Assert.Contains("opt/site/données/日本.txt", names);
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
        var byName = members.ToDictionary(m => m.Name);
        Assert.Equal(("2", "tool"), (byName["opt/site/bin/tool-link"].Type, byName["opt/site/bin/tool-link"].Linkname));
        Assert.Equal(("2", "/nowhere/at/all"), (byName["opt/site/dangling"].Type, byName["opt/site/dangling"].Linkname));
        Assert.Equal(("0", Executable), (byName["opt/site/bin/tool"].Type, byName["opt/site/bin/tool"].Mode));
        Assert.Equal(("1", "opt/site/bin/tool"), (byName["opt/site/zz-hard"].Type, byName["opt/site/zz-hard"].Linkname));
        Assert.All(members, m => Assert.Equal((0L, 0L, Epoch.ToUnixTimeSeconds()), (m.Uid, m.Gid, m.Mtime)));

        string gnu = (await Tools.RunCheckedAsync("tar", "-tvzf", blob)).Stdout;
        Assert.Contains("opt/site/zz-hard link to opt/site/bin/tool", gnu);
        Assert.Contains("opt/site/données/日本.txt", gnu);
        Assert.Contains("opt/site/" + relativeLong, gnu);

        string extracted = _temp["extracted"];
        Directory.CreateDirectory(extracted);
        await Tools.RunCheckedAsync("tar", "-xzf", blob, "-C", extracted);
        string site = Path.Combine(extracted, "opt", "site");
        Assert.Equal("deep", File.ReadAllText(Path.Combine(site, relativeLong)));
        Assert.Equal("unicode", File.ReadAllText(Path.Combine(site, "données", "日本.txt")));
        Assert.Equal("tool", new FileInfo(Path.Combine(site, "bin", "tool-link")).LinkTarget);
        Assert.Equal("tool", File.ReadAllText(Path.Combine(site, "zz-hard")));
        string inodes = await Tools.PythonAsync("import os, sys; print(os.stat(sys.argv[1]).st_ino == os.stat(sys.argv[2]).st_ino)",
            Path.Combine(site, "bin", "tool"), Path.Combine(site, "zz-hard"));
        Assert.Equal("True", inodes.Trim());
    }

    [Fact]
    public async Task The_same_folder_copied_elsewhere_later_gives_the_same_layer()
    {
        foreach (var (folder, time) in new[] { ("one", new DateTime(2010, 1, 1)), ("two", new DateTime(2023, 3, 3)) })
        {
            string root = _temp[folder];
            var names = new[] { "b/x.txt", "a.txt", "a-b/y.txt", "a/z.txt" };
            foreach (string name in folder == "one" ? names : names.Reverse())
                Write(Path.Combine(root, name), name, DateTime.SpecifyKind(time, DateTimeKind.Utc), executable: name.StartsWith('a'));
        }
        var (one, blob) = await WriteAsync(new DirectoryLayerSpec(_temp["one"], "/") { CreatedBy = "test" }, "s1");
        var (two, _) = await WriteAsync(new DirectoryLayerSpec(_temp["two"], "/") { CreatedBy = "test" }, "s2");
        Assert.Equal(one.DiffId, two.DiffId);
        Assert.Equal(one.Descriptor, two.Descriptor);
        // Byte order: '-' (0x2D) sorts before '.' and '/', so "a-b/" comes before "a.txt" and "a/".
        string listing = (await Tools.RunCheckedAsync("tar", "-tzf", blob)).Stdout;
        Assert.Equal(["a-b/", "a-b/y.txt", "a.txt", "a/", "a/z.txt", "b/", "b/x.txt"], listing.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private async Task<string> MakeTarAsync(string name, string python)
    {
        string path = _temp[name];
        await Tools.PythonAsync($$"""
            import io, sys, tarfile
            def add(t, name, type=tarfile.REGTYPE, data=b'', **kw):
                i = tarfile.TarInfo(name); i.type = type; i.size = len(data); i.mtime = kw.pop('mtime', 1000)
                for k, v in kw.items(): setattr(i, k, v)
                t.addfile(i, io.BytesIO(data) if data else None)
            mode = 'w:gz' if sys.argv[1].endswith('.tgz') else ('w:bz2' if sys.argv[1].endswith('.bz2') else 'w')
            with tarfile.open(sys.argv[1], mode, format=tarfile.GNU_FORMAT) as t:
            {{string.Join('\n', python.Split('\n').Select(l => "    " + l))}}
            """, path);
        return path;
    }

    private const string Rootfs = """
        add(t, './', tarfile.DIRTYPE, mode=0o750)
        add(t, './usr/', tarfile.DIRTYPE, mode=0o755)
        add(t, './usr/bin/', tarfile.DIRTYPE, mode=0o755)
        add(t, './usr/bin/tool', data=b'#!/bin/sh\n', mode=0o4755, mtime=4102444800)
        add(t, './usr/bin/tool2', tarfile.LNKTYPE, linkname='./usr/bin/tool', mode=0o4755)
        add(t, './etc/', tarfile.DIRTYPE, mode=0o755)
        add(t, './etc/shadow', data=b'root:*:1::::::\n', mode=0o640, uid=0, gid=42, uname='root', gname='shadow')
        add(t, './dev/', tarfile.DIRTYPE, mode=0o755)
        add(t, './dev/null', tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
        add(t, './dev/initctl', tarfile.FIFOTYPE, mode=0o600)
        add(t, './bin', tarfile.SYMTYPE, linkname='usr/bin', mode=0o777)
        add(t, './home/daemon/', tarfile.DIRTYPE, mode=0o700, uid=1, gid=1, uname='daemon', gname='daemon')
        """;

    [Theory]
    [InlineData("rootfs.tgz", "/")]
    [InlineData("rootfs.tar", "/")]
    [InlineData("rootfs.tgz", "/opt/root")]
    public async Task A_tar_layer_keeps_order_types_owners_modes_and_devices_and_clamps_times(string file, string destination)
    {
        string tar = await MakeTarAsync(file, Rootfs);
        var (_, blob) = await WriteAsync(new TarLayerSpec(tar, destination) { CreatedBy = "test" });

        string prefix = destination == "/" ? "" : "opt/root/";
        var members = await TarMember.ReadAllAsync(blob);
        string[] expected = ["usr", "usr/bin", "usr/bin/tool", "usr/bin/tool2", "etc", "etc/shadow", "dev", "dev/null", "dev/initctl", "bin", "home/daemon"];
        Assert.Equal(
            (destination == "/" ? [] : new[] { "opt", "opt/root" }).Concat(expected.Select(e => prefix + e)),
            members.Select(m => m.Name));
        var m = members.Where(x => x.Name.StartsWith(prefix, StringComparison.Ordinal) && x.Name.Length > prefix.Length).ToDictionary(x => x.Name[prefix.Length..]);
        Assert.Equal(("0", 0x9ED, Epoch.ToUnixTimeSeconds()), (m["usr/bin/tool"].Type, m["usr/bin/tool"].Mode, m["usr/bin/tool"].Mtime)); // 04755, clamped from 2100
        Assert.Equal(1000, m["etc/shadow"].Mtime); // earlier than the epoch: kept
        Assert.Equal(("1", prefix + "usr/bin/tool"), (m["usr/bin/tool2"].Type, m["usr/bin/tool2"].Linkname));
        Assert.Equal((0x1A0, 42L, "root", "shadow"), (m["etc/shadow"].Mode, m["etc/shadow"].Gid, m["etc/shadow"].Uname, m["etc/shadow"].Gname));
        Assert.Equal(("3", 1, 3, 0x1B6), (m["dev/null"].Type, m["dev/null"].Devmajor, m["dev/null"].Devminor, m["dev/null"].Mode));
        Assert.Equal("6", m["dev/initctl"].Type);
        Assert.Equal(("2", "usr/bin"), (m["bin"].Type, m["bin"].Linkname));
        Assert.Equal((0x1C0, 1L, "daemon"), (m["home/daemon"].Mode, m["home/daemon"].Uid, m["home/daemon"].Uname));
        if (destination != "/") Assert.Equal(0x1E8, members[1].Mode); // 0750: the archive's "./" became the destination

        string extracted = _temp["x"];
        Directory.CreateDirectory(extracted);
        await Tools.RunCheckedAsync("tar", "-xf", blob, "-C", extracted, "--exclude=dev");
        Assert.Equal("#!/bin/sh\n", File.ReadAllText(Path.Combine(extracted, prefix, "usr", "bin", "tool2")));
    }

    /// <summary>
    /// A <c>ContainerLayer</c> tar's file capabilities are kept as the same tar given to ADD in BuildKit keeps them
    /// (<c>FileCapabilityDifferentialTests</c>): the <c>security.capability</c> records of files and hard links, as
    /// their bytes (a value over 0x7F included), revision 3 as revision 2; a <c>user.*</c> record and a folder's
    /// capability record are not carried (BuildKit's differ reads <c>security.capability</c> of files only). Read
    /// back by python's tarfile.
    /// </summary>
    [Fact]
    public async Task A_tar_layer_keeps_file_capabilities_and_no_other_extended_attribute()
    {
        const string Wide = "0100000280000080000000000000000000000000"; // bytes over 0x7F, as TarWriterTests' value
        const string V3 = "0100000300040000000000000000000000000000e8030000"; // cap_net_bind_service, namespace root 1000
        string tar = _temp["caps.tar"];
        await Tools.PythonAsync("""
            import io, sys, tarfile
            def cap(h): return bytes.fromhex(h).decode('utf-8', 'surrogateescape')
            with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:
                def add(name, pax, type=tarfile.REGTYPE, data=b'', **kw):
                    i = tarfile.TarInfo(name); i.type = type; i.size = len(data); i.mode = 0o755; i.pax_headers = pax
                    for k, v in kw.items(): setattr(i, k, v)
                    t.addfile(i, io.BytesIO(data) if data else None)
                add('bin', {'SCHILY.xattr.security.capability': cap(sys.argv[2])}, tarfile.DIRTYPE)
                add('bin/wide', {'SCHILY.xattr.security.capability': cap(sys.argv[2]), 'SCHILY.xattr.user.note': 'x'}, data=b'tool')
                add('bin/link', {'SCHILY.xattr.security.capability': cap(sys.argv[2])}, tarfile.LNKTYPE, linkname='bin/wide')
                add('bin/v3', {'SCHILY.xattr.security.capability': cap(sys.argv[3])}, data=b'v3')
                add('bin/plain', {'SCHILY.xattr.user.note': 'y'}, data=b'plain')
            """, tar, Wide, V3);
        var (_, blob) = await WriteAsync(new TarLayerSpec(tar, "/opt") { CreatedBy = "test" });

        string records = await Tools.PythonAsync("""
            import sys, tarfile
            with tarfile.open(sys.argv[1]) as t:
                for m in t:
                    for k, v in sorted(m.pax_headers.items()):
                        if k.startswith('SCHILY.'): print(m.name, k, v.encode('utf-8', 'surrogateescape').hex())
            """, blob);
        Assert.Equal(
            $"opt/bin/wide SCHILY.xattr.security.capability {Wide}\n" +
            $"opt/bin/link SCHILY.xattr.security.capability {Wide}\n" +
            "opt/bin/v3 SCHILY.xattr.security.capability 0100000200040000000000000000000000000000\n", records);
    }

    /// <summary>
    /// A gzip tar's hard links (the first pass inflates it, the second writes): every name of a file carries the record
    /// of the last entry naming it (<see cref="LinkedCapabilities"/>, BuildKit's untar: FileCapabilityDifferentialTests),
    /// a file named again after a link is a new file, and the same tar plain gives the same layer.
    /// </summary>
    [Fact]
    public async Task A_gzip_tar_layer_gives_every_name_of_a_file_the_record_of_the_last_entry_naming_it()
    {
        const string Bind = "0100000200040000000000000000000000000000", Raw = "0100000200200000000000000000000000000000";
        string tar = _temp["links.tar"];
        await Tools.PythonAsync("""
            import io, sys, tarfile
            def cap(h): return {'SCHILY.xattr.security.capability': bytes.fromhex(h).decode('utf-8', 'surrogateescape')}
            with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:
                def add(name, pax, link=None):
                    i = tarfile.TarInfo(name); i.mode = 0o755; i.pax_headers = pax
                    if link: i.type = tarfile.LNKTYPE; i.linkname = link; t.addfile(i)
                    else: i.size = 1; t.addfile(i, io.BytesIO(b'x'))
                add('bare-last', cap(sys.argv[2])); add('bare-last.l', {}, 'bare-last')
                add('two', cap(sys.argv[2])); add('two.l', cap(sys.argv[3]), 'two'); add('two.ll', cap(sys.argv[3]), 'two.l')
                add('renamed', {}); add('renamed.l', cap(sys.argv[2]), 'renamed'); add('renamed', cap(sys.argv[3]))
            """, tar, Bind, Raw);
        string gzip = _temp["links.tar.gz"];
        await using (var input = File.OpenRead(tar))
        await using (var output = new System.IO.Compression.GZipStream(File.Create(gzip), System.IO.Compression.CompressionLevel.Fastest))
            await input.CopyToAsync(output);
        var (layer, blob) = await WriteAsync(new TarLayerSpec(gzip, "/") { CreatedBy = "test" });

        string records = await Tools.PythonAsync("""
            import sys, tarfile
            with tarfile.open(sys.argv[1]) as t:
                for m in t:
                    for k, v in sorted(m.pax_headers.items()):
                        if k.startswith('SCHILY.'): print(m.name, v.encode('utf-8', 'surrogateescape').hex())
            """, blob);
        // The first "renamed" and its link are one file (the link's record); the second is a new file with its own.
        Assert.Equal($"two {Raw}\ntwo.l {Raw}\ntwo.ll {Raw}\nrenamed {Bind}\nrenamed.l {Bind}\nrenamed {Raw}\n", records);
        var (plain, _) = await WriteAsync(new TarLayerSpec(tar, "/") { CreatedBy = "test" });
        Assert.Equal(layer.DiffId, plain.DiffId);
    }

    [Fact]
    public async Task A_plain_tar_is_recognised_by_its_bytes_not_its_name()
    {
        string tar = await MakeTarAsync("plain.tar", Rootfs);
        string misnamed = _temp["really-plain.tar.gz"];
        File.Copy(tar, misnamed);
        var (a, _) = await WriteAsync(new TarLayerSpec(tar, "/") { CreatedBy = "test" });
        var (b, _) = await WriteAsync(new TarLayerSpec(misnamed, "/") { CreatedBy = "test" });
        Assert.Equal(a.DiffId, b.DiffId);
    }

    [Theory]
    [InlineData("add(t, '../evil', data=b'x')")]
    [InlineData("add(t, './a/../../evil', data=b'x')")]
    [InlineData("add(t, 'ok', data=b'x')\nadd(t, 'hard', tarfile.LNKTYPE, linkname='../../etc/passwd')")]
    public async Task A_tar_entry_outside_the_root_is_LIV4004(string entries)
    {
        string tar = await MakeTarAsync("evil.tar", entries);
        var e = await Assert.ThrowsAsync<LivrableException>(() => WriteAsync(new TarLayerSpec(tar, "/app") { CreatedBy = "test" }));
        Assert.Equal(DiagnosticCodes.InvalidArchive, e.Code);
    }

    [Fact]
    public async Task A_truncated_or_garbage_tar_is_LIV4004()
    {
        string tar = await MakeTarAsync("full.tar", "add(t, 'big', data=b'x' * 100000)");
        string truncated = _temp["truncated.tar"];
        File.WriteAllBytes(truncated, File.ReadAllBytes(tar)[..20000]);
        var e = await Assert.ThrowsAsync<LivrableException>(() => WriteAsync(new TarLayerSpec(truncated, "/") { CreatedBy = "test" }));
        Assert.Equal(DiagnosticCodes.InvalidArchive, e.Code);

        string garbage = _temp["garbage.tar"];
        File.WriteAllBytes(garbage, Enumerable.Repeat((byte)'A', 2048).ToArray());
        e = await Assert.ThrowsAsync<LivrableException>(() => WriteAsync(new TarLayerSpec(garbage, "/") { CreatedBy = "test" }));
        Assert.Equal(DiagnosticCodes.InvalidArchive, e.Code);
    }

    [Fact]
    public async Task A_bzip2_tar_is_LIV4012()
    {
        string tar = await MakeTarAsync("rootfs.tar.bz2", "add(t, 'a', data=b'x')");
        var e = await Assert.ThrowsAsync<LivrableException>(() => WriteAsync(new TarLayerSpec(tar, "/") { CreatedBy = "test" }));
        Assert.Equal(DiagnosticCodes.UnsupportedArchiveEntry, e.Code);
    }

    [Fact]
    public async Task Conflicting_or_invalid_target_paths_are_refused()
    {
        string a = Write(_temp["in", "a"], "a", DateTime.UtcNow);
        string b = Write(_temp["in", "b"], "b", DateTime.UtcNow);
        async Task<string> Code(params LayerFile[] files)
            => (await Assert.ThrowsAsync<LivrableException>(() => WriteAsync(new FilesLayerSpec(files) { CreatedBy = "test" }))).Code;

        Assert.Equal(DiagnosticCodes.LayerPathConflict, await Code(new(a, "/x"), new(b, "/x")));
        Assert.Equal(DiagnosticCodes.LayerPathConflict, await Code(new(a, "/x"), new(b, "/x/y")));
        Assert.Equal(DiagnosticCodes.InvalidLayerPath, await Code(new LayerFile(a, "x")));
        Assert.Equal(DiagnosticCodes.InvalidLayerPath, await Code(new LayerFile(a, "/app/../x")));
        Assert.Equal(DiagnosticCodes.InvalidLayerPath, await Code(new LayerFile(a, "/")));
        Assert.Equal(DiagnosticCodes.InputNotFound, await Code(new LayerFile(_temp["missing"], "/x")));

        // The same file listed twice is no conflict, and `//` and `.` are cleaned away.
        var (_, blob) = await WriteAsync(new FilesLayerSpec([new(a, "/x//./a"), new(a, "/x/a")]) { CreatedBy = "test" });
        Assert.Equal(["x/", "x/a"], (await Tools.RunCheckedAsync("tar", "-tzf", blob)).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task The_compression_level_changes_the_digest_but_not_the_diff_id()
    {
        var spec = App("a", DateTime.UtcNow);
        var (optimal, _) = await WriteAsync(spec, "s1");
        var (fastest, _) = await WriteAsync(spec, "s2", Options with { CompressionLevel = CompressionLevel.Fastest });
        Assert.Equal(optimal.DiffId, fastest.DiffId);
        Assert.NotEqual(optimal.Descriptor.Digest, fastest.Descriptor.Digest);
    }

    [Fact]
    public async Task A_cancelled_write_leaves_no_temporary_file()
    {
        var blobs = new BlobStore(_temp["store"]);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => LayerWriter.WriteAsync(App("a", DateTime.UtcNow), Options, blobs, cancelled.Token));
        Assert.Empty(Directory.GetFiles(blobs.TempDirectory));
    }
}
