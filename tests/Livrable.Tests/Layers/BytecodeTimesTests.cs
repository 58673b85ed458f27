using System.Buffers.Binary;
using Livrable.Layers;
using Xunit;

namespace Livrable.Tests.Layers;

/// <summary>
/// <see cref="BytecodeTimes"/> on its own: which file is a bytecode file's source, which headers it changes, and that
/// only the time changes. <c>Build/Dockerfile/RunBytecodeTests</c> has Python judge the result in a built image.
/// </summary>
public sealed class BytecodeTimesTests
{
    private static readonly DateTimeOffset Epoch = Reproducibility.DefaultEpoch;

    [Theory]
    [InlineData("/usr/lib/python3/dist-packages/pip/__pycache__/__init__.cpython-311.pyc", "/usr/lib/python3/dist-packages/pip/__init__.py")]
    [InlineData("/app/__pycache__/main.cpython-312.opt-1.pyc", "/app/main.py")]
    [InlineData("/app/main.pyc", "/app/main.py")]
    [InlineData("/app/main.py", null)]
    [InlineData("/app/__pycache__/.pyc", null)]
    [InlineData("/app/data.txt", null)]
    public void A_bytecode_files_source_is_where_Python_looks_for_it(string path, string? source)
        => Assert.Equal(source, BytecodeTimes.SourcePath(path));

    /// <summary>A header of Python 3.7+ (magic 3495: 3.11), or of 3.3-3.6 (3379: 3.6) when <paramref name="flags"/> is null.</summary>
    private static byte[] Pyc(uint seconds, uint size, uint? flags = 0, int magic = 3495)
    {
        var bytes = new byte[24];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, (ushort)(flags is null ? 3379 : magic));
        bytes[2] = (byte)'\r';
        bytes[3] = (byte)'\n';
        int at = 4;
        if (flags is { } f)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), f);
            at = 8;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), seconds);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at + 4), size);
        "code"u8.CopyTo(bytes.AsSpan(at + 8));
        return bytes;
    }

    [Fact]
    public void Only_a_timestamp_header_recording_the_sources_time_and_size_is_changed()
    {
        Assert.Equal(8, BytecodeTimes.TimeOffset(Pyc(1600000000, 10), 10, 1600000000));
        Assert.Equal(4, BytecodeTimes.TimeOffset(Pyc(1600000000, 10, flags: null), 10, 1600000000));
        Assert.Null(BytecodeTimes.TimeOffset(Pyc(1600000001, 10), 10, 1600000000));
        Assert.Null(BytecodeTimes.TimeOffset(Pyc(1600000000, 11), 10, 1600000000));
        Assert.Null(BytecodeTimes.TimeOffset(Pyc(1600000000, 10, flags: 1), 10, 1600000000));
        Assert.Null(BytecodeTimes.TimeOffset(Pyc(1600000000, 10, magic: 62211), 10, 1600000000));
    }

    private static FileEntry File(string path, byte[] content) => new(path, TarTypeFlag.RegularFile, 0b110_100_100, 0, 0)
    {
        Size = content.Length,
        Open = _ => Task.FromResult<Stream>(new MemoryStream(content, writable: false)),
    };

    private static async Task<byte[]> ReadAsync(FileEntry entry)
    {
        await using var stream = await entry.Open!(CancellationToken.None);
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    [Fact]
    public async Task The_pyc_records_the_time_the_layer_gives_its_source_and_nothing_else_changes()
    {
        byte[] source = "x = 1\n"u8.ToArray();
        byte[] fresh = Pyc(1600000000, (uint)source.Length);
        byte[] stale = Pyc(1500000000, (uint)source.Length);
        var entries = new List<FileEntry>
        {
            File("/app/__pycache__/a.cpython-311.pyc", fresh),
            File("/app/__pycache__/b.cpython-311.pyc", stale),
            File("/app/__pycache__/c.cpython-311.pyc", fresh),
            File("/app/a.py", source),
            File("/app/b.py", source),
        };
        // c.py is not in the layer: its time is the one below, which the command saw.
        var aligned = await BytecodeTimes.AlignAsync(entries, path => path is "/app/a.py" or "/app/b.py" ? 1600000000_123456789L : null, Epoch, CancellationToken.None);

        byte[] expected = (byte[])fresh.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(expected.AsSpan(8), (uint)Epoch.ToUnixTimeSeconds());
        Assert.Equal(expected, await ReadAsync(aligned[0]));
        Assert.Equal(stale, await ReadAsync(aligned[1]));
        Assert.Equal(fresh, await ReadAsync(aligned[2]));
        Assert.Equal(entries.Skip(1).Select(e => e.Open), aligned.Skip(1).Select(e => e.Open));
        Assert.Equal(entries.Select(e => e with { Open = null }), aligned.Select(e => e with { Open = null }));
    }

    [Fact]
    public async Task A_source_that_is_a_link_is_judged_by_the_file_it_leads_to_in_the_layer()
    {
        // Debian: /usr/lib/python3.11/sitecustomize.py -> /etc/python3.11/sitecustomize.py, compiled by py3compile.
        byte[] source = "import os\n"u8.ToArray();
        var entries = new List<FileEntry>
        {
            File("/etc/python3.11/sitecustomize.py", source),
            File("/usr/lib/python3.11/__pycache__/sitecustomize.cpython-311.pyc", Pyc(1600000000, (uint)source.Length)),
            new("/usr/lib/python3.11/sitecustomize.py", TarTypeFlag.SymbolicLink, 0b111_111_111, 0, 0) { LinkTarget = "../../../etc/python3.11/sitecustomize.py" },
            File("/usr/lib/python3.11/__pycache__/outside.cpython-311.pyc", Pyc(1600000000, (uint)source.Length)),
            new("/usr/lib/python3.11/outside.py", TarTypeFlag.SymbolicLink, 0b111_111_111, 0, 0) { LinkTarget = "/opt/below.py" },
        };
        var times = new List<string>();
        var aligned = await BytecodeTimes.AlignAsync(entries, path => { times.Add(path); return 1600000000_000000000L; }, Epoch, CancellationToken.None);
        Assert.Equal((uint)Epoch.ToUnixTimeSeconds(), BinaryPrimitives.ReadUInt32LittleEndian((await ReadAsync(aligned[1])).AsSpan(8)));
        Assert.Same(entries[3].Open, aligned[3].Open);
        Assert.Equal(["/etc/python3.11/sitecustomize.py"], times);
    }

    [Fact]
    public async Task A_source_with_its_own_time_keeps_it_when_older_than_the_epoch()
    {
        byte[] source = "x = 1\n"u8.ToArray();
        var own = new DateTimeOffset(2001, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var entries = new List<FileEntry>
        {
            File("/m/__pycache__/a.cpython-311.pyc", Pyc(1600000000, (uint)source.Length)),
            File("/m/a.py", source) with { ModificationTime = own },
        };
        var aligned = await BytecodeTimes.AlignAsync(entries, _ => 1600000000_000000000L, Epoch.AddYears(30), CancellationToken.None);
        Assert.Equal((uint)own.ToUnixTimeSeconds(), BinaryPrimitives.ReadUInt32LittleEndian((await ReadAsync(aligned[0])).AsSpan(8)));
    }
}
