using Livrable.Images;

namespace Livrable.Layers;

/// <summary>
/// One entry of a layer or of a file tree: a path in the image and its metadata, as a tar header holds them.
/// <see cref="Path"/> is absolute and clean (<c>/app/x</c>; <c>/</c> is the root). <see cref="Open"/> reads a regular
/// file's bytes; an entry of a base layer's <c>Filesystem.FileTree</c> has none until
/// <c>Filesystem.FileTree.MaterializeAsync</c> gives it one.
/// </summary>
/// <remarks>
/// Whiteouts are entries named as the OCI layer spec names them
/// (https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts): <c>/dir/.wh.name</c> deletes
/// <c>/dir/name</c> of the layers below, <c>/dir/.wh..wh..opq</c> hides everything below in <c>/dir</c>. There is no
/// entry type for them: a layer written from entries carries such names as they are, and a tree applies them.
/// <see cref="Whiteout"/> and <see cref="OpaqueWhiteout"/> make them.
/// </remarks>
public sealed record FileEntry(string Path, TarTypeFlag Type, int Mode, long Uid, long Gid)
{
    /// <summary>The prefix of a whiteout file's name.</summary>
    public const string WhiteoutPrefix = ".wh.";

    /// <summary>The name of the opaque whiteout marker of a directory.</summary>
    public const string OpaqueWhiteoutName = ".wh..wh..opq";

    /// <summary>Content length of a regular file; 0 for every other type.</summary>
    public long Size { get; init; }

    /// <summary>The target of a symbolic link (as written) or of a hard link (an absolute path in the image).</summary>
    public string? LinkTarget { get; init; }

    /// <summary>Device numbers of a character or block device.</summary>
    public int DeviceMajor { get; init; }

    /// <inheritdoc cref="DeviceMajor"/>
    public int DeviceMinor { get; init; }

    /// <summary>
    /// The file capabilities (<c>security.capability</c>, in the form a layer carries: <see cref="FileCapability.ForLayer"/>)
    /// of a regular file a RUN left; null for none.
    /// </summary>
    public byte[]? Capability { get; init; }

    /// <summary>Opens a regular file's bytes (exactly <see cref="Size"/> of them); null when the bytes are elsewhere.</summary>
    public Func<CancellationToken, Task<Stream>>? Open { get; init; }

    /// <summary>
    /// The entry's own time (a tar's, an HTTP <c>Last-Modified</c>); null for none. A layer never holds a time
    /// after the build's epoch: the writer clamps this to it, and writes the epoch where it is null.
    /// </summary>
    public DateTimeOffset? ModificationTime { get; init; }

    /// <summary>Where a base layer holds this entry's bytes; kept through <c>with</c>, so a copy to another path still finds them.</summary>
    internal LayerLocation? Location { get; init; }

    /// <summary>
    /// In a <c>Filesystem.FileTree</c>, the names a layer's hard links gave one file share this object (an inode's
    /// identity, compared by reference); null for a file with one name. A layer's entries never carry it: a step
    /// writes a hard link as a <see cref="TarTypeFlag.HardLink"/> entry.
    /// </summary>
    internal HardLinkGroup? HardLinks { get; init; }

    /// <summary>The last segment of <see cref="Path"/> ("" for the root).</summary>
    public string Name => Path[(Path.LastIndexOf('/') + 1)..];

    /// <summary>Whether this is a whiteout file (<c>.wh.name</c> or the opaque marker).</summary>
    /// <remarks>Looked at without cutting the name out: a tree's load asks it of every entry of every layer.</remarks>
    public bool IsWhiteout => Path.AsSpan(Path.LastIndexOf('/') + 1).StartsWith(WhiteoutPrefix, StringComparison.Ordinal);

    /// <summary>Whether a file name (one segment) is a whiteout's in a layer: it starts with <c>.wh.</c>.</summary>
    public static bool IsWhiteoutName(string name) => name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal);

    /// <summary>
    /// Whether a whiteout name (<c>.wh.x</c>) names a file it can delete: not the bare prefix (<c>.wh.</c>, which would
    /// name its own folder) nor <c>.</c> or <c>..</c> (<c>.wh..</c>, <c>.wh...</c>, which would name the folder or its
    /// parent). Layers holding those are refused (LIV4201): no tool writes them, and a reader joining the name to its
    /// folder would delete the folder or climb out of it (anchore/stereoscope#647 is the same bug). True for a name
    /// that is no whiteout.
    /// </summary>
    public static bool IsValidWhiteoutName(string name)
        => !IsWhiteoutName(name) || name[WhiteoutPrefix.Length..] is not ("" or "." or "..");

    /// <summary>Whether this is a directory's opaque whiteout marker (<c>.wh..wh..opq</c>).</summary>
    public bool IsOpaqueWhiteout => Name == OpaqueWhiteoutName;

    /// <summary>A whiteout deleting <paramref name="path"/> (absolute) from the layers below: <c>/dir/.wh.name</c>, 0:0, mode 0.</summary>
    public static FileEntry Whiteout(string path)
    {
        string clean = ImagePath.Clean(path);
        if (clean == "/") throw new ArgumentException("The root cannot be whited out.", nameof(path));
        return new FileEntry(ImagePath.Join(ImagePath.Parent(clean), WhiteoutPrefix + ImagePath.Name(clean)), TarTypeFlag.RegularFile, 0, 0, 0);
    }

    /// <summary>The opaque marker of <paramref name="directory"/>: what the layers below hold in it is hidden.</summary>
    public static FileEntry OpaqueWhiteout(string directory)
        => new(ImagePath.Join(ImagePath.Clean(directory), OpaqueWhiteoutName), TarTypeFlag.RegularFile, 0, 0, 0);
}

/// <summary>The identity of one file that has several names in a tree (compared by reference).</summary>
internal sealed class HardLinkGroup;

/// <summary>
/// Where a base layer holds an entry's bytes: the layer, the entry's position among the tar's entries, and its name
/// there (checked on reading). Small files a chown lookup needs (<c>passwd</c>, <c>group</c>) also keep their bytes.
/// </summary>
internal sealed record LayerLocation(ILayer Layer, int Ordinal, string Name)
{
    public byte[]? Inline { get; init; }
}
