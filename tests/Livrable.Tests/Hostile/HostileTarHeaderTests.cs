using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Runtime;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Hostile;

/// <summary>
/// Tar metadata headers over 1 MiB (PAX extended and global headers, GNU long names and long links; CVE-2022-2879 in
/// Go): every tar reader of the engine refuses them with LIV4060 before allocating their size, and names that are long
/// but allowed are cut in messages. Each tar is written block by block, as no archiver would write it.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileTarHeaderTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public HostileTarHeaderTests() => _store = new BlobStore(_temp["state"]);

    public void Dispose() => _temp.Dispose();

    /// <summary>One ustar header block, checksum computed.</summary>
    internal static byte[] Header(string name, char type, long size)
    {
        var block = new byte[512];
        Encoding.ASCII.GetBytes(name.Length > 100 ? name[..100] : name).CopyTo(block, 0);
        Encoding.ASCII.GetBytes("0000644\0").CopyTo(block, 100);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(block, 108);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(block, 116);
        Encoding.ASCII.GetBytes(Convert.ToString(size, 8).PadLeft(11, '0') + "\0").CopyTo(block, 124);
        Encoding.ASCII.GetBytes("00000000000\0").CopyTo(block, 136);
        block[156] = (byte)type;
        Encoding.ASCII.GetBytes("ustar\0" + "00").CopyTo(block, 257);
        for (int i = 148; i < 156; i++) block[i] = (byte)' ';
        int sum = block.Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(block, 148);
        return block;
    }

    /// <summary>A metadata entry of <paramref name="type"/> with <paramref name="size"/> bytes of data, padded; then a file "a"; then the end.</summary>
    internal static byte[] TarWithMetadata(char type, long size, bool writeData = true)
    {
        var tar = new MemoryStream();
        tar.Write(Header("././@LongLink", type, size));
        if (writeData)
        {
            var data = new byte[size];
            if (type == 'x')
            {
                // One PAX record as long as asked: "<len> comment=xxx...\n".
                string prefix = $"{size} comment=";
                Encoding.ASCII.GetBytes(prefix).CopyTo(data, 0);
                data.AsSpan(prefix.Length, (int)size - prefix.Length - 1).Fill((byte)'x');
                data[^1] = (byte)'\n';
            }
            else data.AsSpan(0, (int)size - 1).Fill((byte)'n');
            tar.Write(data);
            tar.Write(new byte[(512 - size % 512) % 512]);
            tar.Write(Header("a", '0', 3));
            tar.Write("ok\n"u8);
            tar.Write(new byte[509]);
            tar.Write(new byte[1024]);
        }
        return tar.ToArray();
    }

    private async Task<ILayer> LayerAsync(byte[] tar)
    {
        var (digest, size) = await _store.PutAsync(new MemoryStream(tar), null, null, CancellationToken.None);
        return new StoredLayer(new Descriptor(MediaTypes.OciLayer, digest, size), Digest.FromSha256Hash(SHA256.HashData(tar)), _store);
    }

    public static TheoryData<char> Types => ['x', 'g', 'L', 'K'];

    [Theory]
    [MemberData(nameof(Types))]
    public async Task A_metadata_header_over_1_MiB_is_refused_by_every_reader(char type)
    {
        byte[] tar = TarWithMetadata(type, (1 << 20) + 1);
        string path = Path.Combine(_temp.Path, "big.tar");
        await File.WriteAllBytesAsync(path, tar);
        var layer = await LayerAsync(tar);

        var errors = new List<(string Reader, Exception? Error)>
        {
            ("file tree", await Record.ExceptionAsync(() => FileTree.LoadAsync([layer], CancellationToken.None))),
            ("RUN extraction", await Record.ExceptionAsync(() => new LayerRootfs(_store.Root, NullLogger.Instance).EnsureAsync(layer, CancellationToken.None))),
            ("ADD archive", await Record.ExceptionAsync(() => ArchiveExtraction.ExtractAsync(_ => Task.FromResult<Stream>(File.OpenRead(path)), "/dest", _temp["tmp"], 1L << 32, CancellationToken.None))),
            ("image tarball", await Record.ExceptionAsync(() => new ArchiveImage(path, null, new BlobStore(_temp["reader"])).ResolveAsync(new Platform("linux", "amd64"), CancellationToken.None))),
            ("tar layer", await Record.ExceptionAsync(() => LayerWriter.WriteAsync(new TarLayerSpec(path, "/") { CreatedBy = "test" }, new LayerWriteOptions(), new BlobStore(_temp["writer"]), CancellationToken.None))),
        };
        foreach (var (reader, error) in errors)
        {
            var e = Assert.IsType<LivrableException>(error);
            Assert.True(e.Code == DiagnosticCodes.TarHeaderTooLarge, $"{reader}: {e.Code} {e.Message}");
            Assert.True(e.Message.Length < 1000, $"{reader}: a message of {e.Message.Length} characters");
        }
    }

    [Fact]
    public async Task A_header_claiming_1_5_GiB_is_refused_before_its_data_is_read()
    {
        // No data follows: the reader must refuse from the header alone (.NET would allocate 1.5 GiB first).
        byte[] tar = TarWithMetadata('x', 3L << 29, writeData: false);
        var layer = await LayerAsync(tar);
        var e = await Assert.ThrowsAsync<LivrableException>(() => FileTree.LoadAsync([layer], CancellationToken.None));
        Assert.Equal(DiagnosticCodes.TarHeaderTooLarge, e.Code);
        Assert.Contains("1610612736 bytes", e.Message);
    }

    [Fact]
    public async Task A_long_name_under_the_cap_is_read_and_cut_in_messages()
    {
        // A 600 KB name is allowed; written with .NET's GNU writer it comes as an 'L' entry. Its entry is a whiteout
        // naming '..', which the reader refuses: the message shows the first characters of the name, not all of it.
        string name = new string('d', 600_000) + "/.wh..";
        var buffer = new MemoryStream();
        using (var writer = new System.Formats.Tar.TarWriter(buffer, TarEntryFormat.Gnu, leaveOpen: true))
            writer.WriteEntry(new GnuTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream([1]) });
        var layer = await LayerAsync(buffer.ToArray());
        var e = await Assert.ThrowsAsync<LivrableException>(() => FileTree.LoadAsync([layer], CancellationToken.None));
        Assert.Equal(DiagnosticCodes.InvalidWhiteout, e.Code);
        Assert.True(e.Message.Length < 1000, $"a message of {e.Message.Length} characters");
        Assert.Contains("(600006 characters)", e.Message);
    }

    [Fact]
    public async Task Headers_at_the_cap_and_PAX_size_records_still_read()
    {
        // 1 MiB exactly is allowed (Go's limit is inclusive), and the file after it is read.
        var layer = await LayerAsync(TarWithMetadata('x', 1 << 20));
        var tree = await FileTree.LoadAsync([layer], CancellationToken.None);
        Assert.NotNull(tree.Resolve("/a"));

        // A PAX header whose size record gives the next entry's data size: the view must skip that many bytes, so
        // that the oversized long name after it is seen as a header and refused.
        var tar = new MemoryStream();
        byte[] record = Encoding.ASCII.GetBytes("12 size=600\n");
        tar.Write(Header("pax", 'x', record.Length));
        tar.Write(record);
        tar.Write(new byte[512 - record.Length]);
        tar.Write(Header("b", '0', 0));
        tar.Write(new byte[1024]); // 600 bytes of data, padded
        tar.Write(TarWithMetadata('L', (1 << 20) + 1));
        var e = await Assert.ThrowsAsync<LivrableException>(async () => await FileTree.LoadAsync([await LayerAsync(tar.ToArray())], CancellationToken.None));
        Assert.Equal(DiagnosticCodes.TarHeaderTooLarge, e.Code);
    }

    [Fact]
    public void Every_tar_reader_of_the_engine_goes_through_the_cap()
    {
        string src = Path.Combine(RepositoryRoot(), "src", "Tasks");
        var offenders = Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(Path.Combine("Layers", "TarReading.cs"), StringComparison.Ordinal))
            .Where(f => System.Text.RegularExpressions.Regex.IsMatch(File.ReadAllText(f), @"new\s+([\w.]*\.)?TarReader\s*\("))
            .Select(f => Path.GetRelativePath(src, f)).ToList();
        Assert.Empty(offenders);
    }

    [Fact]
    public void The_hardening_codes_are_distinct_known_and_in_their_ranges()
    {
        string[] codes =
        [
            DiagnosticCodes.TarHeaderTooLarge, DiagnosticCodes.ContextSocket, DiagnosticCodes.ContextNameNotUtf8,
            DiagnosticCodes.LayoutBlobNotRegular, DiagnosticCodes.RuntimeUnpatched, DiagnosticCodes.RuntimeMayBeUnpatched,
        ];
        Assert.Equal(codes.Length, codes.Distinct().Count());
        Assert.All(codes, code => Assert.True(DiagnosticCodes.IsKnown(code)));
        Assert.All(codes, code => Assert.True(int.Parse(code[3..]) is >= 4060 and <= 4069 or >= 5030 and <= 5039, code));
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (Directory.Exists(Path.Combine(dir.FullName, "src", "Tasks"))) return dir.FullName;
        throw new InvalidOperationException("The repository root was not found above " + AppContext.BaseDirectory);
    }
}
