namespace Livrable.Context;

/// <summary>What a build context entry is on disk; FIFOs, sockets and devices are listed as files (the COPY step tells them apart, never opening them).</summary>
public enum ContextEntryType
{
    File,
    Directory,
    Symlink,
}

/// <summary>
/// A file, folder or symbolic link of the build context. <see cref="RelativePath"/> is from the context root,
/// slash-separated, never empty (<c>.</c> for the root itself); under a followed symbolic link it is the path as
/// written through the link. <see cref="FullPath"/> is where the bytes are on disk (the link's target for a followed
/// link). <see cref="Mode"/> holds the permission bits as the file system has them (<c>07777</c>; 0777 for a link;
/// on Windows 0755 for folders and 0644 for files). <see cref="Size"/> is 0 but for files. <see cref="LinkTarget"/> is
/// a symbolic link's target exactly as stored, for <see cref="ContextEntryType.Symlink"/> only.
/// </summary>
public sealed record ContextEntry(string RelativePath, string FullPath, ContextEntryType Type, int Mode, long Size, string? LinkTarget)
{
    /// <summary>
    /// The <c>statx</c> status of <see cref="FullPath"/> as the walk that listed it read it (null when it was not read
    /// so: Windows, macOS, a followed link, a named source): the digest lookup of the file takes it instead of asking the
    /// file system again (<c>Build/Cache/FileDigests</c>).
    /// </summary>
    internal Livrable.Layers.UnixFileStatus? Status { get; init; }
}
