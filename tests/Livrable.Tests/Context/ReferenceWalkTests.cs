using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Context;

/// <summary>
/// The context walk (subfolders of the first levels walked on all cores, listings read with <c>getdents64</c> and
/// <c>statx</c>, issue 14) gives what the simplest walk gives: every path .NET lists under the folder, links not followed,
/// each kept when <see cref="DockerIgnore.IsExcluded"/> keeps it or, for a folder, when something inside is kept; sorted
/// by path (ordinal). The tree mixes what makes the order and the result easy to get wrong: names that sort around
/// <c>/</c> (<c>a</c>, <c>a-b</c>, <c>a.txt</c>, <c>a/…</c>), folders at the levels walked in parallel and below them,
/// excluded folders brought back by an exception at several depths, excluded files, links to a file, to a folder and to
/// nothing, an empty folder, a FIFO.
/// </summary>
public sealed class ReferenceWalkTests
{
    private const string DockerIgnoreText = """
        # excluded at the first level (walked in parallel), but for what the exception below brings back
        skip
        # excluded, but something inside brought back: at the first, second and fourth level
        gone
        !gone/kept.txt
        */deep/excluded
        !*/deep/excluded/back
        **/*.log
        !a/b/c/d/important.log
        a-b/x*
        """;

    [Fact]
    public async Task The_walk_equals_a_simple_reference_walk_in_order_and_content()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var temp = new TempDirectory();
        string root = temp["ctx"];
        Directory.CreateDirectory(root);
        void Write(string relative, string text = "x")
        {
            string full = Path.Combine(root, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, text);
        }

        foreach (string top in new[] { "a", "a-b", "a.d", "b", "skip", "gone", "z" })
        {
            for (int i = 0; i < 3; i++)
            {
                Write($"{top}/f{i}.txt", new string('y', i * 10));
                Write($"{top}/s{i}/g.txt");
                Write($"{top}/s{i}/h.log");
                Write($"{top}/s{i}/t/u/v.bin", "deep");
            }
            Write($"{top}/deep/excluded/back/one");
            Write($"{top}/deep/excluded/other");
            Write($"{top}/x1");
            Write($"{top}/y1");
        }
        Write("a.txt");
        Write("a/b/c/d/important.log");
        Write("a/b/c/d/unimportant.log");
        Write("a/b/c/d-e/f");
        Write("a/b/c.d");
        Write("gone/kept.txt");
        Directory.CreateDirectory(Path.Combine(root, "empty", "inner"));
        File.CreateSymbolicLink(Path.Combine(root, "a", "to-file"), "f0.txt");
        File.CreateSymbolicLink(Path.Combine(root, "b", "s1", "to-folder"), "../s2");
        File.CreateSymbolicLink(Path.Combine(root, "z", "s0", "t", "dangling"), "nowhere");
        await Tools.RunCheckedAsync("mkfifo", Path.Combine(root, "a", "s1", "t", "pipe"));
        File.SetUnixFileMode(Path.Combine(root, "b", "f1.txt"), (UnixFileMode)0b111_101_000);
        File.WriteAllText(Path.Combine(root, ".dockerignore"), DockerIgnoreText);

        var context = BuildContext.Open(root, null);
        var walked = context.Enumerate(context.Resolve(".", new SourceSpan("Dockerfile", 1, 1, 1, 1))[0], []);

        var reference = ReferenceWalk(root, DockerIgnore.Parse(DockerIgnoreText));
        Assert.Equal(reference.Select(r => r.Path).ToArray(), walked.Select(e => e.RelativePath).ToArray());
        for (int i = 0; i < reference.Count; i++)
        {
            var (path, type, mode, size, target) = reference[i];
            var entry = walked[i];
            Assert.Equal((path, Path.Combine(root, path), type, mode, size, target),
                (entry.RelativePath, entry.FullPath, entry.Type, entry.Mode, entry.Size, entry.LinkTarget));
        }
        // The tree holds what the test is about: entries brought back, entries left out, at several depths.
        Assert.Contains("gone/kept.txt", reference.Select(r => r.Path));
        Assert.Contains("b/deep/excluded/back/one", reference.Select(r => r.Path));
        Assert.Contains("a/b/c/d/important.log", reference.Select(r => r.Path));
        Assert.DoesNotContain("a/b/c/d/unimportant.log", reference.Select(r => r.Path));
        // "skip" is left out whole but for what the exception for */deep/excluded/back brings back.
        Assert.Equal(["skip", "skip/deep", "skip/deep/excluded", "skip/deep/excluded/back", "skip/deep/excluded/back/one"],
            reference.Select(r => r.Path).Where(p => p.StartsWith("skip", StringComparison.Ordinal)).ToArray());
        Assert.DoesNotContain("gone/f0.txt", reference.Select(r => r.Path));
        Assert.True(reference.Count > 100, $"{reference.Count} entries");
    }

    /// <summary>The simplest walk: .NET's recursive listing (links not followed), the ignore file asked path by path.</summary>
    private static List<(string Path, ContextEntryType Type, int Mode, long Size, string? Target)> ReferenceWalk(string root, DockerIgnore ignore)
    {
        var all = new List<(string Path, ContextEntryType Type, int Mode, long Size, string? Target)>();
        void Visit(string folder)
        {
            foreach (string full in Directory.EnumerateFileSystemEntries(folder))
            {
                string path = Path.GetRelativePath(root, full).Replace('\\', '/');
                var info = new FileInfo(full);
                if (info.LinkTarget is { } target)
                {
                    all.Add((path, ContextEntryType.Symlink, 0b111_111_111, 0, target));
                }
                else if (Directory.Exists(full))
                {
                    all.Add((path, ContextEntryType.Directory, (int)new DirectoryInfo(full).UnixFileMode, 0, null));
                    Visit(full);
                }
                else
                {
                    all.Add((path, ContextEntryType.File, (int)info.UnixFileMode, info.Length, null));
                }
            }
        }
        Visit(root);
        var kept = all.Where(e => !ignore.IsExcluded(e.Path)).Select(e => e.Path).ToHashSet(StringComparer.Ordinal);
        return all.Where(e => kept.Contains(e.Path)
                || (e.Type == ContextEntryType.Directory && kept.Any(k => k.StartsWith(e.Path + "/", StringComparison.Ordinal))))
            .OrderBy(e => e.Path, StringComparer.Ordinal).ToList();
    }
}
