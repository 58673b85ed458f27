using System.IO.Compression;

namespace Livrable.Layers;

/// <summary>How <see cref="LayerWriter"/> writes a layer: the choices that are the build's, not the layer spec's.</summary>
public sealed record LayerWriteOptions
{
    /// <summary>
    /// The time given to every entry (and the upper bound of times kept from a tar): the build's SOURCE_DATE_EPOCH.
    /// Written in whole seconds.
    /// </summary>
    public DateTimeOffset Epoch { get; init; } = Reproducibility.DefaultEpoch;

    /// <summary>The compression level (deflate's, or zstd's mapped one); changing it changes the digest, never the diff id.</summary>
    public CompressionLevel CompressionLevel { get; init; } = CompressionLevel.Optimal;

    /// <summary>gzip (the default) or zstd (<c>ContainerLayerCompression</c>); it sets the layer's media type too.</summary>
    public LayerCompression Compression { get; init; } = LayerCompression.Gzip;

    /// <summary>
    /// File names (not paths) written as executable (0755) when the file system cannot tell, that is on Windows, where
    /// there is no executable bit: the apphost of a Linux runtime identifier, say. Unix reads the real bit and ignores this.
    /// </summary>
    public IReadOnlySet<string> ExecutableNames { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// When set, receives the header of each entry written, in the tar's order: a Dockerfile step records the entries
    /// of the layer it made from them (<c>Filesystem/LayerEntryIndex</c>), so the next build's tree need not read the
    /// layer's blob again.
    /// </summary>
    public List<TarHeader>? Headers { get; init; }

    /// <summary>
    /// For a layer written from entries (<see cref="EntriesLayerSpec"/>), receives beside <see cref="Headers"/>, one for
    /// one, the entry each header was written from: the one whose bytes (<see cref="FileEntry.Open"/>) the tar holds
    /// under that name (a hard-link group's first name holds its file's), or the parent folder the writer added. The
    /// writer's own record of what it did to each entry, so the next RUN's lower folder can be the RUN's upper folder
    /// made equal to it (<c>Runtime/UpperFolderAdoption</c>) without deciding anything again. Other specs add nothing.
    /// </summary>
    public List<FileEntry>? Written { get; init; }

    /// <summary>
    /// Also receives the uncompressed tar bytes as they are written (the next RUN's lower folder is extracted from
    /// them once the write is done, instead of reading the blob back: <c>Runtime/LowerFolderPreparation</c>). Not
    /// disposed by the writer; not part of what the layer is.
    /// </summary>
    public Stream? TarCopy { get; init; }
}
