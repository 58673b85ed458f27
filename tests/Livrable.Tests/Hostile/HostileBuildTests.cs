using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Hostile;

/// <summary>
/// Hostile ADD archives and build contexts, through the whole Dockerfile build (<see cref="ImageBuilder"/>): each case
/// gives the code the build must fail with, or null when the build succeeds with the entry inside the image (then the
/// image is checked by the validator, skopeo and umoci). Every build writes only to its state folder and its output;
/// a sentinel folder beside them stays untouched.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class HostileBuildTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly Sentinel _sentinel;

    public HostileBuildTests() => _sentinel = new Sentinel(_temp["outside"]);

    public void Dispose() => _temp.Dispose();

    private const string Up = "../../../../../../../../../../../../../../../..";

    /// <summary>An ADD of a crafted archive into <c>/dest/</c>.</summary>
    public sealed record ArchiveCase(string Name, Func<Sentinel, HostileTar> Tar, string? Code)
    {
        public override string ToString() => Name;
    }

    private static readonly ArchiveCase[] Archives =
    [
        new("dotdot name", s => new HostileTar().File(Up + s.File), DiagnosticCodes.UnsafeArchivePath),
        new("dotdot inside a name", s => new HostileTar().File("a/../../x"), DiagnosticCodes.UnsafeArchivePath),
        new("absolute name", s => new HostileTar().File(s.Path + "/pwned"), null),
        // BuildKit untars on disk, so the file lands where the link points inside the root; here the layer would hold both.
        new("symlink to outside then a file through it", s => new HostileTar().Symlink("evil", s.Path).File("evil/pwned"), DiagnosticCodes.LayerPathConflict),
        new("hard link to an outside path", s => new HostileTar().HardLink("stolen", s.File), DiagnosticCodes.InvalidArchive),
        new("hard link climbing out", s => new HostileTar().HardLink("stolen", Up + s.File), DiagnosticCodes.UnsafeArchivePath),
        new("hard link through a symlinked parent", s => new HostileTar().Symlink("out", s.Path).HardLink("stolen", "out/sentinel.txt"), DiagnosticCodes.InvalidArchive),
        new("device node", s => new HostileTar().CharacterDevice("null", 1, 3), null),
        new("duplicate entries", s => new HostileTar().File("x", "first\n").File("x", "second\n"), null),
        new("bare .wh.", s => new HostileTar().File(".wh."), DiagnosticCodes.ArchiveWhiteoutEntry),
        new("whiteout of ..", s => new HostileTar().File("a/.wh.."), DiagnosticCodes.ArchiveWhiteoutEntry),
        new("a .wh. file", s => new HostileTar().File(".wh.passwd"), DiagnosticCodes.ArchiveWhiteoutEntry),
        new("a .wh. folder", s => new HostileTar().File(".wh.etc/x"), DiagnosticCodes.ArchiveWhiteoutEntry),
        new("opaque marker", s => new HostileTar().File("etc/.wh..wh..opq"), DiagnosticCodes.ArchiveWhiteoutEntry),
    ];

    /// <summary>The cases by name, so that each is its own test in a runner's list.</summary>
    public static TheoryData<string> ArchiveCases => [.. Archives.Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(ArchiveCases))]
    public async Task ADD_of_a_hostile_archive_fails_or_stays_in_the_image(string name)
    {
        var c = Archives.Single(a => a.Name == name);
        string context = Context();
        c.Tar(_sentinel).WriteFile(Path.Combine(context, "evil.tar.gz"), gzip: true);
        var result = await BuildAsync(context, "FROM scratch\nADD evil.tar.gz /dest/\n");

        Assert.True(c.Code is not null || result.Error is null, result.Error?.Code + " " + result.Error?.Message);
        await AssertOutcomeAsync(result, c.Code);
        if (c.Code is null)
        {
            string rootfs = result.Rootfs!;
            Assert.True(Directory.Exists(Path.Combine(rootfs, "dest")));
            if (c.Name == "absolute name") Assert.True(File.Exists(Path.Combine(rootfs, "dest", _sentinel.Path.TrimStart('/'), "pwned")));
            if (c.Name == "duplicate entries") Assert.Equal("second\n", File.ReadAllText(Path.Combine(rootfs, "dest", "x")));
        }
    }

    [Fact]
    public async Task ADD_of_a_decompression_bomb_fails_with_its_code()
    {
        // The cap of a Dockerfile build is 16 GiB; ArchiveExtraction takes it as a parameter, so 64 MiB of zeros against
        // 1 MiB takes the same path here.
        string bomb = new HostileTar().File("ok", "ok\n").Zeros("big", 64L << 20).WriteFile(_temp["bomb.tar.gz"], gzip: true);
        Assert.True(new FileInfo(bomb).Length < 1 << 20);

        var e = await Assert.ThrowsAsync<LivrableException>(() => ArchiveExtraction.ExtractAsync(
            _ => Task.FromResult<Stream>(File.OpenRead(bomb)), "/dest", _temp["state", "tmp"], 1 << 20, CancellationToken.None));

        Assert.Equal(DiagnosticCodes.ArchiveTooLarge, e.Code);
        _sentinel.AssertUntouched();
    }

    [Fact]
    public async Task COPY_of_a_symlink_pointing_outside_the_context_fails()
    {
        string context = Context();
        File.CreateSymbolicLink(Path.Combine(context, "escape"), _sentinel.Path);
        File.CreateSymbolicLink(Path.Combine(context, "escape-file"), _sentinel.File);

        foreach (string copy in new[] { "COPY escape /x/", "COPY escape-file /x", "COPY escape/sentinel.txt /x", "COPY esc* /x/" })
            await AssertOutcomeAsync(await BuildAsync(context, $"FROM scratch\n{copy}\n"), DiagnosticCodes.ContextSymlinkEscape);
    }

    [Fact]
    public async Task COPY_of_a_folder_keeps_a_link_pointing_outside_as_a_link()
    {
        // Links inside a copied folder are copied as links (BuildKit does the same): their target is never read.
        string context = Context();
        Directory.CreateDirectory(Path.Combine(context, "app"));
        File.WriteAllText(Path.Combine(context, "app", "ok.txt"), "ok\n");
        File.CreateSymbolicLink(Path.Combine(context, "app", "escape"), _sentinel.Path);
        File.CreateSymbolicLink(Path.Combine(context, "app", "secret"), _sentinel.File);

        var result = await BuildAsync(context, "FROM scratch\nCOPY app /app/\n");

        await AssertOutcomeAsync(result, null);
        Assert.Equal(_sentinel.Path, new FileInfo(Path.Combine(result.Rootfs!, "app", "escape")).LinkTarget);
        Assert.Equal(_sentinel.File, new FileInfo(Path.Combine(result.Rootfs!, "app", "secret")).LinkTarget);
    }

    [Theory]
    [InlineData("COPY .wh.passwd /etc/", "a file named .wh.*")]
    [InlineData("COPY etc/ /etc/", "a folder holding a .wh.* file")]
    [InlineData("COPY passwd /etc/.wh.passwd", "a destination named .wh.*")]
    [InlineData("COPY passwd /.wh.etc/", "a destination folder named .wh.*")]
    [InlineData("ADD .wh.passwd /etc/", "ADD of a file named .wh.*")]
    public async Task COPY_never_writes_a_whiteout(string instruction, string why)
    {
        string context = Context();
        File.WriteAllText(Path.Combine(context, ".wh.passwd"), "x\n");
        File.WriteAllText(Path.Combine(context, "passwd"), "root:x:0:0::/root:/bin/sh\n");
        Directory.CreateDirectory(Path.Combine(context, "etc"));
        File.WriteAllText(Path.Combine(context, "etc", ".wh.passwd"), "x\n");

        var result = await BuildAsync(context, $"FROM base\n{instruction}\n", baseLayers: [new HostileTar().Directory("etc").File("etc/passwd", "root:x:0:0::/root:/bin/sh\n")]);

        Assert.True(result.Error is not null, why);
        await AssertOutcomeAsync(result, DiagnosticCodes.WhiteoutNamedSource);
        Assert.Equal(2, result.Error!.Span?.Line);
    }

    [Theory]
    [InlineData("touch /.wh.passwd")]
    [InlineData("mkdir -p /.wh.etc/x")]
    public async Task RUN_never_writes_a_whiteout(string command)
    {
        // BuildKit's differ writes such a file into the layer as it is, and every reader then applies it as a whiteout.
        Tools.Require("runc");
        string context = Context();
        File.Copy(Tools.Require("busybox"), Path.Combine(context, "busybox"));

        var result = await BuildAsync(context, $"FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox {command}\"]\n");

        await AssertOutcomeAsync(result, DiagnosticCodes.RunWhiteoutName);
    }

    [Theory]
    [InlineData("whiteout of ..", DiagnosticCodes.InvalidWhiteout)]
    [InlineData("symlink to outside then a file through it", DiagnosticCodes.UnsafeLayerEntry)]
    [InlineData("hard link to an outside path", DiagnosticCodes.UnsafeLayerEntry)]
    public async Task RUN_over_a_hostile_base_layer_fails_before_running(string name, string code)
    {
        // The base layer is extracted for RUN under the state folder; the check comes before runc is started.
        Tools.Require("runc");
        var layer = name switch
        {
            "whiteout of .." => new HostileTar().File(".wh.."),
            "symlink to outside then a file through it" => new HostileTar().Symlink("evil", _sentinel.Path).File("evil/pwned"),
            _ => new HostileTar().HardLink("stolen", _sentinel.File),
        };

        var result = await BuildAsync(Context(), "FROM base\nRUN [\"/bin/true\"]\n", baseLayers: [layer]);

        await AssertOutcomeAsync(result, code);
        Assert.Empty(Directory.GetDirectories(_temp["state"], "tmp-*", SearchOption.AllDirectories));
    }

    private sealed record BuildResult(LivrableException? Error, string? Rootfs);

    private string Context()
    {
        string context = _temp["context-" + Guid.NewGuid().ToString("N")[..8]];
        Directory.CreateDirectory(context);
        return context;
    }

    /// <summary>
    /// Builds <paramref name="dockerfile"/> in <paramref name="context"/> into a tarball; <c>FROM base</c> names an OCI
    /// layout of <paramref name="baseLayers"/>. On success the image is validated and unpacked by umoci.
    /// </summary>
    private async Task<BuildResult> BuildAsync(string context, string dockerfile, IReadOnlyList<HostileTar>? baseLayers = null)
    {
        File.WriteAllText(Path.Combine(context, "Dockerfile"), dockerfile);
        var named = new Dictionary<string, string>();
        if (baseLayers is not null) named["base"] = "oci-layout:" + await LayoutAsync(baseLayers);
        string id = Path.GetFileName(context);
        var request = new ImageBuildRequest
        {
            Platform = Platform.FromRuntimeIdentifier("linux-x64"),
            Repository = "livrable-test/hostile",
            Tags = ["v1"],
            ArchivePath = _temp["out", id + ".tar"],
            StateDirectory = _temp["state"],
            Dockerfile = new DockerfileBuild { DockerfilePath = Path.Combine(context, "Dockerfile"), ContextDirectory = context, NamedContexts = named },
        };
        try
        {
            await ImageBuilder.BuildAsync(request, NullLogger.Instance, CancellationToken.None);
        }
        catch (LivrableException e)
        {
            return new BuildResult(e, null);
        }
        var image = await new ArchiveImage(request.ArchivePath!, "v1", new BlobStore(_temp["reader"])).ResolveAsync(request.Platform, CancellationToken.None);
        await ImageValidator.ValidateAsync(image);
        string rootfs = await ImageValidator.ValidateArchiveAsync(request.ArchivePath!, image, "v1", _temp["check-" + id]);
        return new BuildResult(null, rootfs);
    }

    /// <summary>An OCI layout of one image made of <paramref name="layers"/>, written by Livrable's archive output and unpacked.</summary>
    private async Task<string> LayoutAsync(IReadOnlyList<HostileTar> layers)
    {
        string layout = _temp["base-" + Guid.NewGuid().ToString("N")[..8]];
        var store = new BlobStore(_temp["base-state"]);
        var built = new List<ILayer>();
        foreach (var tar in layers) built.Add(await tar.LayerAsync(store, gzip: true));
        await HostileDocuments.WriteLayoutAsync(layout, store, built);
        return layout;
    }

    /// <summary>The build failed with <paramref name="code"/> (or succeeded when null), and wrote nothing outside its folders.</summary>
    private Task AssertOutcomeAsync(BuildResult result, string? code)
    {
        if (code is null) Assert.Null(result.Error);
        else Assert.Equal(code, Assert.IsType<LivrableException>(result.Error).Code);
        _sentinel.AssertUntouched();
        var allowed = new[] { "outside", "state", "out", "reader", "base-state" };
        Assert.All(Directory.GetFileSystemEntries(_temp.Path).Select(Path.GetFileName),
            n => Assert.True(allowed.Contains(n) || n!.StartsWith("context-", StringComparison.Ordinal) || n.StartsWith("check-", StringComparison.Ordinal)
                || n.StartsWith("base-", StringComparison.Ordinal), $"unexpected '{n}' beside the build's folders"));
        return Task.CompletedTask;
    }
}
