using System.Security.Cryptography;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Outputs;

/// <summary>
/// Issue 14, the edit loop: the tarball a write replaces loses its name before the write returns, and its handles are
/// closed on another thread (where the kernel frees its blocks and page cache), never left on disk.
/// </summary>
public sealed class ArchiveReplacedTarballTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;

    public ArchiveReplacedTarballTests() => _store = new BlobStore(_temp["state"]);

    public void Dispose() => _temp.Dispose();

    private static Dictionary<string, byte[]> File1(string content) => new() { ["app.py"] = System.Text.Encoding.UTF8.GetBytes(content) };

    /// <summary>This process's descriptors open on a removed file whose name started with <paramref name="prefix"/>.</summary>
    private static List<string> OpenRemoved(string prefix)
        => Directory.EnumerateFileSystemEntries("/proc/self/fd")
            .Select(fd => { try { return new FileInfo(fd).LinkTarget; } catch (IOException) { return null; } })
            .Where(t => t is not null && t.StartsWith(prefix, StringComparison.Ordinal) && t.EndsWith(" (deleted)", StringComparison.Ordinal))
            .Select(t => t!).ToList();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_replaced_tarball_loses_its_name_at_once_and_is_closed_by_the_release(bool withState)
    {
        var common = new Dictionary<string, byte[]> { ["base.bin"] = RandomNumberGenerator.GetBytes(200_000) };
        var before = await TestImages.BuildAsync(_store, [common, File1("print(1)\n")]);
        var after = await TestImages.BuildAsync(_store, [common, File1("print(2)\n")]);
        string path = _temp["out/image.tar"];
        await new ArchiveOutput(path) { StateDirectory = withState ? _temp["state"] : null }.WriteAsync(before, "app", ["v1"], CancellationToken.None);

        Action? held = null;
        var edit = new ArchiveOutput(path)
        {
            StateDirectory = withState ? _temp["state"] : null,
            ReleaseScheduler = action => { held = action; return Task.CompletedTask; },
        };
        await edit.WriteAsync(after, "app", ["v1"], CancellationToken.None);

        // The folder holds the new tarball only; the old one is still open here, nameless.
        Assert.Equal([path], Directory.GetFiles(_temp["out"]));
        Assert.NotNull(held);
        Assert.NotEmpty(OpenRemoved(path + ".tmp-"));
        Assert.Equal(withState ? 1 : 0, edit.LayersCopied);

        held!();
        Assert.Empty(OpenRemoved(path + ".tmp-"));
        await ImageValidator.ValidateArchiveAsync(path, after, "v1", _temp["check"]);
    }

    [Fact]
    public async Task A_first_write_has_nothing_to_release()
    {
        var image = await TestImages.BuildAsync(_store, [File1("print(1)\n")]);
        string path = _temp["out/image.tar"];
        bool scheduled = false;
        var first = new ArchiveOutput(path) { StateDirectory = _temp["state"], ReleaseScheduler = action => { scheduled = true; action(); return Task.CompletedTask; } };
        await first.WriteAsync(image, "app", ["v1"], CancellationToken.None);
        Assert.False(scheduled);
        Assert.Equal([path], Directory.GetFiles(_temp["out"]));
    }
}
