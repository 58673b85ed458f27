using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Context;

/// <summary>
/// The walk emits each folder's entries in the order their paths sort in, so a context's list needs no sort after it
/// (issue 14): a folder's contents go where its name and a slash sort, its own entry where its name sorts, and the
/// siblings whose names extend its name with a character below the slash (<c>a.txt</c>, <c>a-b</c>, <c>a b</c>) go
/// between the two. The order each test expects is made here independently, with <see cref="string.CompareOrdinal(string, string)"/>
/// over the whole paths.
/// </summary>
public sealed class WalkOrderTests
{
    private static readonly SourceSpan Span = new("Dockerfile", 1, 1, 1, 1);

    [Fact]
    public void A_folder_sorts_where_its_name_and_a_slash_would()
    {
        (string, bool)[] names =
        [
            ("a", true), ("a.txt", false), ("a-b", true), ("a0", false), ("a b", false), ("A", false), ("ab", true), ("a!", false),
            ("é", false), ("z", true), ("\U0001F600", false), ("~", false), ("a.", true), (".hidden", false), ("-", true),
        ];
        Assert.Equal(Expected(names), Ordered(names));
    }

    [Fact]
    public void Random_names_come_in_the_order_of_their_paths()
    {
        var random = new Random(14);
        const string alphabet = "ab.-_ 0Zé!~"; // characters on both sides of the slash
        for (int round = 0; round < 200; round++)
        {
            var names = new Dictionary<string, bool>(StringComparer.Ordinal);
            int count = random.Next(1, 40);
            while (names.Count < count)
            {
                var chars = new char[random.Next(1, 5)];
                for (int i = 0; i < chars.Length; i++) chars[i] = alphabet[random.Next(alphabet.Length)];
                names.TryAdd(new string(chars), random.Next(2) == 0);
            }
            var list = names.Select(n => (n.Key, n.Value)).ToArray();
            Assert.Equal(Expected(list), Ordered(list));
        }
    }

    [Fact]
    public void The_walk_emits_a_sorted_list_at_every_depth_with_no_sort_after_it()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var temp = new TempDirectory();
        string root = temp["ctx"];
        // The same siblings at the root, at depth 1 and 2 (walked on all cores) and deeper (walked on one).
        foreach (string level in new[] { "", "p", "p/q", "p/q/r/s" })
        {
            string at = Path.Combine(root, level);
            foreach (string folder in new[] { "a", "a.d", "a-b", "ab", "a.d/x" })
                Directory.CreateDirectory(Path.Combine(at, folder));
            foreach (string file in new[] { "a.txt", "a0", "a b", "a/in", "a.d/x/y", "a-b/c", "A", "é" })
                File.WriteAllText(Path.Combine(at, file), file);
        }
        var context = BuildContext.Open(root, null);
        int sortsBefore = BuildContext.SortsAfterWalk;

        var entries = context.Enumerate(context.Resolve(".", Span)[0], []).Select(e => e.RelativePath).ToArray();

        var onDisk = Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(root, p)).ToArray();
        Array.Sort(onDisk, string.CompareOrdinal);
        Assert.Equal(onDisk, entries);
        Assert.Contains("p/q/r/s/a.d/x/y", entries);
        // Came out of the walk in order: the sort after it, kept for safety, did not run (it may for another test's walk at the same time only if the walk is wrong).
        Assert.Equal(sortsBefore, BuildContext.SortsAfterWalk);
    }

    [Fact]
    public void A_folder_brought_back_by_an_exception_sorts_before_its_extended_siblings()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var temp = new TempDirectory();
        string root = temp["ctx"];
        foreach (string level in new[] { "", "p/q/r" })
        {
            string at = Path.Combine(root, level);
            Directory.CreateDirectory(Path.Combine(at, "a", "keep"));
            File.WriteAllText(Path.Combine(at, "a", "drop"), "x");
            File.WriteAllText(Path.Combine(at, "a", "keep", "k"), "x");
            File.WriteAllText(Path.Combine(at, "a.txt"), "x");
            File.WriteAllText(Path.Combine(at, "a-z"), "x");
        }
        File.WriteAllText(Path.Combine(root, ".dockerignore"), "a\n!a/keep\np/q/r/a\n!p/q/r/a/keep\n");
        var context = BuildContext.Open(root, null);
        int sortsBefore = BuildContext.SortsAfterWalk;

        var entries = context.Enumerate(context.Resolve(".", Span)[0], []).Select(e => e.RelativePath).ToArray();

        Assert.Equal(
        [
            ".dockerignore", "a", "a-z", "a.txt", "a/keep", "a/keep/k", "p", "p/q", "p/q/r", "p/q/r/a", "p/q/r/a-z", "p/q/r/a.txt",
            "p/q/r/a/keep", "p/q/r/a/keep/k",
        ], entries);
        Assert.Equal(sortsBefore, BuildContext.SortsAfterWalk);
    }

    /// <summary>The names in the order the walk gives.</summary>
    private static string[] Ordered((string Name, bool IsDirectory)[] names)
        => BuildContext.WalkOrderOf(names).Select(i => names[i].Name).ToArray();

    /// <summary>
    /// The names in the order of the paths under them: each one's own path, and for a folder a path inside it, sorted
    /// ordinal; a name is placed by its own path.
    /// </summary>
    private static string[] Expected((string Name, bool IsDirectory)[] names)
    {
        var paths = names.Select(n => n.Name).Concat(names.Where(n => n.IsDirectory).Select(n => n.Name + "/\u0001")).ToArray();
        Array.Sort(paths, string.CompareOrdinal);
        // A folder's place among its siblings is its contents' place: the walk orders the listing that way.
        var folders = names.Where(n => n.IsDirectory).Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        return paths.Where(p => p.EndsWith("/\u0001", StringComparison.Ordinal) || !folders.Contains(p))
            .Select(p => p.EndsWith("/\u0001", StringComparison.Ordinal) ? p[..^2] : p).ToArray();
    }
}
