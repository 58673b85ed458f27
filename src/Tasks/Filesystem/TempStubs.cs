// TEMPORARY: stubs of the df-fs contracts (docs/dockerfile-frontend.md) so that df-build compiles before that
// branch lands. Drop this file on merge.
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;

namespace Livrable.Filesystem;

public sealed record FileEntry(string Path, TarTypeFlag Type, int Mode, long Uid, long Gid)
{
    public long Size { get; init; }
    public string? LinkTarget { get; init; }
    public int DeviceMajor { get; init; }
    public int DeviceMinor { get; init; }
    public Func<CancellationToken, Task<Stream>>? Open { get; init; }
}

public sealed class FileTree
{
    private FileTree() { }

    public static FileTree Empty => throw new NotImplementedException();

    public static Task<FileTree> LoadAsync(IReadOnlyList<ILayer> layers, CancellationToken cancellationToken) => throw new NotImplementedException();

    public FileTree With(IReadOnlyList<FileEntry> layer) => throw new NotImplementedException();

    public FileEntry? Get(string path) => throw new NotImplementedException();

    public FileEntry? Resolve(string path) => throw new NotImplementedException();

    public IReadOnlyList<FileEntry> Enumerate(string directory) => throw new NotImplementedException();

    public Task<IReadOnlyList<FileEntry>> MaterializeAsync(IReadOnlyList<FileEntry> entries, string tempDirectory, CancellationToken cancellationToken) => throw new NotImplementedException();
}

public static class Ownership
{
    public static (long Uid, long Gid) Resolve(string chown, FileTree tree, SourceSpan span) => throw new NotImplementedException();
}

public sealed class ChmodSpec
{
    private ChmodSpec() { }

    public static ChmodSpec Parse(string value, SourceSpan span) => throw new NotImplementedException();

    public int Apply(int mode, bool isDirectory) => throw new NotImplementedException();
}

public static class ArchiveExtraction
{
    public static Task<bool> IsArchiveAsync(Func<CancellationToken, Task<Stream>> open, CancellationToken cancellationToken) => throw new NotImplementedException();

    public static Task<IReadOnlyList<FileEntry>> ExtractAsync(Func<CancellationToken, Task<Stream>> open, string destination,
        string tempDirectory, long maxBytes, CancellationToken cancellationToken) => throw new NotImplementedException();
}

public static class UrlDownload
{
    public static Task<FileEntry> DownloadAsync(HttpClient client, Uri url, string destinationPath, Digest? checksum,
        string tempDirectory, CancellationToken cancellationToken) => throw new NotImplementedException();
}
