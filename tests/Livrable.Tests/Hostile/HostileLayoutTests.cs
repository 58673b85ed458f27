using System.Security.Cryptography;
using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Hostile;

/// <summary>
/// OCI layout folders whose files are not what they claim: a blob (manifest, config, layer), the <c>blobs/sha256</c>
/// folder or <c>index.json</c> replaced by a symbolic link out of the layout or by a FIFO, and a blob of the right size
/// with other bytes. Links and special files are LIV4063 unread (a FIFO never blocks); a wrong blob is LIV4001 without
/// the digest of what was read.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileLayoutTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly Sentinel _sentinel;

    public HostileLayoutTests() => _sentinel = new Sentinel(_temp["outside"]);

    public void Dispose() => _temp.Dispose();

    private static readonly Platform Amd64 = new("linux", "amd64");

    private async Task<(string Layout, Digest Manifest, Digest Config, Digest Layer)> LayoutAsync()
    {
        string layout = _temp["layout"];
        var store = new BlobStore(_temp["state"]);
        var layer = await new HostileTar().File("a", "a\n").LayerAsync(store, gzip: true);
        await HostileDocuments.WriteLayoutAsync(layout, store, [layer]);
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(layout, "index.json")));
        var manifest = Digest.Parse(index.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!);
        using var manifestJson = JsonDocument.Parse(File.ReadAllBytes(Blob(layout, manifest)));
        var config = Digest.Parse(manifestJson.RootElement.GetProperty("config").GetProperty("digest").GetString()!);
        return (layout, manifest, config, layer.Descriptor.Digest);
    }

    private static string Blob(string layout, Digest digest) => Path.Combine(layout, "blobs", digest.Algorithm, digest.Hex);

    private static void Replace(string path, Action<string> make)
    {
        File.Delete(path);
        make(path);
    }

    private static void Fifo(string path) => Tools.RunCheckedAsync("mkfifo", path).GetAwaiter().GetResult();

    public static TheoryData<string> Cases => ["manifest link", "config link", "manifest FIFO", "config FIFO", "blobs folder link", "index.json link", "oci-layout FIFO"];

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_link_or_a_FIFO_in_the_layout_is_refused_unread(string name)
    {
        var (layout, manifest, config, _) = await LayoutAsync();
        string secretDigest = "sha256:" + Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(_sentinel.File))).ToLowerInvariant();
        switch (name)
        {
            case "manifest link": Replace(Blob(layout, manifest), p => File.CreateSymbolicLink(p, _sentinel.File)); break;
            case "config link": Replace(Blob(layout, config), p => File.CreateSymbolicLink(p, _sentinel.File)); break;
            case "manifest FIFO": Replace(Blob(layout, manifest), Fifo); break;
            case "config FIFO": Replace(Blob(layout, config), Fifo); break;
            case "blobs folder link":
                string copy = Path.Combine(_sentinel.Path, "blobs");
                Directory.Move(Path.Combine(layout, "blobs"), copy);
                Directory.CreateSymbolicLink(Path.Combine(layout, "blobs"), copy);
                break;
            case "index.json link":
                File.Move(Path.Combine(layout, "index.json"), Path.Combine(_temp.Path, "index.json"));
                File.CreateSymbolicLink(Path.Combine(layout, "index.json"), Path.Combine(_temp.Path, "index.json"));
                break;
            default: Replace(Path.Combine(layout, "oci-layout"), Fifo); break;
        }

        var resolve = Task.Run(() => new LayoutImage(layout).ResolveAsync(Amd64, CancellationToken.None));
        Assert.True(await Task.WhenAny(resolve, Task.Delay(TimeSpan.FromSeconds(30))) == resolve, "reading the layout blocked");
        var e = Assert.IsType<LivrableException>(await Record.ExceptionAsync(() => resolve));
        Assert.Equal(DiagnosticCodes.LayoutBlobNotRegular, e.Code);
        Assert.DoesNotContain(secretDigest, e.Message);
        Assert.DoesNotContain(secretDigest[7..], e.Message);
    }

    [Fact]
    public async Task A_layer_blob_linked_out_of_the_layout_is_refused_when_read()
    {
        var (layout, _, _, layer) = await LayoutAsync();
        Replace(Blob(layout, layer), p => File.CreateSymbolicLink(p, _sentinel.File));
        var image = await new LayoutImage(layout).ResolveAsync(Amd64, CancellationToken.None);
        var e = await Assert.ThrowsAsync<LivrableException>(() => image.Layers[0].OpenAsync(CancellationToken.None));
        Assert.Equal(DiagnosticCodes.LayoutBlobNotRegular, e.Code);
    }

    [Fact]
    public async Task A_blob_with_other_bytes_is_refused_without_their_digest()
    {
        var (layout, manifest, _, _) = await LayoutAsync();
        byte[] bytes = File.ReadAllBytes(Blob(layout, manifest));
        bytes[^2] ^= 0x20; // same size, other bytes
        File.WriteAllBytes(Blob(layout, manifest), bytes);
        string actual = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();

        var e = await Assert.ThrowsAsync<LivrableException>(() => new LayoutImage(layout).ResolveAsync(Amd64, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
        Assert.Contains(manifest.ToString(), e.Message);
        Assert.DoesNotContain(actual, e.Message);
    }
}
