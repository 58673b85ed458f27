namespace Livrable.Layers;

// The inputs of a layer: what LayerWriter turns into one reproducible tar (and Build/Cache/LayerSpecStep keys). The properties mode's
// publish output, ContainerLayer items and a Dockerfile step's entries all come as one of these.

/// <summary>One layer to add.</summary>
public abstract record LayerSpec
{
    /// <summary>What made this layer, for the config's history (<c>created_by</c>).</summary>
    public required string CreatedBy { get; init; }
}

/// <summary>
/// A layer made of listed files: each <see cref="LayerFile"/> is copied to its path in the image. Parent folders are
/// added (mode 0755, owner 0:0); entries are sorted.
/// </summary>
public sealed record FilesLayerSpec(IReadOnlyList<LayerFile> Files) : LayerSpec
{
    /// <summary>Owner of every entry; 0:0 unless asked.</summary>
    public int Uid { get; init; }
    public int Gid { get; init; }
}

/// <summary>A file from disk and its absolute path in the image (forward slashes, such as <c>/app/hello.dll</c>).</summary>
public sealed record LayerFile(string SourcePath, string TargetPath);

/// <summary>A folder copied, with its whole tree, under <see cref="Destination"/> in the image.</summary>
public sealed record DirectoryLayerSpec(string SourceDirectory, string Destination) : LayerSpec;

/// <summary>
/// A tar file (plain or gzip) whose entries are placed under <see cref="Destination"/> (<c>/</c> for a root
/// filesystem tarball): owners, modes, links and device nodes are kept; times are clamped to the build's epoch.
/// </summary>
public sealed record TarLayerSpec(string TarPath, string Destination) : LayerSpec;

/// <summary>
/// A layer made of explicit entries (a Dockerfile step's result): sorted by the writer, missing parents added (0755,
/// 0:0), times clamped to the build's epoch. Whiteouts are entries named <c>.wh.name</c> and <c>.wh..wh..opq</c>
/// (see <see cref="FileEntry"/>). Of two entries with one path, the later wins. A parent that exists in the
/// image is best listed with its entry from the tree, or it takes 0755 0:0 in the merged image.
/// </summary>
public sealed record EntriesLayerSpec(IReadOnlyList<FileEntry> Entries) : LayerSpec;
