using System.Security.Cryptography;
using System.Text;

namespace Livrable.Context;

/// <summary>
/// The folders among the image step's up-to-date inputs (src/Sdk/README.md, "Incremental publish"): the build context
/// of a Dockerfile project, the <c>ContainerLayer</c> folders of a properties-mode one. Each is walked once, every
/// entry (file, folder, symbolic link: a link is an entry itself, never followed) asked once for its times, and the
/// name of each file and link folded into the inputs' hash, so that a name added, removed or renamed changes
/// <c>image.inputs</c> (a folder's shows in its parent's times). An entry
/// whose modification or change time is newer than the image record's is a change: the change time also moves on a
/// <c>chmod</c>, a <c>chown</c>, or a file moved in with an old modification time, which an image holds (a layer's
/// mode) and MSBuild's timestamp comparison missed. A folder that cannot be listed is a change too: the step runs, and
/// the build reports the error with its code. MSBuild items did this before: a <c>**</c> glob of a 20,524-file context
/// and MSBuild's comparison of as many inputs were 0.23 s of an unchanged publish, more than the step they skipped.
/// </summary>
/// <remarks>
/// Plain C#, compiled into the .NET Framework task too (<c>src/Tasks.NetFramework</c>: MSBuild on .NET Framework runs
/// the inputs task in its own process). Where Linux's <c>statx</c> answers (net8.0), a folder is listed by the build
/// context's own listing (<c>BuildContext.ListForInputs</c>: <c>getdents64</c> and <c>statx</c> relative to the folder's
/// descriptor) with nanosecond modification and change times; elsewhere through <see cref="DirectoryInfo"/>, with the
/// last write and creation times (Windows keeps no change time; a file copied in gets a new creation time).
/// </remarks>
internal sealed class InputFolders
{
    private const long UnixEpochTicks = 621_355_968_000_000_000;

    private readonly long _since;
    private readonly HashSet<string> _excluded;
    private readonly IncrementalHash _names;
    private byte[] _buffer = new byte[1 << 16];
    private int _used;

    /// <param name="recordFile">The image record: an entry newer than it is a change; none when it is missing (the step runs anyway).</param>
    /// <param name="excluded">Full paths left out with all they hold (the record folder, the tarball, an OCI layout folder, bin/ and obj/ by <see cref="ContextExclusions"/>).</param>
    /// <param name="names">The inputs' hash, which every walked entry's name is appended to.</param>
    public InputFolders(string recordFile, IEnumerable<string> excluded, IncrementalHash names)
    {
        _since = TimeOf(recordFile) ?? long.MaxValue;
        _excluded = new HashSet<string>(excluded.Where(path => path.Length > 0).Select(Normalize), StringComparer.Ordinal);
        _names = names;
    }

    /// <summary>How many entries were walked, the folders named too.</summary>
    public int Entries { get; private set; }

    /// <summary>Why the image step must run (the first entry newer than the record, a folder that cannot be listed); null when nothing changed.</summary>
    public string? Change { get; private set; }

    /// <summary>
    /// Walks <paramref name="folder"/> (itself an entry: a <c>chmod</c> of it counts) and everything under it but the
    /// excluded paths, appending the name of each file and link relative to it, then a line feed, to the hash. A
    /// folder's name is not: a folder added, removed or renamed changes its parent's times, and its files' names; a
    /// folder that holds only an excluded output (the tarball's) would otherwise change the hash once it exists, after
    /// the first build, and run the step again for nothing.
    /// </summary>
    public void Walk(string folder)
    {
        string root = Normalize(folder);
        Append(root + "\n", 0);
        if (Entry(root) is not { } self)
        {
            Change ??= $"the folder '{root}' does not exist";
            return;
        }
        Compare(self);
        WalkInside(root, root.Length + 1);
    }

    /// <summary>Appends what is left of the names to the hash.</summary>
    public void Flush()
    {
        _names.AppendData(_buffer, 0, _used);
        _used = 0;
    }

    /// <remarks>
    /// On one core: the first two levels walked on all cores, as the build context's walk is, took 63 ms against 48 ms
    /// for workload b's 20,524 entries in a fresh publish process (medians of 10 in turn, load 3): the thread pool's
    /// start and the subfolders' buffers cost more than the second core gave.
    /// </remarks>
    private void WalkInside(string folder, int rootLength)
    {
        FolderEntry[] listing;
        try
        {
            listing = List(folder);
        }
        catch (Exception e) when (IsUnreadable(e))
        {
            Change ??= $"the folder '{folder}' cannot be listed ({e.Message})";
            return;
        }
        foreach (var entry in listing)
        {
            if (IsExcluded(entry.FullName)) continue;
            Compare(entry);
            if (entry.IsFolder)
            {
                WalkInside(entry.FullName, rootLength);
                continue;
            }
            Append(entry.FullName, rootLength);
            Append("\n", 0);
        }
    }

    private bool IsExcluded(string fullName) => _excluded.Count > 0 && _excluded.Contains(fullName);

    private void Compare(in FolderEntry entry)
    {
        Entries++;
        if (Change is null && entry.Time > _since) Change = $"'{entry.FullName}' changed since the image record";
    }

