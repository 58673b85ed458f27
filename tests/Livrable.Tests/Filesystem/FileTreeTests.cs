using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Layers;
using Xunit;
using static Livrable.Tests.Filesystem.FsTestSupport;

namespace Livrable.Tests.Filesystem;

/// <summary>Trees made with <see cref="FileTree.With"/>: resolution, whiteouts, replacement rules, persistence.</summary>
public sealed class FileTreeTests
{
    private static readonly FileTree Links = FileTree.Empty.With(
    [
        Dir("/usr"), Dir("/usr/lib"), File("/usr/lib/libc.so", "libc"),
        Link("/lib", "usr/lib"),                    // relative
        Link("/abs", "/usr/lib/libc.so"),           // absolute
        Link("/usr/lib/up", "../../etc"),           // .. inside
        Link("/escape", "../../../../usr"),         // .. clamped at the root
        Dir("/etc"), File("/etc/hosts", "hosts"),
        Link("/loop1", "loop2"), Link("/loop2", "/loop1"),
        Link("/self", "self"),
        Link("/dangling", "/nowhere/x"),
        Link("/lib/chain", "libc.so"),              // written through the linked parent
    ]);

    [Theory]
    [InlineData("/lib/libc.so", "/usr/lib/libc.so")]
    [InlineData("/abs", "/usr/lib/libc.so")]
    [InlineData("/usr/lib/up/hosts", "/etc/hosts")]
    [InlineData("/escape/lib/libc.so", "/usr/lib/libc.so")]
    [InlineData("/lib/../lib/libc.so", "/usr/lib/libc.so")]     // '..' after a link is the parent of its target, /usr
    [InlineData("/../../lib//./libc.so", "/usr/lib/libc.so")]
    [InlineData("/lib/chain", "/usr/lib/libc.so")]
    [InlineData("/lib", "/usr/lib")]
    public void Resolve_follows_links_inside_the_tree(string path, string expected)
        => Assert.Equal(expected, Links.Resolve(path)!.Path);

    [Fact]
    public void Get_resolves_parents_but_not_the_last_link()
    {
        Assert.Equal(TarTypeFlag.SymbolicLink, Links.Get("/abs")!.Type);
        Assert.Equal("/usr/lib/chain", Links.Get("/lib/chain")!.Path);
        Assert.Equal(TarTypeFlag.SymbolicLink, Links.Get("/lib/chain")!.Type);
        Assert.Null(Links.Get("/etc/hosts/x"));
        Assert.Null(Links.Resolve("/dangling"));
        Assert.Equal(TarTypeFlag.SymbolicLink, Links.Get("/dangling")!.Type);
        Assert.Null(Links.Get("/missing/x"));
        Assert.Null(Links.Resolve("/lib/../etc/hosts"));          // /usr/etc/hosts, as the kernel resolves it
        Assert.Equal("/", Links.Get("/")!.Path);
    }

    [Theory]
    [InlineData("/loop1")]
    [InlineData("/self/x")]
    public void A_link_loop_is_LIV4074(string path)
    {
        var e = Assert.Throws<LivrableException>(() => Links.Resolve(path));
        Assert.Equal(DiagnosticCodes.SymlinkLoop, e.Code);
    }

    [Fact]
    public void With_leaves_the_tree_it_started_from_unchanged()
    {
        var before = FileTree.Empty.With([File("/a/x", "x"), File("/a/y", "y")]);
        var after = before.With([FileEntry.Whiteout("/a/x"), File("/b", "b")]);
        Assert.NotNull(before.Get("/a/x"));
        Assert.Null(before.Get("/b"));
        Assert.Null(after.Get("/a/x"));
        Assert.Equal(["/a", "/a/y", "/b"], after.Enumerate("/").Select(e => e.Path));
        Assert.Equal(["/a", "/a/x", "/a/y"], before.Enumerate("/").Select(e => e.Path));
    }

    /// <summary>
    /// Trees share their folders' name sets and copy their entries (plain dictionaries, issue 14): every way a layer
    /// changes a folder (an opaque whiteout, a file replacing a folder, a folder replacing a file, a hard link marking
    /// its target, a name added or whited out) must leave the tree it started from as it was.
    /// </summary>
    [Fact]
    public void Every_change_a_layer_makes_leaves_the_tree_it_started_from_unchanged()
    {
        var before = FileTree.Empty.With([File("/d/a", "a"), File("/d/b", "b"), File("/e/x", "x"), File("/f", "f"), File("/g", "g"), File("/k/y", "y")]);
        string[] paths = ["/d", "/d/a", "/d/b", "/e", "/e/x", "/f", "/g", "/k", "/k/y"];
        var after = before.With(
        [
            FileEntry.OpaqueWhiteout("/d"), File("/d/c", "c"), File("/e", "now a file"), Dir("/f"), File("/f/in", "in"),
            new FileEntry("/h", TarTypeFlag.HardLink, 0, 0, 0) { LinkTarget = "/g" }, FileEntry.Whiteout("/k/y"), File("/k/z", "z"),
        ]);
        Assert.Equal(["/d", "/d/c", "/e", "/f", "/f/in", "/g", "/h", "/k", "/k/z"], after.Enumerate("/").Select(e => e.Path));
        Assert.NotNull(after.Get("/g")!.HardLinks);
        Assert.Equal(paths, before.Enumerate("/").Select(e => e.Path));
        Assert.Equal(TarTypeFlag.Directory, before.Get("/e")!.Type);
        Assert.Equal(TarTypeFlag.RegularFile, before.Get("/f")!.Type);
        Assert.Null(before.Get("/g")!.HardLinks);
        Assert.Equal(paths.Length + 1, before.Count);
        // A second layer over the same start sees the start's folders, not the first layer's changes.
        var other = before.With([File("/d/q", "q")]);
        Assert.Equal(["/d", "/d/a", "/d/b", "/d/q"], other.Enumerate("/d").Select(e => e.Path).Prepend("/d"));
    }

