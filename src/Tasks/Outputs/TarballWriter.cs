using Livrable.Images;
using Livrable.Layers;

namespace Livrable.Outputs;

/// <summary>
/// One image tarball being written, entry by entry, in the order <see cref="ImageTarball.Blobs"/> gives: <c>blobs/</c>,
/// then each blob (its folder, such as <c>blobs/sha256/</c>, just before the first blob in it), then the three files
/// that name the image (<see cref="FinishAsync"/>). A write may stop after some blobs and be taken on later by another
/// owner (<see cref="ArchivePrefix"/>: the layers known before the image is complete, written while the build's last
/// steps run); the bytes are the same as a write in one go.
/// </summary>
internal sealed class TarballWriter : IAsyncDisposable
{
    private readonly TarWriter _tar;
    private readonly long _mtime;
    private readonly ArchiveBlobMap? _previous;
    private readonly HashSet<string> _folders = new(StringComparer.Ordinal);
    private bool _started;

    /// <summary>
    /// A writer into <paramref name="output"/> (left open), every entry at <paramref name="modificationTime"/>, taking the
    /// layer blobs <paramref name="previous"/> places in an old tarball from there.
    /// </summary>
    public TarballWriter(Stream output, DateTimeOffset modificationTime, ArchiveBlobMap? previous)
    {
        // Layers/TarWriter, so the tarball follows the same reproducibility rules as a layer: uid/gid 0, no owner
        // names, one fixed time; plain ustar for sha256 names, a PAX header only for a name over 100 bytes (sha512).
        _tar = new TarWriter(output, leaveOpen: true);
        _mtime = modificationTime.ToUnixTimeSeconds();
        _previous = previous;
    }

    /// <summary>Where each layer blob's bytes lie in the tarball (offset of its bytes, size): the next write's <see cref="ArchiveBlobMap"/>.</summary>
    public Dictionary<Digest, (long Offset, long Size)> Placed { get; } = [];

    /// <summary>The blobs written so far, in order.</summary>
    public List<TarballBlob> Written { get; } = [];

    /// <summary>Writes <paramref name="entry"/>: a document's bytes, or a layer's (checked against its descriptor).</summary>
    public async Task WriteBlobAsync(TarballBlob entry, CancellationToken cancellationToken)
    {
        var (name, blob) = entry;
        await StartAsync(cancellationToken).ConfigureAwait(false);
        string folder = name[..(name.LastIndexOf('/') + 1)];
        if (_folders.Add(folder)) await WriteDirectoryAsync(folder, cancellationToken).ConfigureAwait(false);
        if (blob is byte[] bytes)
        {
            await WriteFileAsync(name, bytes, cancellationToken).ConfigureAwait(false);
            Written.Add(entry);
            return;
        }
        // The header promises the descriptor's size; ILayer's stream throws LIV4001 when the bytes are longer,
        // shorter or another digest, so a blob that is not what its descriptor says is never written whole.
        // A layer the old tarball holds (ArchiveBlobMap: the file is the one written, so its bytes were checked then)
        // is copied from there, in the kernel (TarWriter, copy_file_range).
        var layer = (ILayer)blob;
        long size = layer.Descriptor.Size;
        if (_previous?.TryLocate(layer.Descriptor) is { } old)
            await _tar.WriteEntryAsync(FileHeader(name, size), old.File, old.Offset, cancellationToken).ConfigureAwait(false);
        else
        {
            await using var stream = await layer.OpenAsync(cancellationToken).ConfigureAwait(false);
            // A plain file of the descriptor's size is a stored blob read as it is (the store hashed it, or wrote it,
            // in this build: Store/BlobStore.Open), so it is copied in the kernel too: a cold build's base layers
            // (87 MB on bench workload a, issue 14) no longer pass through this process's memory on their way in.
            if (stream is FileStream { Position: 0 } file && file.Length == size)
                await _tar.WriteEntryAsync(FileHeader(name, size), file.SafeFileHandle, 0, cancellationToken).ConfigureAwait(false);
            else
                await _tar.WriteEntryAsync(FileHeader(name, size), stream, cancellationToken).ConfigureAwait(false);
        }
        // The entry ends with its bytes and their padding to the next 512-byte block.
        Placed.TryAdd(layer.Descriptor.Digest, (_tar.Position - size - (512 - size % 512) % 512, size));
        Written.Add(entry);
    }

    /// <summary>After the blobs: <c>index.json</c>, <c>manifest.json</c> and <c>oci-layout</c>, and the end of the archive.</summary>
    public async Task FinishAsync(TarballContent content, IReadOnlyList<TarballName> names, CancellationToken cancellationToken)
    {
        await StartAsync(cancellationToken).ConfigureAwait(false);
        await WriteFileAsync("index.json", new ImageIndex(MediaTypes.OciIndex, ImageTarball.IndexEntries(content, names)).ToBytes(), cancellationToken).ConfigureAwait(false);
        await WriteFileAsync("manifest.json", ImageTarball.ManifestJson(content.LoadImage, names), cancellationToken).ConfigureAwait(false);
        await WriteFileAsync("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray(), cancellationToken).ConfigureAwait(false);
        await _tar.FinishAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _tar.DisposeAsync();

    /// <summary>The tarball's first entry, <c>blobs/</c>, written once, before the first blob or, with none, the names.</summary>
    private async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_started) return;
        await WriteDirectoryAsync("blobs/", cancellationToken).ConfigureAwait(false);
        _started = true;
    }

    private Task WriteDirectoryAsync(string name, CancellationToken cancellationToken)
        => _tar.WriteEntryAsync(new TarHeader { Name = name, Type = TarTypeFlag.Directory, Mode = FileModes.Directory, ModificationTime = _mtime }, null, cancellationToken);

    private async Task WriteFileAsync(string name, byte[] content, CancellationToken cancellationToken)
    {
        using var stream = new MemoryStream(content, writable: false);
        await _tar.WriteEntryAsync(FileHeader(name, content.Length), stream, cancellationToken).ConfigureAwait(false);
    }

    private TarHeader FileHeader(string name, long size)
        => new() { Name = name, Mode = FileModes.RegularFile, Size = size, ModificationTime = _mtime };
}

/// <summary>
/// One blob of an image tarball: its path in the OCI layout (<c>blobs/sha256/&lt;hex&gt;</c>) and its content, a
/// document's bytes or an <see cref="ILayer"/> to stream. A class, so lists of them share the base library's
/// precompiled generic code.
/// </summary>
internal sealed record TarballBlob(string Name, object Content)
{
    /// <summary>The blob's size: the bytes' length, or the layer descriptor's.</summary>
    public long Size => Content is byte[] bytes ? bytes.Length : ((ILayer)Content).Descriptor.Size;
}
