using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Runtime;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;
using Livrable.Interop;

namespace Livrable.Tests.Hostile;

/// <summary>
/// Hostile base layers, each read the two ways a build reads a base layer: extracted on disk for RUN
/// (<see cref="LayerRootfs"/>, under the state folder) and read into a stage's file tree (<see cref="FileTree"/>, in
/// memory, what COPY --from and ADD see). Each case gives the code each reader must answer, or null for a safe outcome
/// (the entry stays inside the image); in every case a sentinel folder outside the state folder is left untouched.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileLayerTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly BlobStore _store;
    private readonly Sentinel _sentinel;

    public HostileLayerTests()
    {
        _store = new BlobStore(_temp["state"]);
        _sentinel = new Sentinel(_temp["outside"]);
    }

    public void Dispose() => _temp.Dispose();

    /// <summary>Enough <c>..</c> to climb from any extraction root to <c>/</c>.</summary>
    private const string Up = "../../../../../../../../../../../../../../../..";

    /// <summary>One case: the layers (base first), the code RUN's extraction gives, the code the file tree gives.</summary>
    public sealed record Case(string Name, Func<Sentinel, HostileTar[]> Layers, string? RunCode, string? TreeCode)
    {
        public override string ToString() => Name;
    }

    private static readonly Case[] All =
    [
        new("dotdot name", s => [new HostileTar().File(Up + s.Path + "/pwned")], DiagnosticCodes.UnsafeLayerEntry, null),
        new("dotdot name inside", s => [new HostileTar().File("a/../../" + Up + s.File)], DiagnosticCodes.UnsafeLayerEntry, null),
        new("absolute name", s => [new HostileTar().File(s.Path + "/pwned")], null, null),
        new("symlink to outside then a file through it", s => [new HostileTar().Symlink("evil", s.Path).File("evil/pwned")], DiagnosticCodes.UnsafeLayerEntry, null),
        new("relative symlink climbing out then a file through it", s => [new HostileTar().Symlink("evil", Up + s.Path).File("evil/sentinel.txt")], DiagnosticCodes.UnsafeLayerEntry, null),
        new("symlink in one layer, a file through it in the next", s => [new HostileTar().Symlink("evil", s.Path), new HostileTar().File("evil/pwned")], null, null),
        new("symlink in one layer, a file over the sentinel through it in the next", s => [new HostileTar().Symlink("evil", Up + s.Path), new HostileTar().File("evil/sentinel.txt")], null, null),
        new("hard link to an outside path", s => [new HostileTar().HardLink("stolen", s.File)], DiagnosticCodes.UnsafeLayerEntry, DiagnosticCodes.InvalidArchive),
        new("hard link climbing out", s => [new HostileTar().HardLink("stolen", Up + s.File)], DiagnosticCodes.UnsafeLayerEntry, DiagnosticCodes.InvalidArchive),
        new("hard link through a symlinked parent", s => [new HostileTar().Symlink("out", s.Path).HardLink("stolen", "out/sentinel.txt")], DiagnosticCodes.UnsafeLayerEntry, DiagnosticCodes.InvalidArchive),
        new("device node", s => [new HostileTar().Directory("dev").CharacterDevice("dev/null", 1, 3)], null, null),
        new("device node through a symlinked parent", s => [new HostileTar().Symlink("dev", s.Path).CharacterDevice("dev/null", 1, 3)], DiagnosticCodes.UnsafeLayerEntry, null),
        new("duplicate: a folder, then a symlink of the same name, then a file through it", s => [new HostileTar().Directory("d").File("d/a").Symlink("d", s.Path).File("d/pwned")], DiagnosticCodes.UnsafeLayerEntry, null),
        new("duplicate: a file twice", s => [new HostileTar().File("x", "first\n").File("x", "second\n")], null, null),
        new("bare .wh.", s => [new HostileTar().Directory("etc").File("etc/passwd").File("etc/.wh.")], DiagnosticCodes.InvalidWhiteout, DiagnosticCodes.InvalidWhiteout),
        new("bare .wh. at the root", s => [new HostileTar().File(".wh.")], DiagnosticCodes.InvalidWhiteout, DiagnosticCodes.InvalidWhiteout),
        new("whiteout of ..", s => [new HostileTar().File(".wh...")], DiagnosticCodes.InvalidWhiteout, DiagnosticCodes.InvalidWhiteout),
        new("whiteout of .", s => [new HostileTar().Directory("a").File("a/.wh..")], DiagnosticCodes.InvalidWhiteout, DiagnosticCodes.InvalidWhiteout),
        new("whiteout climbing out", s => [new HostileTar().File(Up + s.Path + "/.wh.sentinel.txt")], DiagnosticCodes.UnsafeLayerEntry, null),
        new("whiteout through a symlinked parent", s => [new HostileTar().Symlink("evil", s.Path).File("evil/.wh.sentinel.txt")], DiagnosticCodes.UnsafeLayerEntry, null),
    ];

    /// <summary>The cases by name, so that each is its own test in a runner's list.</summary>
    public static TheoryData<string> Cases => [.. All.Select(c => c.Name)];

    private static Case Named(string name) => All.Single(c => c.Name == name);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task RUN_extraction_refuses_or_stays_inside(string name)
    {
        var c = Named(name);
        var layers = await LayersAsync(c);
        var rootfs = new LayerRootfs(_store.Root, NullLogger.Instance);

        if (c.RunCode is null)
        {
            foreach (var layer in layers)
            {
                string dir = await rootfs.EnsureAsync(layer, CancellationToken.None);
                Assert.StartsWith(Path.Combine(_store.Root, "rootfs") + "/", dir);
            }
        }
        else
        {
            LivrableException? e = null;
            foreach (var layer in layers)
                e ??= await Record.ExceptionAsync(() => rootfs.EnsureAsync(layer, CancellationToken.None)) as LivrableException;
            Assert.NotNull(e);
            Assert.Equal(c.RunCode, e.Code);
            // No half-extracted layer is left, under its name or a temporary one.
            Assert.DoesNotContain(layers, l => Directory.Exists(Path.Combine(_store.Root, "rootfs", l.DiffId.Hex)) && !File.Exists(Path.Combine(_store.Root, "rootfs", l.DiffId.Hex + ".done")));
            Assert.Empty(Directory.GetDirectories(Path.Combine(_store.Root, "rootfs"), "tmp-*"));
        }
        _sentinel.AssertUntouched();
        AssertNothingBesideStateAndSentinel();
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task The_file_tree_refuses_or_stays_inside(string name)
    {
        var c = Named(name);
        var layers = await LayersAsync(c);

        var e = await Record.ExceptionAsync(() => FileTree.LoadAsync(layers, CancellationToken.None));

        if (c.TreeCode is null) Assert.Null(e);
        else Assert.Equal(c.TreeCode, Assert.IsType<LivrableException>(e).Code);
        _sentinel.AssertUntouched();
        AssertNothingBesideStateAndSentinel();
    }

    [Fact]
    public async Task A_file_written_through_a_link_lands_inside_the_image_tree()
    {
        var layers = new[]
        {
            await new HostileTar().Symlink("evil", _sentinel.Path).LayerAsync(_store),
            await new HostileTar().File("evil/pwned", "inside\n").LayerAsync(_store),
        };
        var tree = await FileTree.LoadAsync(layers, CancellationToken.None);
        var entry = tree.Resolve("/evil/pwned");
        Assert.NotNull(entry);
        Assert.Equal(_sentinel.Path + "/pwned", entry.Path);
        _sentinel.AssertUntouched();
    }

    [Fact]
    public async Task A_device_node_is_created_inside_the_root_only()
    {
        // As root (RUN requires it), devices are created, inside the extraction root; as another user they are skipped.
        var layer = await new HostileTar().Directory("dev").CharacterDevice("dev/null", 1, 3).LayerAsync(_store);
        string dir = await new LayerRootfs(_store.Root, NullLogger.Instance).EnsureAsync(layer, CancellationToken.None);
        var status = UnixFileStatus.TryRead(Path.Combine(dir, "dev", "null"));
        if (Native.IsRoot)
        {
            Assert.Equal(UnixFileKind.CharacterDevice, status!.Value.Kind);
            Assert.Equal((1, 3), (status.Value.DeviceMajor, status.Value.DeviceMinor));
        }
        else Assert.Null(status);
        _sentinel.AssertUntouched();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_decompression_bomb_is_refused_by_both_readers(bool gzip)
    {
        // 64 MiB of zeros (about 64 KiB gzipped) against a 1 MiB cap: the same code path as 16 GiB against the default.
        var layer = await new HostileTar().File("small", "ok\n").Zeros("big", 64L << 20).LayerAsync(_store, gzip);
        if (gzip) Assert.True(layer.Descriptor.Size < 1 << 20);

        var run = await Assert.ThrowsAsync<LivrableException>(() => new LayerRootfs(_store.Root, NullLogger.Instance, maxLayerBytes: 1 << 20).EnsureAsync(layer, CancellationToken.None));
        var tree = await Assert.ThrowsAsync<LivrableException>(() => FileTree.LoadAsync([layer], maxLayerBytes: 1 << 20, CancellationToken.None));

        Assert.Equal(DiagnosticCodes.LayerTooLarge, run.Code);
        Assert.Equal(DiagnosticCodes.LayerTooLarge, tree.Code);
        Assert.Contains(layer.Descriptor.Digest.ToString(), run.Message);
        Assert.Empty(Directory.GetDirectories(Path.Combine(_store.Root, "rootfs"), "tmp-*"));
        Assert.False(Directory.Exists(Path.Combine(_store.Root, "rootfs", layer.DiffId.Hex)));
        _sentinel.AssertUntouched();
    }

    private async Task<ILayer[]> LayersAsync(Case c)
    {
        var layers = new List<ILayer>();
        foreach (var tar in c.Layers(_sentinel)) layers.Add(await tar.LayerAsync(_store, gzip: true));
        return [.. layers];
    }

    /// <summary>The test folder holds the state folder and the sentinel, nothing else (no file written beside them).</summary>
    private void AssertNothingBesideStateAndSentinel()
        => Assert.Equal(["outside", "state"], Directory.GetFileSystemEntries(_temp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
}
