using System.Formats.Tar;
using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Outputs;

public sealed class ArchiveOutputTests : IDisposable
{
    private static readonly Platform Amd64 = new("linux", "amd64");
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public ArchiveOutputTests() => _store = new BlobStore(_temp["state"]);

    public void Dispose() => _temp.Dispose();

    private Task<IImage> TwoLayersAsync() => TestImages.BuildAsync(_store,
    [
        new Dictionary<string, string> { ["hello.txt"] = "hello\n", ["app/data.txt"] = "data\n" },
        new Dictionary<string, string> { ["app/more.txt"] = "more\n" },
    ]);

    [Fact]
    public async Task Skopeo_and_umoci_read_the_tarball()
    {
        var image = await TwoLayersAsync();
        await ImageValidator.ValidateAsync(image);
        string path = _temp["out/image.tar"];

        string written = await new ArchiveOutput(path).WriteAsync(image, "team/app", ["1.0", "latest"], CancellationToken.None);

        Assert.Equal(path, written);
        string rootfs = await ImageValidator.ValidateArchiveAsync(path, image, "1.0", _temp["check"]);
        Assert.Equal("hello\n", File.ReadAllText(Path.Combine(rootfs, "hello.txt")));
        Assert.Equal("more\n", File.ReadAllText(Path.Combine(rootfs, "app/more.txt")));
        var second = await Tools.RunCheckedAsync("skopeo", "inspect", $"oci-archive:{path}:latest");
        Assert.Contains(image.Digest.ToString(), second.Stdout);
    }

    [Fact]
    public async Task Entries_are_ustar_with_fixed_order_owner_mode_and_time()
    {
        var image = await TwoLayersAsync();
        string path = _temp["image.tar"];
        var epoch = new DateTimeOffset(2001, 2, 3, 4, 5, 6, TimeSpan.Zero);

        await new ArchiveOutput(path, epoch).WriteAsync(image, "app", ["v1"], CancellationToken.None);

        var entries = ReadEntries(path);
        // The layers base first, then the documents sorted (ImageTarball.Blobs).
        var blobs = image.Layers.Select(l => $"blobs/sha256/{l.Descriptor.Digest.Hex}")
            .Concat(new[] { image.Digest, image.Manifest.Config.Digest }.Select(d => $"blobs/sha256/{d.Hex}").Order(StringComparer.Ordinal));
        Assert.Equal(new[] { "blobs/", "blobs/sha256/" }.Concat(blobs).Concat(["index.json", "manifest.json", "oci-layout"]), entries.Select(e => e.Name));
        foreach (var e in entries)
        {
            Assert.Equal(TarEntryFormat.Ustar, e.Format);
            Assert.Equal(0, e.Uid);
            Assert.Equal(0, e.Gid);
            Assert.Equal(epoch, e.ModificationTime);
            Assert.Equal(e.EntryType == TarEntryType.Directory ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100, e.Mode);
        }
    }

