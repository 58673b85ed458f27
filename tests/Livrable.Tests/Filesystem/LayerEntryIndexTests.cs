using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Filesystem;

/// <summary>
/// <see cref="LayerEntryIndex"/>'s files read back as written: the reader goes through a 64 kB buffer (no large object
/// heap, issue 14), so entries straddle its refills, and values longer than the buffer are read past it.
/// </summary>
public sealed class LayerEntryIndexTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private sealed class Layer(Digest diffId) : ILayer
    {
        public Descriptor Descriptor => new(MediaTypes.OciLayer, diffId, 1);
        public Digest DiffId => diffId;
        public Task<Stream> OpenAsync(CancellationToken cancellationToken) => throw new InvalidOperationException("the index holds the entries");
    }

    private static List<FileEntry> Entries(ILayer layer)
    {
        var entries = new List<FileEntry>();
        for (int i = 0; i < 5000; i++)
        {
            string path = $"/usr/share/many/{i / 100:D3}/f{i % 100:D3}-é-{new string('x', i % 97)}.txt";
            entries.Add(new FileEntry(path, TarTypeFlag.RegularFile, 0x1A4, i, 2 * i)
            {
                Size = i,
                ModificationTime = i % 3 == 0 ? null : DateTimeOffset.FromUnixTimeSeconds(1_700_000_000 + i),
                // Every seventh tar name differs from its path ("./usr/..." read as written): kept as it was.
                Location = new LayerLocation(layer, i, i % 7 == 0 ? "." + path : path),
                // Every eleventh has file capabilities (setcap's, a byte over 0x7F among them).
                Capability = i % 11 == 0 ? Convert.FromHexString("01000002" + (i % 22 == 0 ? "00200000" : "000000ff") + "0000000000000000" + "00000000") : null,
            });
        }
        entries.Add(new FileEntry("/etc/passwd", TarTypeFlag.RegularFile, 0x1A4, 0, 0)
        {
            Size = 100_000,
            Location = new LayerLocation(layer, 5000, "/etc/passwd") { Inline = Enumerable.Range(0, 100_000).Select(b => (byte)b).ToArray() },
        });
        entries.Add(new FileEntry("/long", TarTypeFlag.SymbolicLink, 0x1FF, 0, 0) { LinkTarget = "/" + new string('a', 70_000) });
        entries.Add(new FileEntry("/dev/null", TarTypeFlag.CharacterDevice, 0x1B6, 0, 0) { DeviceMajor = 1, DeviceMinor = 3 });
        entries.Add(new FileEntry("/hard", TarTypeFlag.HardLink, 0, 0, 0) { LinkTarget = "/etc/passwd" });
        return entries;
    }

    private static string Shown(FileEntry e)
        => $"{e.Path} {e.Type} {e.Mode} {e.Uid}:{e.Gid} {e.Size} {e.LinkTarget} {e.DeviceMajor},{e.DeviceMinor} {e.ModificationTime?.UtcTicks} " +
           $"{e.Location?.Ordinal} {e.Location?.Name} {(e.Location?.Inline is { } b ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(b)) : "-")} " +
           $"{(e.Capability is { } c ? Convert.ToHexString(c) : "-")}";

    [Fact]
    public void Entries_read_back_as_written_across_the_buffer_and_past_it()
    {
        var layer = new Layer(Digest.Sha256("layer"u8));
        var index = new LayerEntryIndex(_temp["trees"]);
        var written = Entries(layer);
        index.Write(layer, written);
        Assert.True(new FileInfo(Directory.GetFiles(_temp["trees"])[0]).Length > 4 * 65536);

        var read = index.TryRead(layer);
        Assert.NotNull(read);
        Assert.Equal(written.Select(Shown), read.Select(Shown));
        Assert.All(read, e => Assert.Same(layer, e.Location?.Layer ?? layer));
        // The tar name equal to the path is the same string (one string per entry, not two).
        Assert.Same(read[1].Path, read[1].Location!.Name);
    }

    [Fact]
    public void An_index_written_in_another_boot_reads_as_absent()
    {
        var layer = new Layer(Digest.Sha256("layer"u8));
        var index = new LayerEntryIndex(_temp["trees"]);
        using (BootId.Use(() => "11111111-1111-4111-8111-111111111111"))
        {
            index.Write(layer, Entries(layer));
            Assert.NotNull(index.TryRead(layer));
        }
        // Not flushed to disk: after a reboot its bytes may be lost, so the index is not trusted.
        using (BootId.Use(() => "22222222-2222-4222-8222-222222222222"))
            Assert.Null(index.TryRead(layer));
        using (BootId.Use(() => null))
            Assert.Null(index.TryRead(layer));
    }

    [Fact]
    public void A_truncated_or_lengthened_index_reads_as_absent()
    {
        var layer = new Layer(Digest.Sha256("layer"u8));
        var index = new LayerEntryIndex(_temp["trees"]);
        index.Write(layer, Entries(layer));
        string file = Directory.GetFiles(_temp["trees"])[0];
        byte[] bytes = File.ReadAllBytes(file);
        foreach (int cut in new[] { bytes.Length - 1, bytes.Length - 70_001, 65_536, 65_537, 10 })
        {
            File.WriteAllBytes(file, bytes[..cut]);
            Assert.Null(index.TryRead(layer));
        }
        File.WriteAllBytes(file, [.. bytes, 0]);
        Assert.Null(index.TryRead(layer));
        Assert.Null(index.TryRead(new Layer(Digest.Sha256("other"u8))));
    }
}
