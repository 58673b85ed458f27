using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Context;

/// <summary>COPY/ADD source resolution over real folders (symbolic links need a Unix host).</summary>
public sealed class BuildContextTests : IDisposable
{
    private static readonly SourceSpan Span = new("Dockerfile", 4, 1, 4, 30);
    private readonly TempDirectory _temp = new();
    private readonly string _root;

    public BuildContextTests()
    {
        _root = _temp["ctx"];
        Directory.CreateDirectory(_root);
    }

    public void Dispose() => _temp.Dispose();

    private void Write(string relative, string content = "x")
    {
        string path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    private void Link(string relative, string target)
    {
        string path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.CreateSymbolicLink(path, target);
    }

    private BuildContext Open(string ignore = "", string? dockerfile = null)
    {
        if (ignore.Length > 0) File.WriteAllText(Path.Combine(_root, ".dockerignore"), ignore);
        return BuildContext.Open(_root, dockerfile);
    }

    private static string[] Paths(IEnumerable<ContextEntry> entries) => entries.Select(e => e.RelativePath).ToArray();

    private static LivrableException Fails(Action action, string code)
    {
        var error = Assert.Throws<LivrableException>(action);
        Assert.Equal(code, error.Code);
        Assert.Equal(Span, error.Span);
        return error;
    }

    [Theory]
    [InlineData("a.txt")]
    [InlineData("/a.txt")]
    [InlineData("../../a.txt")]
    [InlineData("./a.txt")]
    [InlineData("sub/../a.txt")]
    [InlineData("/../a.txt")]
    public void Leading_slash_and_dot_dot_are_clamped_to_the_root(string source)
    {
        Write("a.txt", "hello");
        var entry = Assert.Single(Open().Resolve(source, Span));
        Assert.Equal("a.txt", entry.RelativePath);
        Assert.Equal(ContextEntryType.File, entry.Type);
        Assert.Equal(5, entry.Size);
        Assert.Equal(Path.Combine(_root, "a.txt"), entry.FullPath);
        Assert.Null(entry.LinkTarget);
    }

    [Theory]
    [InlineData(".")]
    [InlineData("/")]
    [InlineData("..")]
    [InlineData("./")]
    [InlineData("")]
    public void The_root_itself_is_the_dot_entry(string source)
    {
        var entry = Assert.Single(Open().Resolve(source, Span));
        Assert.Equal(".", entry.RelativePath);
        Assert.Equal(ContextEntryType.Directory, entry.Type);
        Assert.Equal(_root, entry.FullPath);
    }

    [Fact]
    public void A_trailing_slash_is_ignored()
    {
        Write("sub/f.txt");
        var context = Open();
        Assert.Equal(Paths(context.Resolve("sub", Span)), Paths(context.Resolve("sub/", Span)));
        Assert.Equal(Paths(context.Resolve("sub", Span)), Paths(context.Resolve("sub/.", Span)));
        Assert.Equal(ContextEntryType.Directory, context.Resolve("sub/", Span)[0].Type);
    }

    [Fact]
    public void A_missing_literal_path_is_not_found_at_the_span()
    {
        var error = Fails(() => Open().Resolve("../missing.txt", Span), DiagnosticCodes.ContextSourceNotFound);
        Assert.Equal("\"/missing.txt\": not found", error.Message);
        Fails(() => Open().Resolve("nodir/file", Span), DiagnosticCodes.ContextSourceNotFound);
    }

    [Theory]
    [InlineData("*.none")]
    [InlineData("nodir/*.txt")]
    [InlineData("a.txt/*")]
    [InlineData("s*/none*")]
    public void A_wildcard_matching_nothing_is_an_empty_list(string source)
    {
        Write("a.txt");
        Write("sub/f.txt");
        Assert.Empty(Open().Resolve(source, Span));
    }

    [Theory]
    [InlineData("*.txt", new[] { "a.txt", "b.txt", "star*.txt", "starX.txt" })]
    [InlineData("?.txt", new[] { "a.txt", "b.txt" })]
    [InlineData("[a].txt", new[] { "a.txt" })]
    [InlineData("[^a].txt", new[] { "b.txt" })]
    [InlineData("[a-c].*", new[] { "a.txt", "b.txt", "c.md" })]
    [InlineData("sub/*", new[] { "sub/dir1", "sub/f1.txt", "sub/f2.txt" })]
    [InlineData("s?b/f[0-9].txt", new[] { "sub/f1.txt", "sub/f2.txt" })]
    [InlineData("*/f1.txt", new[] { "other/f1.txt", "sub/f1.txt" })]
    [InlineData("*/*/deep.txt", new[] { "sub/dir1/deep.txt" })]
    [InlineData("star\\*.t?t", new[] { "star*.txt" })]
    [InlineData("star*.txt", new[] { "star*.txt", "starX.txt" })]
    [InlineData("/../sub/./f?.txt", new[] { "sub/f1.txt", "sub/f2.txt" })]
    public void Wildcards_match_segment_by_segment_as_go_filepath_match(string source, string[] expected)
    {
        foreach (string f in new[] { "a.txt", "b.txt", "c.md", "sub/f1.txt", "sub/f2.txt", "sub/dir1/deep.txt", "other/f1.txt", "star*.txt", "starX.txt" })
            Write(f);
        Assert.Equal(expected, Paths(Open().Resolve(source, Span)));
    }

    [Fact]
    public void A_path_without_unescaped_wildcards_is_taken_literally()
    {
        // fsutil's splitWildcards: a\*b has no wildcard, so the name is looked up as written, backslash included.
        Write("a\\*b");
        Write("a*b");
        Assert.Equal(["a\\*b"], Paths(Open().Resolve("a\\*b", Span)));
    }

    [Fact]
    public void A_malformed_wildcard_is_LIV1063()
    {
        Fails(() => Open().Resolve("sub/[a-", Span), DiagnosticCodes.InvalidSourcePattern);
        Fails(() => Open().Resolve("x[]", Span), DiagnosticCodes.InvalidSourcePattern);
    }

    [Fact]
    public void A_folder_is_one_entry_and_Enumerate_gives_its_contents_sorted()
    {
        Write("sub/b.txt");
        Write("sub/A.txt");
        Write("sub/_u.txt");
        Write("sub/dir/c.txt");
        Directory.CreateDirectory(Path.Combine(_root, "sub", "empty"));
        var context = Open();
        var folder = Assert.Single(context.Resolve("sub", Span));
        Assert.Equal(ContextEntryType.Directory, folder.Type);
        Assert.Equal(["sub/A.txt", "sub/_u.txt", "sub/b.txt", "sub/dir", "sub/dir/c.txt", "sub/empty"], Paths(context.Enumerate(folder, [])));

        var root = Assert.Single(context.Resolve(".", Span));
        Assert.Equal(["sub", "sub/A.txt", "sub/_u.txt", "sub/b.txt", "sub/dir", "sub/dir/c.txt", "sub/empty"], Paths(context.Enumerate(root, [])));
    }

    [Fact]
    public void Enumerate_refuses_a_file()
    {
        Write("a.txt");
        var context = Open();
        Assert.Throws<ArgumentException>(() => context.Enumerate(context.Resolve("a.txt", Span)[0], []));
    }

    [Fact]
    public void Ignored_paths_are_invisible()
    {
        Write("app.log");
        Write("keep.txt");
        Write("secret/key");
        Write("src/debug.log");
        Write("Dockerfile");
        var context = Open("*.log\nsecret\n");
        Fails(() => context.Resolve("app.log", Span), DiagnosticCodes.ContextSourceNotFound);
        Fails(() => context.Resolve("secret", Span), DiagnosticCodes.ContextSourceNotFound);
        Fails(() => context.Resolve("secret/key", Span), DiagnosticCodes.ContextSourceNotFound);
        Assert.Empty(context.Resolve("*.log", Span));
        Assert.Equal(["keep.txt"], Paths(context.Resolve("*.txt", Span)));
        Assert.Equal(["src/debug.log"], Paths(context.Resolve("src/debug.log", Span)));
        Assert.Equal([".dockerignore", "Dockerfile", "keep.txt", "src", "src/debug.log"],
            Paths(context.Enumerate(context.Resolve(".", Span)[0], [])));
    }

    [Fact]
    public void The_Dockerfile_and_the_ignore_file_can_be_ignored_too()
    {
        Write("Dockerfile");
        Write("a.txt");
        var context = Open("Dockerfile\n.dockerignore\n");
        Assert.Equal(["a.txt"], Paths(context.Enumerate(context.Resolve(".", Span)[0], [])));
        Fails(() => context.Resolve("Dockerfile", Span), DiagnosticCodes.ContextSourceNotFound);
    }

    [Fact]
    public void An_exception_brings_a_file_back_with_its_excluded_folder()
    {
        Write("docs/README.md");
        Write("docs/other.md");
        Write("docs/deep/x.md");
        Write("build/keep/a.txt");
        Write("build/tmp/b.txt");
        var context = Open("docs\n!docs/README.md\nbuild\n!build/keep\n");
        var root = context.Resolve(".", Span)[0];
        Assert.Equal([".dockerignore", "build", "build/keep", "build/keep/a.txt", "docs", "docs/README.md"], Paths(context.Enumerate(root, [])));
        var docs = Assert.Single(context.Resolve("docs", Span));
        Assert.Equal(["docs/README.md"], Paths(context.Enumerate(docs, [])));
        Assert.Equal(["build", "docs"], Paths(context.Resolve("*", Span).Where(e => e.Type == ContextEntryType.Directory)));
        Fails(() => context.Resolve("docs/other.md", Span), DiagnosticCodes.ContextSourceNotFound);
        Fails(() => context.Resolve("build/tmp", Span), DiagnosticCodes.ContextSourceNotFound);
    }

    [Fact]
    public void An_excluded_folder_with_nothing_brought_back_is_gone()
    {
        Write("docs/other.md");
        Write("a.txt");
        var context = Open("docs\n!docs/README.md\n");
        Fails(() => context.Resolve("docs", Span), DiagnosticCodes.ContextSourceNotFound);
        Assert.Equal([".dockerignore", "a.txt"], Paths(context.Resolve("*", Span)));
    }

    [Fact]
    public void Wildcard_exceptions_reach_deep_files()
    {
        Write("node_modules/a/package.json");
        Write("node_modules/a/index.js");
        Write("src/app.cs");
        var context = Open("node_modules\n!**/package.json\n");
        Assert.Equal([".dockerignore", "node_modules", "node_modules/a", "node_modules/a/package.json", "src", "src/app.cs"],
            Paths(context.Enumerate(context.Resolve(".", Span)[0], [])));
    }

    [Fact]
    public void Exclude_patterns_are_matched_from_the_copied_folder()
    {
        Write("sub/x.tmp");
        Write("sub/x.txt");
        Write("sub/deep/y.tmp");
        Write("sub/deep/keep.txt");
        Write("sub/deep/drop.txt");
        var context = Open();
        var sub = context.Resolve("sub", Span)[0];
        Assert.Equal(["sub/deep", "sub/deep/drop.txt", "sub/deep/keep.txt", "sub/deep/y.tmp", "sub/x.txt"], Paths(context.Enumerate(sub, ["*.tmp"])));
        Assert.Equal(["sub/deep", "sub/deep/drop.txt", "sub/deep/keep.txt", "sub/x.txt"], Paths(context.Enumerate(sub, ["**/*.tmp"])));
        Assert.Equal(["sub/deep", "sub/deep/keep.txt", "sub/x.tmp", "sub/x.txt"], Paths(context.Enumerate(sub, ["deep", "!deep/keep.txt"])));
        Assert.Equal(["sub/x.tmp", "sub/x.txt"], Paths(context.Enumerate(sub, ["deep"])));
        var root = context.Resolve(".", Span)[0];
        Assert.DoesNotContain("sub/x.tmp", Paths(context.Enumerate(root, ["sub/*.tmp"])));
        var error = Assert.Throws<LivrableException>(() => context.Enumerate(sub, ["!"]));
        Assert.Equal(DiagnosticCodes.InvalidIgnorePattern, error.Code);
    }

    [Fact]
    public void A_top_level_link_is_followed_and_keeps_its_name()
    {
        if (OperatingSystem.IsWindows()) return;
        Write("real/file.txt", "abc");
        Write("target.txt", "12345");
        Link("file-link", "target.txt");
        Link("dir-link", "real");
        Link("abs-inside", Path.Combine(_root, "target.txt"));
        Link("chain", "file-link");
        var context = Open();

        var file = Assert.Single(context.Resolve("file-link", Span));
        Assert.Equal(("file-link", ContextEntryType.File, 5L, Path.Combine(_root, "target.txt")), (file.RelativePath, file.Type, file.Size, file.FullPath));
        Assert.Equal(ContextEntryType.File, context.Resolve("abs-inside", Span)[0].Type);
        Assert.Equal(Path.Combine(_root, "target.txt"), context.Resolve("chain", Span)[0].FullPath);

        var dir = Assert.Single(context.Resolve("dir-link", Span));
        Assert.Equal(ContextEntryType.Directory, dir.Type);
        Assert.Equal(["dir-link/file.txt"], Paths(context.Enumerate(dir, [])));
        Assert.Equal("abc", File.ReadAllText(context.Resolve("dir-link/file.txt", Span)[0].FullPath));
        Assert.Equal(["dir-link/file.txt"], Paths(context.Resolve("dir-link/*.txt", Span)));
        // A wildcard walk does not go through links to folders (filepath.Walk uses lstat), as in BuildKit.
        Assert.Empty(context.Resolve("dir-*/*.txt", Span));
        Assert.Equal(ContextEntryType.File, context.Resolve("file-l*", Span)[0].Type);
    }

    [Theory]
    [InlineData("/etc/hostname")]
    [InlineData("../outside.txt")]
    [InlineData("sub/../../outside.txt")]
    [InlineData("../ctx/target.txt")]
    [InlineData("..")]
    public void A_link_leading_out_of_the_context_is_refused(string target)
    {
        if (OperatingSystem.IsWindows()) return;
        File.WriteAllText(_temp["outside.txt"], "secret");
        Write("target.txt");
        Directory.CreateDirectory(Path.Combine(_root, "sub"));
        Link("escape", target);
        Fails(() => Open().Resolve("escape", Span), DiagnosticCodes.ContextSymlinkEscape);
        Fails(() => Open().Resolve("esc*", Span), DiagnosticCodes.ContextSymlinkEscape);
    }

    [Fact]
    public void A_chain_of_links_leading_out_is_refused()
    {
        if (OperatingSystem.IsWindows()) return;
        File.WriteAllText(_temp["outside.txt"], "secret");
        Link("sub/c2", "../../outside.txt");
        Link("c1", "sub/c2");
        Link("hop/dir", "/tmp");
        Fails(() => Open().Resolve("c1", Span), DiagnosticCodes.ContextSymlinkEscape);
        Fails(() => Open().Resolve("hop/dir/x", Span), DiagnosticCodes.ContextSymlinkEscape);
    }

    [Fact]
    public void Links_inside_a_copied_folder_are_kept_as_links_even_when_they_point_out()
    {
        if (OperatingSystem.IsWindows()) return;
        Write("a.txt");
        Link("sub/to-a", "../a.txt");
        Link("sub/out", "/etc/passwd");
        Link("sub/dangling", "nowhere");
        var context = Open();
        var entries = context.Enumerate(context.Resolve("sub", Span)[0], []);
        Assert.Equal(["sub/dangling", "sub/out", "sub/to-a"], Paths(entries));
        Assert.All(entries, e => Assert.Equal(ContextEntryType.Symlink, e.Type));
        Assert.Equal(["nowhere", "/etc/passwd", "../a.txt"], entries.Select(e => e.LinkTarget!).ToArray());
        Assert.All(entries, e => Assert.Equal(0b111_111_111, e.Mode));
    }

    [Fact]
    public void A_dangling_or_ignored_link_is_not_found()
    {
        if (OperatingSystem.IsWindows()) return;
        Write("target.txt");
        Write("hidden.txt");
        Link("dangling", "nowhere");
        Link("ignored-link", "target.txt");
        Link("to-hidden", "hidden.txt");
        var context = Open("ignored-link\nhidden.txt\n");
        Fails(() => context.Resolve("dangling", Span), DiagnosticCodes.ContextSourceNotFound);
        Fails(() => context.Resolve("ignored-link", Span), DiagnosticCodes.ContextSourceNotFound);
        Fails(() => context.Resolve("to-hidden", Span), DiagnosticCodes.ContextSourceNotFound);
    }

    [Fact]
    public void Modes_come_from_the_file_system()
    {
        if (OperatingSystem.IsWindows()) return;
        Write("run.sh");
        Write("private.txt");
        Directory.CreateDirectory(Path.Combine(_root, "d"));
        File.SetUnixFileMode(Path.Combine(_root, "run.sh"), (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(Path.Combine(_root, "private.txt"), (UnixFileMode)0b110_000_000);
        File.SetUnixFileMode(Path.Combine(_root, "d"), (UnixFileMode)0b111_111_000);
        var context = Open();
        Assert.Equal(0b111_101_101, context.Resolve("run.sh", Span)[0].Mode);
        Assert.Equal(0b110_000_000, context.Resolve("private.txt", Span)[0].Mode);
        Assert.Equal(0b111_111_000, context.Resolve("d", Span)[0].Mode);
        var all = context.Enumerate(context.Resolve(".", Span)[0], []).ToDictionary(e => e.RelativePath, e => e.Mode);
        Assert.Equal(0b111_101_101, all["run.sh"]);
        Assert.Equal(0b110_000_000, all["private.txt"]);
    }

    [Fact]
    public void The_Dockerfiles_own_ignore_file_wins_over_the_roots()
    {
        Write("a.txt");
        Write("b.txt");
        Write("build/app.Dockerfile");
        Write("build/app.Dockerfile.dockerignore", "b.txt\n");
        Write("build/other.Dockerfile");
        File.WriteAllText(Path.Combine(_root, ".dockerignore"), "a.txt\n");

        var own = BuildContext.Open(_root, Path.Combine(_root, "build", "app.Dockerfile"));
        Assert.Equal(["b.txt"], own.Ignore.Patterns);
        Assert.Single(own.Resolve("a.txt", Span));
        Fails(() => own.Resolve("b.txt", Span), DiagnosticCodes.ContextSourceNotFound);

        var fallback = BuildContext.Open(_root, Path.Combine(_root, "build", "other.Dockerfile"));
        Assert.Equal(["a.txt"], fallback.Ignore.Patterns);
        Assert.Equal(["a.txt"], BuildContext.Open(_root, null).Ignore.Patterns);

        // The Dockerfile may live outside the context; its ignore file still wins.
        File.WriteAllText(_temp["outside.Dockerfile"], "FROM scratch");
        File.WriteAllText(_temp["outside.Dockerfile.dockerignore"], "b.txt");
        Assert.Equal(["b.txt"], BuildContext.Open(_root, _temp["outside.Dockerfile"]).Ignore.Patterns);
    }

    [Fact]
    public void Opening_a_missing_folder_or_a_bad_ignore_file_fails()
    {
        var missing = Assert.Throws<LivrableException>(() => BuildContext.Open(_temp["nope"], null));
        Assert.Equal(DiagnosticCodes.ContextUnreadable, missing.Code);
        File.WriteAllText(Path.Combine(_root, ".dockerignore"), "ok\n!\n");
        var bad = Assert.Throws<LivrableException>(() => BuildContext.Open(_root, null));
        Assert.Equal(DiagnosticCodes.InvalidIgnorePattern, bad.Code);
        Assert.Contains(".dockerignore", bad.Message);
        Assert.Empty(BuildContext.Open(_temp.Path, null).Ignore.Patterns);
    }
}