    [Fact]
    public void A_whiteout_never_hides_an_entry_of_its_own_layer()
    {
        var lower = FileTree.Empty.With([File("/d/old", "old"), File("/d/keep-not", "k"), File("/f", "lower")]);
        var tree = lower.With([File("/d/mine", "mine"), FileEntry.OpaqueWhiteout("/d"), File("/f", "upper"), FileEntry.Whiteout("/f")]);
        Assert.Equal(["/d", "/d/mine", "/f"], tree.Enumerate("/").Select(e => e.Path));
        Assert.Equal(5, tree.Get("/f")!.Size);
    }

    [Fact]
    public void Replacement_rules_directories_merge_and_other_types_replace()
    {
        var lower = FileTree.Empty.With([Dir("/d", 0x1C0), File("/d/a", "a"), File("/f", "f")]);
        var merged = lower.With([Dir("/d", 0x1FF, uid: 3)]);
        Assert.Equal((0x1FF, 3L), (merged.Get("/d")!.Mode, merged.Get("/d")!.Uid));
        Assert.NotNull(merged.Get("/d/a"));

        var replaced = lower.With([File("/d", "now a file"), Dir("/f"), File("/f/inside", "i")]);
        Assert.Equal(TarTypeFlag.RegularFile, replaced.Get("/d")!.Type);
        Assert.Null(replaced.Get("/d/a"));
        Assert.Equal(["/d", "/f", "/f/inside"], replaced.Enumerate("/").Select(e => e.Path));
    }

    [Fact]
    public void Missing_parents_are_0755_root_directories_and_a_file_in_the_way_becomes_one()
    {
        var tree = FileTree.Empty.With([File("/x", "file"), File("/x/y/z", "z")]);
        var x = tree.Get("/x")!;
        Assert.Equal((TarTypeFlag.Directory, 0x1ED, 0L, 0L), (x.Type, x.Mode, x.Uid, x.Gid));
        Assert.Equal(TarTypeFlag.Directory, tree.Get("/x/y")!.Type);
    }

    [Fact]
    public void Hard_links_become_copies_of_their_target_entry()
    {
        var tree = FileTree.Empty.With([File("/a", "bytes", mode: 0x1C0, uid: 9), new FileEntry("/b", TarTypeFlag.HardLink, 0, 0, 0) { LinkTarget = "/a" }]);
        var b = tree.Get("/b")!;
        Assert.Equal((TarTypeFlag.RegularFile, 0x1C0, 9L, 5L), (b.Type, b.Mode, b.Uid, b.Size));
        var e = Assert.Throws<LivrableException>(() => FileTree.Empty.With([new FileEntry("/c", TarTypeFlag.HardLink, 0, 0, 0) { LinkTarget = "/none" }]));
        Assert.Equal(DiagnosticCodes.InvalidArchive, e.Code);
    }

    [Fact]
    public void Enumerate_lists_descendants_sorted_and_follows_a_linked_directory()
    {
        var tree = FileTree.Empty.With([File("/d/b", "b"), File("/d/a.txt", "a"), File("/d/a/z", "z"), Link("/l", "d"), File("/other", "o")]);
        // Code point order of the paths: '.' (2E) before '/' (2F); a directory always before what it holds.
        Assert.Equal(["/d/a", "/d/a.txt", "/d/a/z", "/d/b"], tree.Enumerate("/d").Select(e => e.Path));
        Assert.Equal(["/d/a", "/d/a.txt", "/d/a/z", "/d/b"], tree.Enumerate("/l").Select(e => e.Path));
        Assert.Empty(tree.Enumerate("/other"));
        Assert.Empty(tree.Enumerate("/missing"));
    }

    [Fact]
    public void A_twenty_thousand_entry_tree_takes_two_hundred_small_layers()
    {
        var big = new List<FileEntry>();
        for (int d = 0; d < 100; d++)
            for (int f = 0; f < 200; f++)
                big.Add(new FileEntry($"/data/d{d:D3}/f{f:D3}", TarTypeFlag.RegularFile, 0x1A4, 0, 0));
        var tree = FileTree.Empty.With(big);
        Assert.Equal(20_000 + 100 + 2, tree.Count);
        var current = tree;
        for (int i = 0; i < 200; i++)
            current = current.With([File($"/app/step{i}", "x"), FileEntry.Whiteout($"/data/d{i % 100:D3}/f{i:D3}")]);
        Assert.Equal(tree.Count + 1 + 200 - 200, current.Count);
        Assert.Equal(20_102, tree.Count);
        Assert.NotNull(tree.Get("/data/d000/f000"));
        Assert.Null(current.Get("/data/d000/f000"));
    }
}
