using Livrable.Layers;
using Xunit;

namespace Livrable.Tests.Infrastructure;

/// <summary>
/// A folder outside every root a hostile input is read into, filled with a file, a subfolder and a file in it, whose
/// state (names, kinds, sizes, modification times, link counts, the folder's own time) is recorded at creation:
/// <see cref="AssertUntouched"/> fails when anything was created, removed, written, linked to or touched.
/// </summary>
public sealed class Sentinel
{
    private readonly IReadOnlyList<string> _snapshot;

    /// <summary>Creates the sentinel folder at <paramref name="path"/> and records it.</summary>
    public Sentinel(string path)
    {
        Path = path;
        System.IO.Directory.CreateDirectory(System.IO.Path.Combine(path, "sub"));
        System.IO.File.WriteAllText(System.IO.Path.Combine(path, "sentinel.txt"), "untouched\n");
        System.IO.File.WriteAllText(System.IO.Path.Combine(path, "sub", "inner.txt"), "untouched\n");
        // Times in the past, so that a write during the test, however fast, changes them.
        var past = new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);
        foreach (string p in new[] { System.IO.Path.Combine(path, "sentinel.txt"), System.IO.Path.Combine(path, "sub", "inner.txt") })
            System.IO.File.SetLastWriteTimeUtc(p, past);
        System.IO.Directory.SetLastWriteTimeUtc(System.IO.Path.Combine(path, "sub"), past);
        System.IO.Directory.SetLastWriteTimeUtc(path, past);
        _snapshot = Snapshot();
    }

    /// <summary>The sentinel folder.</summary>
    public string Path { get; }

    /// <summary>The sentinel's file, which hostile entries name as a target.</summary>
    public string File => System.IO.Path.Combine(Path, "sentinel.txt");

    /// <summary>Fails unless the folder is exactly as it was created.</summary>
    public void AssertUntouched() => Assert.Equal(_snapshot, Snapshot());

    private List<string> Snapshot()
    {
        var lines = new List<string> { Describe(Path, ".") };
        foreach (string p in System.IO.Directory.EnumerateFileSystemEntries(Path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            lines.Add(Describe(p, System.IO.Path.GetRelativePath(Path, p)));
        return lines;
    }

    private static string Describe(string path, string name)
    {
        var status = UnixFileStatus.TryRead(path)!.Value;
        string content = status.Kind == UnixFileKind.RegularFile ? System.IO.File.ReadAllText(path) : "";
        return $"{name} {status.Kind} mode={status.Mode} links={status.LinkCount} mtime={System.IO.File.GetLastWriteTimeUtc(path):O} {content.Trim()}";
    }
}
