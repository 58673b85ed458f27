using System.Text;
using Livrable.Build.Dockerfile;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// COPY and ADD against a real build context and file tree: the destination rules (the checklist's sections 3 and 8),
/// owners and modes, heredocs, wildcards, <c>--parents</c>, <c>--exclude</c>, archives, <c>COPY --from</c>, and
/// symlinked parents of the destination. Each case parses a small Dockerfile and reads the result back as a file tree.
/// </summary>
public sealed class CopyRulesTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly string _context;

    public CopyRulesTests()
    {
        _context = _temp["context"];
        Write("f.txt", "f\n");
        Write("g.txt", "g\n");
        Write("dir/a", "a\n");
        Write("dir/sub/b", "b\n");
        Write("dir/secret.key", "no\n");
        Write("tree/usr/lib/.keep", "");
        Directory.CreateSymbolicLink(Path.Combine(_context, "tree", "lib"), "usr/lib");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path.Combine(_context, "f.txt"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    public void Dispose() => _temp.Dispose();

    private void Write(string relative, string content)
    {
        string path = Path.Combine(_context, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    private async Task<FileTree> BuildAsync(string dockerfile, IReadOnlyDictionary<string, string>? buildArgs = null)
    {
        string path = Path.Combine(_context, "Dockerfile");
        await File.WriteAllTextAsync(path, dockerfile);
        var store = new BlobStore(_temp["state"]);
        var document = DockerfileParser.Parse(path, dockerfile, NullLogger.Instance);
        using var session = new DockerfileBuildSession(document, new DockerfileBuildOptions
        {
            TargetPlatform = new Platform("linux", "amd64"),
            BuildArgs = buildArgs ?? new Dictionary<string, string>(),
            ContextDirectory = _context,
            DockerfilePath = path,
            Store = store,
            OpenImage = name => name == "scratch" ? ScratchImage.Instance : throw new LivrableException(DiagnosticCodes.ManifestNotFound, name),
            Logger = NullLogger.Instance,
            TempDirectory = _temp["tmp", Guid.NewGuid().ToString("N")],
        });
        var result = await session.BuildAsync(CancellationToken.None);
        return await FileTree.LoadAsync(result.Layers, CancellationToken.None);
    }

    private static string Text(FileTree tree, string path)
    {
        var entry = tree.Get(path) ?? throw new Xunit.Sdk.XunitException($"{path} is not in the image");
        var materialized = tree.MaterializeAsync([entry], Path.GetTempPath(), CancellationToken.None).GetAwaiter().GetResult()[0];
        using var stream = materialized.Open!(CancellationToken.None).GetAwaiter().GetResult();
        return new StreamReader(stream, Encoding.UTF8).ReadToEnd();
    }

    public static TheoryData<string, string[], string[]> Destinations => new()
    {
        { "COPY f.txt /x", ["/x"], ["/x/f.txt"] },
        { "COPY f.txt /x/", ["/x/f.txt"], ["/f.txt"] },
        { "WORKDIR /w\nCOPY f.txt .", ["/w/f.txt"], [] },
        { "WORKDIR /w\nCOPY f.txt rel", ["/w/rel"], ["/w/rel/f.txt"] },
        { "WORKDIR /w\nCOPY f.txt sub/./", ["/w/sub/f.txt"], [] },
        { "COPY dir /d", ["/d/a", "/d/sub/b"], ["/d/dir"] },
        { "COPY dir/ /d", ["/d/a", "/d/sub/b"], ["/d/dir"] },
        { "COPY dir/* /d/", ["/d/a", "/d/b"], ["/d/sub"] },
        { "WORKDIR /existing\nCOPY f.txt /existing", ["/existing/f.txt"], [] },
        { "COPY f.txt g.txt /multi/", ["/multi/f.txt", "/multi/g.txt"], [] },
        { "COPY nothing* /n/", [], ["/n"] },
        { "COPY ../../f.txt /clamped", ["/clamped"], [] },
        { "COPY --parents dir/sub/b /p/", ["/p/dir/sub/b"], [] },
        { "COPY --parents dir/./sub/b /p/", ["/p/sub/b"], ["/p/dir"] },
        { "COPY --exclude=*.key dir /e", ["/e/a", "/e/sub/b"], ["/e/secret.key"] },
        { "COPY tree/ /\nCOPY f.txt /lib/", ["/usr/lib/f.txt", "/lib"], [] },
    };

    [Theory]
    [MemberData(nameof(Destinations))]
    public async Task Destinations_follow_BuildKits_rules(string instructions, string[] present, string[] absent)
    {
        var tree = await BuildAsync("FROM scratch\n" + instructions + "\n");
        foreach (string path in present) Assert.True(tree.Get(path) is not null, $"{path} is missing after:\n{instructions}");
        foreach (string path in absent) Assert.True(tree.Get(path) is null, $"{path} should not exist after:\n{instructions}");
    }

    [Fact]
    public async Task Context_files_are_root_owned_with_their_modes_and_chown_chmod_change_files_and_created_folders()
    {
        var tree = await BuildAsync("FROM scratch\nCOPY f.txt /plain\nCOPY --chown=1000:2000 --chmod=640 dir /owned/deep\n");
        var plain = tree.Get("/plain")!;
        Assert.Equal((0L, 0L, 0b111_100_100), (plain.Uid, plain.Gid, plain.Mode));
        var a = tree.Get("/owned/deep/a")!;
        Assert.Equal((1000L, 2000L, 0b110_100_000), (a.Uid, a.Gid, a.Mode));
        var created = tree.Get("/owned/deep")!;
        Assert.Equal((TarTypeFlag.Directory, 1000L, 2000L), (created.Type, created.Uid, created.Gid));
    }

    [Fact]
    public async Task A_heredoc_is_a_0644_file_named_after_its_delimiter_and_expanded_unless_quoted()
    {
        var tree = await BuildAsync("FROM scratch\nARG WHO=world\nCOPY <<EOF /hello.txt\nhello $WHO\nEOF\nCOPY <<'RAW' /raw/\nhello $WHO\nRAW\n");
        Assert.Equal("hello world\n", Text(tree, "/hello.txt"));
        Assert.Equal(0b110_100_100, tree.Get("/hello.txt")!.Mode);
        Assert.Equal("hello $WHO\n", Text(tree, "/raw/RAW"));
    }

    [Fact]
    public async Task ADD_extracts_a_local_archive_into_the_destination_unless_unpack_is_false()
    {
        Directory.CreateDirectory(_temp["payload", "inner"]);
        File.WriteAllText(_temp["payload", "inner", "x.txt"], "x\n");
        await Tools.RunCheckedAsync("tar", "-C", _temp["payload"], "-czf", Path.Combine(_context, "payload.bin"), "inner");
        var tree = await BuildAsync("FROM scratch\nADD payload.bin /opt/\nADD --unpack=false payload.bin /kept/\n");
        Assert.Equal("x\n", Text(tree, "/opt/inner/x.txt"));
        Assert.Equal(TarTypeFlag.RegularFile, tree.Get("/kept/payload.bin")!.Type);
    }

    [Fact]
    public async Task COPY_from_a_stage_keeps_owners_and_reads_from_that_stages_root()
    {
        var tree = await BuildAsync(
            "FROM scratch AS build\nCOPY --chown=7:8 dir /out\nWORKDIR /elsewhere\n" +
            "FROM scratch\nWORKDIR /app\nCOPY --from=build out/sub ./\nCOPY --from=0 /out/a /single\n");
        var b = tree.Get("/app/b")!;
        Assert.Equal((7L, 8L), (b.Uid, b.Gid));
        Assert.Equal("a\n", Text(tree, "/single"));
        Assert.Null(tree.Get("/elsewhere"));
    }

    [Fact]
    public async Task A_missing_source_is_an_error_at_the_COPY_line()
    {
        var e = await Assert.ThrowsAsync<LivrableException>(() => BuildAsync("FROM scratch\n\nCOPY missing.txt /x\n"));
        Assert.Equal(3, e.Span?.Line);
        e = await Assert.ThrowsAsync<LivrableException>(() => BuildAsync("FROM scratch AS a\nFROM scratch\nCOPY --from=a /nope /x\n"));
        Assert.Equal("LIV1111", e.Code);
        Assert.Equal(3, e.Span?.Line);
    }

    [Fact]
    public async Task COPY_from_a_stage_globs_by_the_same_rules_as_the_context()
    {
        // One copy of Go's filepath.Match (src/Tasks/Go): a malformed pattern is LIV1063 from a stage as from the
        // context, and ? is one character even outside the Basic Multilingual Plane.
        Write("a\U0001F600b", "emoji\n");
        foreach (string pattern in new[] { "[]a]", "a[", "[a-]", "[-a]" })
        {
            var fromContext = await Assert.ThrowsAsync<LivrableException>(() => BuildAsync($"FROM scratch\nCOPY {pattern} /x/\n"));
            var fromStage = await Assert.ThrowsAsync<LivrableException>(() => BuildAsync($"FROM scratch AS s\nCOPY dir /d\nFROM scratch\nCOPY --from=s /d/{pattern} /x/\n"));
            Assert.Equal(("LIV1063", "LIV1063"), (fromContext.Code, fromStage.Code));
        }
        var tree = await BuildAsync("FROM scratch AS s\nCOPY a* /d/\nFROM scratch\nCOPY --from=s /d/a?b /x/\nCOPY a?b /y/\n");
        Assert.Equal("emoji\n", Text(tree, "/x/a\U0001F600b"));
        Assert.Equal("emoji\n", Text(tree, "/y/a\U0001F600b"));
    }

    [Fact]
    public async Task COPY_of_a_URL_is_LIV1108_and_ADD_of_git_LIV1109()
    {
        var e = await Assert.ThrowsAsync<LivrableException>(() => BuildAsync("FROM scratch\nCOPY https://example.com/x /x\n"));
        Assert.Equal("LIV1108", e.Code);
        e = await Assert.ThrowsAsync<LivrableException>(() => BuildAsync("FROM scratch\nADD https://github.com/moby/buildkit.git /src\n"));
        Assert.Equal("LIV1109", e.Code);
        e = await Assert.ThrowsAsync<LivrableException>(() => BuildAsync("FROM scratch\nADD --checksum=sha256:0000000000000000000000000000000000000000000000000000000000000000 f.txt /x\n"));
        Assert.Equal("LIV1110", e.Code);
    }

    [Fact]
    public async Task WORKDIR_creates_its_folder_once_and_a_numeric_USER_owns_it()
    {
        var tree = await BuildAsync("FROM scratch\nUSER 1000\nWORKDIR /home/app\nWORKDIR /home/app\n");
        var dir = tree.Get("/home/app")!;
        Assert.Equal((TarTypeFlag.Directory, 1000L, 1000L, 0b111_101_101), (dir.Type, dir.Uid, dir.Gid, dir.Mode));
    }

    /// <summary>A merged-/usr root in the context (<c>img/</c>): <c>bin -> usr/bin</c>, <c>etc/os-release -> ../usr/lib/os-release</c>.</summary>
    private void WriteMergedUsr()
    {
        Write("img/usr/bin/sh", "sh\n");
        Write("img/usr/lib/os-release", "ID=base\n");
        Directory.CreateSymbolicLink(Path.Combine(_context, "img", "bin"), "usr/bin");
        Directory.CreateDirectory(Path.Combine(_context, "img", "etc"));
        File.CreateSymbolicLink(Path.Combine(_context, "img", "etc", "os-release"), "../usr/lib/os-release");
        File.CreateSymbolicLink(Path.Combine(_context, "img", "etc", "dangling"), "missing");
    }

    [Fact]
    public async Task Folders_made_for_the_destination_are_0755_whatever_chmod_says()
    {
        // fsutil's MkdirAll(target, 0755, ...): --chmod is for what is copied (issue 15).
        var tree = await BuildAsync("FROM scratch\nCOPY --chmod=0700 dir/ /s0/\nADD --chmod=600 f.txt /s1/\nCOPY --chmod=0644 dir /usr/local/\n");
        foreach (string folder in new[] { "/s0", "/s1", "/usr", "/usr/local" })
            Assert.Equal((TarTypeFlag.Directory, 0b111_101_101), (tree.Get(folder)!.Type, tree.Get(folder)!.Mode));
        Assert.Equal(0b111_000_000, tree.Get("/s0/sub")!.Mode);
        Assert.Equal(0b110_000_000, tree.Get("/s1/f.txt")!.Mode);
        Assert.Equal(0b110_100_100, tree.Get("/usr/local/sub")!.Mode);
    }

    [Fact]
    public async Task A_destination_that_is_a_symlink_to_a_file_is_written_through_and_the_link_kept()
    {
        WriteMergedUsr();
        var tree = await BuildAsync("FROM scratch\nCOPY img /\nCOPY f.txt /etc/os-release\nCOPY g.txt /etc/dangling\n");
        Assert.Equal((TarTypeFlag.SymbolicLink, "../usr/lib/os-release"), (tree.Get("/etc/os-release")!.Type, tree.Get("/etc/os-release")!.LinkTarget));
        Assert.Equal("f\n", Text(tree, "/usr/lib/os-release"));
        Assert.Equal(TarTypeFlag.SymbolicLink, tree.Get("/etc/dangling")!.Type);
        Assert.Equal("g\n", Text(tree, "/etc/missing"));
    }

    [Fact]
    public async Task A_copied_folder_never_replaces_a_symlink_of_the_image_it_is_LIV1112_at_the_COPY()
    {
        WriteMergedUsr();
        Write("tree2/bin/tool", "tool\n");
        Write("tree2/share/x.txt", "x\n");
        var e = await Assert.ThrowsAsync<LivrableException>(() => BuildAsync("FROM scratch\nCOPY img /\n\nCOPY tree2 /\n"));
        Assert.Equal(DiagnosticCodes.NotADirectory, e.Code);
        Assert.Equal(4, e.Span?.Line);
        Assert.Contains("cannot copy to non-directory: /bin", e.Message);
        // A file of a copied folder replaces what the image has at its path, as BuildKit's copy does.
        Write("tree3/etc/os-release", "mine\n");
        var tree = await BuildAsync("FROM scratch\nCOPY img /\nCOPY tree3 /\n");
        Assert.Equal("mine\n", Text(tree, "/etc/os-release"));
        Assert.Equal("ID=base\n", Text(tree, "/usr/lib/os-release"));
    }

    [Fact]
    public async Task Hard_links_are_kept_within_one_copy_from_a_stage_or_the_context()
    {
        Write("hl/f", "linked\n");
        Write("hl/other", "other\n");
        Directory.CreateDirectory(Path.Combine(_context, "hl", "sub"));
        await Tools.RunCheckedAsync("ln", Path.Combine(_context, "hl", "f"), Path.Combine(_context, "hl", "sub", "g"));
        await Tools.RunCheckedAsync("tar", "-C", _context, "--sort=name", "-cf", Path.Combine(_context, "hl.tar"), "hl");
        var tree = await BuildAsync("FROM scratch AS st\nADD hl.tar /out/\nFROM scratch\nCOPY --from=st /out/hl /s/\nCOPY --from=st /out/hl/f /out/hl/sub/g /two/\nCOPY hl /c/\nCOPY --parents hl /p/\n");
        // One file with two names in each folder copy (the tree gives both names one identity); two sources, two files.
        Assert.NotNull(tree.Get("/s/f")!.HardLinks);
        Assert.Same(tree.Get("/s/f")!.HardLinks, tree.Get("/s/sub/g")!.HardLinks);
        Assert.Same(tree.Get("/c/f")!.HardLinks, tree.Get("/c/sub/g")!.HardLinks);
        Assert.NotNull(tree.Get("/c/f")!.HardLinks);
        Assert.NotSame(tree.Get("/s/f")!.HardLinks, tree.Get("/c/f")!.HardLinks);
        Assert.NotNull(tree.Get("/p/hl/f")!.HardLinks);
        Assert.Same(tree.Get("/p/hl/f")!.HardLinks, tree.Get("/p/hl/sub/g")!.HardLinks);
        Assert.Null(tree.Get("/s/other")!.HardLinks);
        Assert.Null(tree.Get("/two/f")!.HardLinks);
        Assert.Equal("linked\n", Text(tree, "/s/sub/g"));
    }
}
