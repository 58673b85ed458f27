using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Context;

/// <summary>
/// The walk reads a folder's names with <c>getdents64</c> into one buffer, several reads for a large folder, and asks
/// each name with <c>statx</c> relative to the folder (issue 14): every name comes back once, non-ASCII names decoded
/// as .NET decodes them, in folders much larger than one read.
/// </summary>
public sealed class FolderListingTests
{
    [Fact]
    public void A_folder_larger_than_one_read_is_listed_whole()
    {
        using var temp = new TempDirectory();
        string root = temp["ctx"];
        string big = Path.Combine(root, "big");
        Directory.CreateDirectory(big);
        // About 3,000 records of about 140 bytes: over 400 KB of records, many times one 32 KB read.
        for (int i = 0; i < 3000; i++)
            File.WriteAllText(Path.Combine(big, $"{i:D5}-{new string('n', 100)}{(i % 7 == 0 ? "-été-日本" : "")}.txt"), i.ToString());
        Directory.CreateDirectory(Path.Combine(big, "sub"));
        File.WriteAllText(Path.Combine(big, "sub", "inner"), "x");

        var context = BuildContext.Open(root, null);
        var entries = context.Enumerate(context.Resolve(".", new SourceSpan("Dockerfile", 1, 1, 1, 1))[0], []);

        var expected = Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(root, p)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(3003, expected.Length);
        Assert.Equal(expected, entries.Select(e => e.RelativePath).ToArray());
        Assert.All(entries, e => Assert.Equal(Path.Combine(root, e.RelativePath), e.FullPath));
        Assert.All(entries.Where(e => e.Type == ContextEntryType.File), e => Assert.Equal(new FileInfo(e.FullPath).Length, e.Size));
    }
}