    /// <summary>Appends <paramref name="text"/> from <paramref name="start"/>, UTF-8, through the reused buffer.</summary>
    private void Append(string text, int start)
    {
        int count = text.Length - start;
        if (_buffer.Length - _used < Encoding.UTF8.GetMaxByteCount(count))
        {
            Flush();
            if (_buffer.Length < Encoding.UTF8.GetMaxByteCount(count)) _buffer = new byte[Encoding.UTF8.GetMaxByteCount(count)];
        }
        _used += Encoding.UTF8.GetBytes(text, start, count, _buffer, _used);
    }

    /// <summary>A folder's entries in a stable order (ordinal by name, or the context walk's order), each with its times.</summary>
    private static FolderEntry[] List(string folder)
    {
#if NET
        if (BuildContext.ListForInputs(folder) is { } native) return native;
#endif
        var infos = new DirectoryInfo(folder).GetFileSystemInfos();
        Array.Sort(infos, (a, b) => string.CompareOrdinal(a.Name, b.Name));
        var listed = new FolderEntry[infos.Length];
        for (int i = 0; i < infos.Length; i++) listed[i] = Of(infos[i]);
        return listed;
    }

    /// <summary>One entry as <see cref="DirectoryInfo"/> tells it: a link is not a folder to walk, whatever it points at.</summary>
    private static FolderEntry Of(FileSystemInfo info)
    {
        bool isLink = (info.Attributes & FileAttributes.ReparsePoint) != 0;
        return new FolderEntry(Normalize(info.FullName), info is DirectoryInfo && !isLink,
            Math.Max(Nanoseconds(info.LastWriteTimeUtc), Nanoseconds(info.CreationTimeUtc)));
    }

    /// <summary>A path's own entry (not followed), or null when there is none.</summary>
    private static FolderEntry? Entry(string path)
    {
#if NET
        if (Layers.UnixFileStatus.TryRead(path) is { } status)
            return new FolderEntry(path, status.Kind == Layers.UnixFileKind.Directory, Math.Max(status.ModificationTime, status.ChangeTime));
#endif
        FileSystemInfo info = Directory.Exists(path) ? new DirectoryInfo(path) : new FileInfo(path);
        return info.Exists ? Of(info) : null;
    }

    /// <summary>The record's modification time, as the entries' times are read; null when it is missing.</summary>
    private static long? TimeOf(string recordFile)
    {
        if (recordFile.Length == 0) return null;
#if NET
        if (BuildContext.ListsForInputs)
            return Layers.UnixFileStatus.TryRead(recordFile) is { Kind: Layers.UnixFileKind.RegularFile } status ? status.ModificationTime : null;
#endif
        return File.Exists(recordFile) ? Nanoseconds(File.GetLastWriteTimeUtc(recordFile)) : null;
    }

    private static long Nanoseconds(DateTime utc) => (utc.Ticks - UnixEpochTicks) * 100;

    private static string Normalize(string path)
    {
        string full = Path.GetFullPath(path);
        return full.Length > Path.GetPathRoot(full)!.Length ? full.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar) : full;
    }

    private static bool IsUnreadable(Exception e)
        => e is IOException or UnauthorizedAccessException or System.Security.SecurityException
#if NET
            or Diagnostics.LivrableException
#endif
        ;

    /// <summary>An entry of a folder: its full path, whether to walk into it (a folder, not a link to one), and its latest time (nanoseconds since 1970).</summary>
    internal readonly struct FolderEntry(string fullName, bool isFolder, long time)
    {
        public string FullName { get; } = fullName;
        public bool IsFolder { get; } = isFolder;
        public long Time { get; } = time;
    }
}

/// <summary>
/// What the context's walk for the up-to-date check leaves out besides this project's own outputs: the context's
/// <c>bin/</c> and <c>obj/</c>, when the <c>.dockerignore</c> in effect names them (<c>bin</c>, <c>bin/</c>,
/// <c>/bin</c>, <c>./bin</c>, <c>bin/*</c>, <c>bin/**</c>) and has no <c>!</c> line, so that what every publish writes
/// there does not make the image step run. The rest of the <c>.dockerignore</c> is not applied: the inputs are a
/// superset of what COPY and ADD read, never less (a change to an ignored file builds again, to the same digest).
/// </summary>
internal static class ContextExclusions
{
    /// <summary>The folders of <paramref name="context"/> to leave out, by the text of its <c>.dockerignore</c> (none when empty).</summary>
    public static IEnumerable<string> Of(string context, string dockerIgnoreText)
    {
        if (dockerIgnoreText.Length == 0) yield break;
        var lines = dockerIgnoreText.Split('\n').Select(line => line.TrimEnd('\r').Trim(' ', '\t')).ToArray();
        if (lines.Any(line => line.StartsWith("!", StringComparison.Ordinal))) yield break;
        foreach (string name in new[] { "bin", "obj" })
            if (lines.Any(line => Names(line, name))) yield return Path.Combine(context, name);
    }

    private static bool Names(string line, string folder)
    {
        string path = line.StartsWith("./", StringComparison.Ordinal) ? line.Substring(2) : line.StartsWith("/", StringComparison.Ordinal) ? line.Substring(1) : line;
        return path == folder || path == folder + "/" || path == folder + "/*" || path == folder + "/**";
    }
}
