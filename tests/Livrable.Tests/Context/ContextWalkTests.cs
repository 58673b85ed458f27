using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Layers;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Context;

/// <summary>
/// The context walk lists each entry with one <c>statx</c> (issue 14): what it says of every kind of entry (file,
/// setuid file, dot file, empty file, folder, links to a file, to a folder and to nothing, FIFO) is what .NET's
/// <see cref="FileSystemInfo"/> says, read here independently, and each entry carries the status the digest lookup
/// takes instead of asking again.
/// </summary>
public sealed class ContextWalkTests
{
    [Fact]
    public async Task The_walk_lists_every_kind_of_entry_as_FileSystemInfo_does_and_carries_its_status()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var temp = new TempDirectory();
        string root = temp["ctx"];
        Directory.CreateDirectory(Path.Combine(root, "d", "e"));
        File.WriteAllText(Path.Combine(root, "a.txt"), "hello");
        File.WriteAllText(Path.Combine(root, "run.sh"), "#!/bin/sh\n");
        File.SetUnixFileMode(Path.Combine(root, "run.sh"), (UnixFileMode)0b100_111_101_101); // 04755
        File.WriteAllText(Path.Combine(root, ".hidden"), "dot");
        File.WriteAllText(Path.Combine(root, "empty"), "");
        File.WriteAllText(Path.Combine(root, "d", "e", "deep.bin"), new string('x', 1000));
        File.SetUnixFileMode(Path.Combine(root, "d"), (UnixFileMode)0b111_000_000);
        File.CreateSymbolicLink(Path.Combine(root, "to-file"), "a.txt");
        File.CreateSymbolicLink(Path.Combine(root, "to-folder"), "d");
        File.CreateSymbolicLink(Path.Combine(root, "dangling"), "nowhere");
        await Tools.RunCheckedAsync("mkfifo", Path.Combine(root, "pipe"));

        var context = BuildContext.Open(root, null);
        var entries = context.Enumerate(context.Resolve(".", new SourceSpan("Dockerfile", 1, 1, 1, 1))[0], []);

        Assert.Equal([".hidden", "a.txt", "d", "d/e", "d/e/deep.bin", "dangling", "empty", "pipe", "run.sh", "to-file", "to-folder"],
            entries.Select(e => e.RelativePath).ToArray());
        foreach (var entry in entries)
        {
            string full = Path.Combine(root, entry.RelativePath);
            Assert.Equal(full, entry.FullPath);
            FileSystemInfo info = Directory.Exists(full) && new FileInfo(full).LinkTarget is null ? new DirectoryInfo(full) : new FileInfo(full);
            if (info.LinkTarget is { } target)
            {
                Assert.Equal((ContextEntryType.Symlink, 0b111_111_111, 0L, target), (entry.Type, entry.Mode, entry.Size, entry.LinkTarget));
            }
            else if (info is DirectoryInfo)
            {
                Assert.Equal((ContextEntryType.Directory, (int)info.UnixFileMode, 0L, (string?)null), (entry.Type, entry.Mode, entry.Size, entry.LinkTarget));
            }
            else
            {
                Assert.Equal((ContextEntryType.File, (int)info.UnixFileMode, ((FileInfo)info).Length, (string?)null),
                    (entry.Type, entry.Mode, entry.Size, entry.LinkTarget));
            }
            // The status the digest lookup takes is the entry's own (not a link's target).
            var status = Assert.NotNull(entry.Status);
            Assert.Equal(UnixFileStatus.TryRead(full), status);
        }
        Assert.Equal(0b100_111_101_101, entries.Single(e => e.RelativePath == "run.sh").Mode);
        Assert.Equal(UnixFileKind.Fifo, entries.Single(e => e.RelativePath == "pipe").Status!.Value.Kind);
    }
}
