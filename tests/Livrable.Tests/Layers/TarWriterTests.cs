using Xunit;
using System.Text;
using Livrable.Diagnostics;
using Livrable.Layers;
using Livrable.Store;
using Livrable.Tests.Infrastructure;

namespace Livrable.Tests.Layers;

public sealed class TarWriterTests : IDisposable
{
    private const long Epoch = 1609459200; // 2021-01-01T00:00:00Z
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static async Task<byte[]> WriteAsync(params (TarHeader Header, byte[]? Content)[] entries)
    {
        var output = new MemoryStream();
        await using (var tar = new TarWriter(output, leaveOpen: true))
        {
            foreach (var (header, content) in entries)
                await tar.WriteEntryAsync(header with { Size = content?.Length ?? 0 }, content is null ? null : new MemoryStream(content), CancellationToken.None);
            await tar.FinishAsync(CancellationToken.None);
        }
        return output.ToArray();
    }

    private string Save(byte[] bytes, string name = "out.tar")
    {
        string path = _temp[name];
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public async Task Plain_entries_are_ustar_with_no_pax_header_and_read_back_by_python_and_gnu_tar()
    {
        byte[] bytes = await WriteAsync(
            (new TarHeader { Name = "app/", Type = TarTypeFlag.Directory, Mode = FileModes.Directory, ModificationTime = Epoch }, null),
            (new TarHeader { Name = "app/hello.txt", Mode = FileModes.RegularFile, ModificationTime = Epoch, Uid = 1000, Gid = 100, UserName = "app", GroupName = "users" }, "hello\n"u8.ToArray()),
            (new TarHeader { Name = "app/link", Type = TarTypeFlag.SymbolicLink, Mode = FileModes.SymbolicLink, LinkName = "hello.txt", ModificationTime = Epoch }, null),
            (new TarHeader { Name = "app/hard", Type = TarTypeFlag.HardLink, LinkName = "app/hello.txt", ModificationTime = Epoch }, null),
            (new TarHeader { Name = "dev/null", Type = TarTypeFlag.CharacterDevice, Mode = 0x1B6, DeviceMajor = 1, DeviceMinor = 3, ModificationTime = Epoch }, null),
            (new TarHeader { Name = "dev/sda", Type = TarTypeFlag.BlockDevice, Mode = 0x1B0, DeviceMajor = 8, DeviceMinor = 0, ModificationTime = Epoch }, null),
            (new TarHeader { Name = "run/fifo", Type = TarTypeFlag.Fifo, Mode = 0x1A4, ModificationTime = Epoch }, null));

        // 7 headers + 1 content block + 2 end blocks, and no 'x' header.
        Assert.Equal(10 * 512, bytes.Length);
        Assert.Equal("ustar\0"u8.ToArray(), bytes[257..263]);
        Assert.Equal("00"u8.ToArray(), bytes[263..265]);
        Assert.All(Enumerable.Range(0, 1024), i => Assert.Equal(0, bytes[^(i + 1)]));

        var members = await TarMember.ReadAllAsync(Save(bytes));
        Assert.Equal(["app", "app/hello.txt", "app/link", "app/hard", "dev/null", "dev/sda", "run/fifo"], members.Select(m => m.Name));
        Assert.Equal(["5", "0", "2", "1", "3", "4", "6"], members.Select(m => m.Type));
        Assert.All(members, m => Assert.Equal(Epoch, m.Mtime));
        Assert.All(members, m => Assert.Empty(m.Pax));
        var file = members[1];
        Assert.Equal((0x1A4, 1000L, 100L, "app", "users", 6L), (file.Mode, file.Uid, file.Gid, file.Uname, file.Gname, file.Size));
        Assert.Equal("", members[0].Uname);
        Assert.Equal("hello.txt", members[2].Linkname);
        Assert.Equal("app/hello.txt", members[3].Linkname);
        Assert.Equal((1, 3), (members[4].Devmajor, members[4].Devminor));
        Assert.Equal((8, 0), (members[5].Devmajor, members[5].Devminor));

        string listing = (await Tools.RunCheckedAsync("tar", "--numeric-owner", "-tvf", Save(bytes, "gnu.tar"))).Stdout;
        Assert.Contains("drwxr-xr-x 0/0", listing);
        Assert.Contains("-rw-r--r-- 1000/100          6 2021-01-01 00:00 app/hello.txt", listing);
        Assert.Contains("app/link -> hello.txt", listing);
        Assert.Contains("app/hard link to app/hello.txt", listing);
        Assert.Contains("crw-rw-rw- 0/0", listing);
        Assert.Contains("prw-r--r-- 0/0", listing);
    }

    [Fact]
    public void Checksum_is_the_byte_sum_with_the_field_as_spaces()
    {
        byte[] block = TarWriter.EncodeHeaders(new TarHeader { Name = "a", ModificationTime = Epoch });
        Assert.Equal(512, block.Length);
        var copy = (byte[])block.Clone();
        copy.AsSpan(148, 8).Fill((byte)' ');
        int sum = copy.Sum(b => b);
        Assert.Equal(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ", Encoding.ASCII.GetString(block, 148, 8));
        Assert.Equal("0000644\0", Encoding.ASCII.GetString(block, 100, 8));
    }

    [Fact]
    public async Task Long_and_non_ascii_names_round_trip_through_gnu_tar_and_python()
    {
        string splittable = string.Join('/', Enumerable.Range(0, 17).Select(i => $"dir{i:D5}")) + "/file.txt"; // 162 bytes, splits
        string unsplittable = "d/" + new string('n', 120);                                                // name part > 100
        string unicode = "données/日本語/é.txt";
        string longTarget = string.Join('/', Enumerable.Repeat("..", 60)) + "/target";
        Assert.True(splittable.Length > 150);

        byte[] bytes = await WriteAsync(
            (new TarHeader { Name = splittable, ModificationTime = Epoch }, "split"u8.ToArray()),
            (new TarHeader { Name = unsplittable, ModificationTime = Epoch }, "long"u8.ToArray()),
            (new TarHeader { Name = unicode, ModificationTime = Epoch }, "unicode"u8.ToArray()),
            (new TarHeader { Name = "l", Type = TarTypeFlag.SymbolicLink, Mode = FileModes.SymbolicLink, LinkName = longTarget, ModificationTime = Epoch }, null),
            (new TarHeader { Name = "big-ids", Uid = 3_000_000, Gid = 4_000_000, UserName = "üser", ModificationTime = Epoch }, null));

        var members = await TarMember.ReadAllAsync(Save(bytes));
        Assert.Equal([splittable, unsplittable, unicode, "l", "big-ids"], members.Select(m => m.Name));
        Assert.Empty(members[0].Pax); // the ustar prefix field was enough
        Assert.Equal(unsplittable, members[1].Pax["path"]);
        Assert.Equal(unicode, members[2].Pax["path"]);
        Assert.Equal(longTarget, members[3].Linkname);
        Assert.Equal((3_000_000L, 4_000_000L, "üser"), (members[4].Uid, members[4].Gid, members[4].Uname));
        Assert.Equal(["gid", "uid", "uname"], members[4].Pax.Keys.Order(StringComparer.Ordinal));

        string listing = (await Tools.RunCheckedAsync("tar", "-tf", Save(bytes, "gnu.tar"))).Stdout;
        Assert.Equal([splittable, unsplittable, unicode, "l", "big-ids"], listing.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        string extracted = _temp["x"];
        Directory.CreateDirectory(extracted);
        await Tools.RunCheckedAsync("tar", "-xf", Save(bytes, "x.tar"), "-C", extracted);
        Assert.Equal("split", File.ReadAllText(Path.Combine(extracted, splittable)));
        Assert.Equal("long", File.ReadAllText(Path.Combine(extracted, unsplittable)));
        Assert.Equal("unicode", File.ReadAllText(Path.Combine(extracted, unicode)));
        Assert.Equal(longTarget, new FileInfo(Path.Combine(extracted, "l")).LinkTarget);
        // The PAX header itself never becomes a file, and its name is fixed (no process id).
        Assert.False(Directory.Exists(Path.Combine(extracted, "PaxHeaders.0")));
        Assert.Contains("d/PaxHeaders.0/nnnn", Encoding.ASCII.GetString(bytes));
        Assert.DoesNotContain($"PaxHeaders.{Environment.ProcessId}", Encoding.ASCII.GetString(bytes));
    }

    [Fact]
    public void The_same_header_always_encodes_to_the_same_bytes()
    {
        var header = new TarHeader { Name = "données/" + new string('x', 200), Size = 10L << 30, ModificationTime = -5 };
        Assert.Equal(TarWriter.EncodeHeaders(header), TarWriter.EncodeHeaders(header with { }));
    }

    /// <summary>
    /// A file's capabilities go as the PAX record <c>SCHILY.xattr.security.capability</c> with the value's bytes as they
    /// are (bytes over 0x7F and NUL included, which no UTF-8 text round trip keeps), sorted with the other records by key as
    /// Go writes them; python's tarfile reads the same bytes, and Livrable's own extraction view gives them back for that
    /// entry only.
    /// </summary>
    [Fact]
    public async Task File_capabilities_are_a_SCHILY_xattr_record_of_their_raw_bytes_read_back_by_python_and_the_extraction_view()
    {
        // cap_setuid,cap_setfcap=ep, revision 2: permitted bits 7 and 31 (bytes 0x80).
        byte[] capability = Convert.FromHexString("0100000280000080000000000000000000000000");
        string name = "bin/" + new string('é', 60) + "/tool";
        byte[] bytes = await WriteAsync(
            (new TarHeader { Name = name, Mode = 0x1ED, ModificationTime = Epoch, Capability = capability }, "tool"u8.ToArray()),
            (new TarHeader { Name = "bin/plain", Mode = 0x1ED, ModificationTime = Epoch }, "plain"u8.ToArray()),
            (new TarHeader { Name = "bin/link", Type = TarTypeFlag.HardLink, LinkName = name, ModificationTime = Epoch, Capability = capability }, null));

        // The records, in key order: the capability ('S') before the path ('p').
        string pathRecord = $" path={name}\n";
        int pathLength = Encoding.UTF8.GetByteCount(pathRecord) + 3;
        byte[] expected = [.. "57 SCHILY.xattr.security.capability="u8.ToArray(), .. capability, (byte)'\n',
            .. Encoding.UTF8.GetBytes(pathLength.ToString(System.Globalization.CultureInfo.InvariantCulture) + pathRecord)];
        Assert.Equal((byte)'x', bytes[156]);
        Assert.Equal(expected, bytes[512..(512 + expected.Length)]);

        string output = await Tools.PythonAsync("""
            import sys, tarfile
            for m in tarfile.open(sys.argv[1]):
                print(m.name.split('/')[-1], m.pax_headers.get('SCHILY.xattr.security.capability', '').encode('utf-8', 'surrogateescape').hex())
            """, Save(bytes));
        Assert.Equal($"tool {Convert.ToHexStringLower(capability)}\nplain \nlink {Convert.ToHexStringLower(capability)}", output.Trim());

        var reader = TarReading.OpenReader(new MemoryStream(bytes), leaveOpen: false, out var view);
        var seen = new List<string?>();
        while (await reader.GetNextEntryAsync(copyData: false) is { } entry)
            seen.Add(view.Capability is { } c ? Convert.ToHexStringLower(c) : null);
        Assert.Equal([Convert.ToHexStringLower(capability), null, Convert.ToHexStringLower(capability)], seen);
    }

    [Fact]
    public void A_revision_3_capability_is_carried_as_revision_2_without_its_namespace_root()
    {
        // cap_net_bind_service=ep set in a user namespace whose root is host uid 100000 (0x186a0).
        byte[] v3 = Convert.FromHexString("0100000300040000000000000000000000000000a0860100");
        Assert.Equal("0100000200040000000000000000000000000000", Convert.ToHexStringLower(FileCapability.ForLayer(v3)));
        byte[] v2 = Convert.FromHexString("0100000200040000000000000000000000000000");
        Assert.Same(v2, FileCapability.ForLayer(v2));
    }

    [Fact]
    public async Task A_size_of_8_GiB_or_more_and_a_negative_mtime_go_in_pax_records()
    {
        long size = 10L << 30;
        byte[] headers = TarWriter.EncodeHeaders(new TarHeader { Name = "huge.bin", Size = size, ModificationTime = -86400 });
        Assert.Equal((byte)'x', headers[156]);
        Assert.Equal("00000000000\0", Encoding.ASCII.GetString(headers, 512 * 2 + 124, 12)); // ustar size field: 0, PAX holds it

        // A header-only tar: python reads the first member's header without needing its content.
        string path = Save(headers, "header-only.tar");
        string output = await Tools.PythonAsync("""
            import sys, tarfile
            t = tarfile.open(sys.argv[1], 'r:')
            m = t.next()
            print(m.name, m.size, int(m.mtime), m.pax_headers['size'])
            """, path);
        Assert.Equal($"huge.bin {size} -86400 {size}", output.Trim());
    }

    [Fact]
    public async Task An_entry_of_8_GiB_plus_one_byte_is_streamed_with_a_pax_size()
    {
        long size = (8L << 30) + 1;
        var sink = new CountingSink(keep: 4096);
        await using (var tar = new TarWriter(sink))
        {
            await tar.WriteEntryAsync(new TarHeader { Name = "zeros", Size = size, ModificationTime = Epoch }, new ZeroStream(size), CancellationToken.None);
            await tar.FinishAsync(CancellationToken.None);
        }
        long content = (size + 511) / 512 * 512;
        Assert.Equal(512 + 512 + 512 + content + 1024, sink.Count); // 'x' header, its records, ustar header, content, end

        string output = await Tools.PythonAsync("""
            import sys, tarfile
            m = tarfile.open(sys.argv[1], 'r:').next()
            print(m.name, m.size, m.pax_headers['size'])
            """, Save(sink.Kept[..1536], "big-header.tar"));
        Assert.Equal($"zeros {size} {size}", output.Trim());
    }

    [Fact]
    public async Task Content_shorter_than_the_size_is_LIV4005()
    {
        var tar = new TarWriter(new MemoryStream());
        var e = await Assert.ThrowsAsync<LivrableException>(() =>
            tar.WriteEntryAsync(new TarHeader { Name = "f", Size = 10 }, new MemoryStream(new byte[5]), CancellationToken.None));
        Assert.Equal(DiagnosticCodes.LayerIo, e.Code);
        var longer = await Assert.ThrowsAsync<LivrableException>(() =>
            new TarWriter(new MemoryStream()).WriteEntryAsync(new TarHeader { Name = "f", Size = 10 }, new MemoryStream(new byte[11]), CancellationToken.None));
        Assert.Equal(DiagnosticCodes.LayerIo, longer.Code);
    }

    [Fact]
    public void Headers_no_tar_can_carry_are_refused()
    {
        Assert.Throws<ArgumentException>(() => TarWriter.EncodeHeaders(new TarHeader { Name = "" }));
        Assert.Throws<ArgumentException>(() => TarWriter.EncodeHeaders(new TarHeader { Name = "a\0b" }));
        Assert.Throws<ArgumentException>(() => TarWriter.EncodeHeaders(new TarHeader { Name = "d/", Type = TarTypeFlag.Directory, Size = 1 }));
        Assert.Throws<ArgumentException>(() => TarWriter.EncodeHeaders(new TarHeader { Name = "l", Type = TarTypeFlag.SymbolicLink }));
        Assert.Throws<ArgumentException>(() => TarWriter.EncodeHeaders(new TarHeader { Name = "m", Mode = 0x1000 }));
    }

    /// <summary>Counts what is written and keeps only the first bytes.</summary>
    private sealed class CountingSink(int keep) : Stream
    {
        private readonly MemoryStream _kept = new();
        public long Count { get; private set; }
        public byte[] Kept => _kept.ToArray();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Count;
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_kept.Length < keep) _kept.Write(buffer[..(int)Math.Min(buffer.Length, keep - _kept.Length)]);
            Count += buffer.Length;
        }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary><paramref name="length"/> zero bytes, generated.</summary>
    private sealed class ZeroStream(long length) : ReadOnlyStreamBase
    {
        private long _position;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override int Read(Span<byte> buffer)
        {
            int n = (int)Math.Min(buffer.Length, length - _position);
            buffer[..n].Clear();
            _position += n;
            return n;
        }
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));
    }
}