    [Fact]
    public async Task Index_and_manifest_json_name_every_tag()
    {
        var image = await TwoLayersAsync();
        string path = _temp["image.tar"];

        await new ArchiveOutput(path).WriteAsync(image, "app", ["1.0", "latest", "1.0"], CancellationToken.None);

        var files = ReadEntries(path).Where(e => e.Data is not null).ToDictionary(e => e.Name, e => e.Data!);
        Assert.Equal("""{"imageLayoutVersion":"1.0.0"}""", System.Text.Encoding.UTF8.GetString(files["oci-layout"]));
        var index = ImageIndex.Parse(files["index.json"]);
        Assert.Equal(2, index.Manifests.Count);
        Assert.All(index.Manifests, m => Assert.Equal(image.Digest, m.Digest));
        Assert.Equal(["docker.io/library/app:1.0", "docker.io/library/app:latest"], index.Manifests.Select(m => m.Annotations!["io.containerd.image.name"]));
        Assert.Equal(["1.0", "latest"], index.Manifests.Select(m => m.Annotations!["org.opencontainers.image.ref.name"]));

        using var manifest = JsonDocument.Parse(files["manifest.json"]);
        var entry = Assert.Single(manifest.RootElement.EnumerateArray());
        Assert.Equal($"blobs/sha256/{image.Manifest.Config.Digest.Hex}", entry.GetProperty("Config").GetString());
        Assert.Equal(["app:1.0", "app:latest"], entry.GetProperty("RepoTags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(image.Layers.Select(l => $"blobs/sha256/{l.Descriptor.Digest.Hex}"), entry.GetProperty("Layers").EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public async Task The_same_image_twice_gives_identical_bytes()
    {
        var image = await TwoLayersAsync();
        // A second store in another folder: nothing may depend on where the blobs were.
        using var other = new TempDirectory();
        var again = await TestImages.BuildAsync(new BlobStore(other["state"]),
        [
            new Dictionary<string, string> { ["hello.txt"] = "hello\n", ["app/data.txt"] = "data\n" },
            new Dictionary<string, string> { ["app/more.txt"] = "more\n" },
        ]);

        await new ArchiveOutput(_temp["a.tar"]).WriteAsync(image, "app", ["latest"], CancellationToken.None);
        await new ArchiveOutput(other["b.tar"]).WriteAsync(again, "app", ["latest"], CancellationToken.None);

        Assert.Equal(File.ReadAllBytes(_temp["a.tar"]), File.ReadAllBytes(other["b.tar"]));
    }

    [Fact]
    public async Task A_corrupt_layer_leaves_neither_target_nor_temporary_file()
    {
        var image = await TwoLayersAsync();
        File.WriteAllText(_store.PathOf(image.Layers[1].Descriptor.Digest), "not the layer");
        string dir = _temp["out"];
        Directory.CreateDirectory(dir);

        var e = await Assert.ThrowsAsync<LivrableException>(() => new ArchiveOutput(Path.Combine(dir, "image.tar")).WriteAsync(image, "app", ["latest"], CancellationToken.None));

        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
    }

    [Fact]
    public async Task A_failure_keeps_the_previous_tarball()
    {
        var image = await TwoLayersAsync();
        string dir = _temp["out"];
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "image.tar");
        File.WriteAllText(path, "previous");
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new ArchiveOutput(path).WriteAsync(image, "app", ["latest"], cts.Token));

        Assert.Equal([path], Directory.EnumerateFileSystemEntries(dir));
        Assert.Equal("previous", File.ReadAllText(path));
    }

    /// <summary>
    /// Issue 10 item 12: a killed write left <c>image.tar.tmp-&lt;guid&gt;</c> (126 MB in the report) that nothing
    /// removed. The next write of the same tarball removes such leftovers, and only those: a concurrent writer's
    /// temporary file (held open, or written just now), another tarball's and a file that only looks like one stay.
    /// </summary>
    [Fact]
    public async Task A_killed_writes_temporary_file_is_removed_by_the_next_write_and_nothing_else()
    {
        var image = await TwoLayersAsync();
        string dir = _temp["out"];
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "image.tar");
        var old = DateTime.UtcNow - TimeSpan.FromHours(1);
        string Leftover(string name, bool stale)
        {
            string p = Path.Combine(dir, name);
            File.WriteAllBytes(p, new byte[4096]);
            if (stale) File.SetLastWriteTimeUtc(p, old);
            return p;
        }
        string killed = Leftover($"image.tar.tmp-{Guid.NewGuid():N}", stale: true);
        string fresh = Leftover($"image.tar.tmp-{Guid.NewGuid():N}", stale: false);
        string held = Leftover($"image.tar.tmp-{Guid.NewGuid():N}", stale: true);
        string otherTarball = Leftover($"other.tar.tmp-{Guid.NewGuid():N}", stale: true);
        string notOurs = Leftover("image.tar.tmp-notours", stale: true);
        string prefixed = Leftover($"image.tar.tmp-{Guid.NewGuid():N}.keep", stale: true);

        using (new FileStream(held, FileMode.Open, FileAccess.Write, FileShare.None))
            await new ArchiveOutput(path).WriteAsync(image, "app", ["latest"], CancellationToken.None);

        Assert.False(File.Exists(killed));
        Assert.Equal(new[] { fresh, held, otherTarball, notOurs, prefixed, path }.Order(StringComparer.Ordinal),
            Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal));
        await ImageValidator.ValidateArchiveAsync(path, image, "latest", _temp["check"]);
    }

    [Theory]
    [InlineData("App", "latest", DiagnosticCodes.InvalidRepository)]
    [InlineData("app:1.0", "latest", DiagnosticCodes.InvalidRepository)]
    [InlineData("app", "-bad", DiagnosticCodes.InvalidTag)]
    [InlineData("app", "", DiagnosticCodes.InvalidTag)]
    public async Task Bad_names_are_refused_before_anything_is_written(string repository, string tag, string code)
    {
        var image = await ScratchImage.Instance.ResolveAsync(Amd64, CancellationToken.None);
        string path = _temp["image.tar"];

        var e = await Assert.ThrowsAsync<LivrableException>(() => new ArchiveOutput(path).WriteAsync(image, repository, [tag], CancellationToken.None));

        Assert.Equal(code, e.Code);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task A_registry_in_the_repository_is_kept_in_the_names()
    {
        var image = await ScratchImage.Instance.ResolveAsync(Amd64, CancellationToken.None);
        string path = _temp["image.tar"];

        await new ArchiveOutput(path).WriteAsync(image, "localhost:5000/team/app", ["dev"], CancellationToken.None);

        var files = ReadEntries(path).Where(e => e.Data is not null).ToDictionary(e => e.Name, e => e.Data!);
        Assert.Contains("\"localhost:5000/team/app:dev\"", System.Text.Encoding.UTF8.GetString(files["manifest.json"]));
        Assert.Contains("\"localhost:5000/team/app:dev\"", System.Text.Encoding.UTF8.GetString(files["index.json"]));
        await Tools.RunCheckedAsync("skopeo", "inspect", "docker-archive:" + path);
    }

    [Fact]
    public async Task Long_blob_names_use_a_pax_header_that_readers_understand()
    {
        // A sha512 blob's name is over ustar's 100 bytes; the tarball goes through Layers/TarWriter, which carries it in PAX.
        var output = new MemoryStream();
        var writer = new Livrable.Layers.TarWriter(output, leaveOpen: true);
        string name = "blobs/sha512/" + new string('a', 128);
        await writer.WriteEntryAsync(new Livrable.Layers.TarHeader { Name = name, Size = 3, ModificationTime = TestImages.Created.ToUnixTimeSeconds() }, new MemoryStream([1, 2, 3]), CancellationToken.None);
        await writer.FinishAsync(CancellationToken.None);
        output.Position = 0;

        using var reader = new TarReader(output);
        var entry = reader.GetNextEntry()!;
        Assert.Equal(name, entry.Name);
        Assert.Equal(3, entry.Length);
        Assert.Null(reader.GetNextEntry());
    }

    internal sealed record Entry(string Name, TarEntryType EntryType, TarEntryFormat Format, int Uid, int Gid, DateTimeOffset ModificationTime, UnixFileMode Mode, byte[]? Data);

    internal static List<Entry> ReadEntries(string path)
    {
        using var file = File.OpenRead(path);
        using var reader = new TarReader(file);
        var list = new List<Entry>();
        while (reader.GetNextEntry() is { } e)
        {
            byte[]? data = null;
            if (e.DataStream is { } s)
            {
                var m = new MemoryStream();
                s.CopyTo(m);
                data = m.ToArray();
            }
            list.Add(new Entry(e.Name, e.EntryType, e.Format, e.Uid, e.Gid, e.ModificationTime, e.Mode, data));
        }
        return list;
    }
}
