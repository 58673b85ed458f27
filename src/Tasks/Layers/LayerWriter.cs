using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Store;

namespace Livrable.Layers;

/// <summary>
/// Writes a <see cref="LayerSpec"/> as a reproducible gzip (or zstd) layer into the blob store, in one pass: tar bytes are
/// hashed (the diff id), compressed, hashed again and counted (the digest and size) on their way to a temporary file,
/// which is then committed under its digest. No uncompressed copy is ever written.
/// The rules (https://github.com/opencontainers/image-spec/blob/main/layer.md, plus Livrable's reproducibility
/// rules in docs/reproducibility.md): names relative with no <c>./</c>, every parent directory explicit, entries sorted
/// by name (for listed files and folders; a tar keeps its own order), times set to the epoch, owners numeric.
/// </summary>
public static partial class LayerWriter
{
    /// <summary>
    /// Writes the layer <paramref name="spec"/> describes into <paramref name="store"/>. Throws
    /// <see cref="LivrableException"/>: LIV2007 for a missing input, LIV4004 for a malformed tar, LIV4005 when a file
    /// cannot be read (or changes while read), LIV4006 when the disk is full, LIV4010 when two inputs give one path,
    /// LIV4011 for an invalid path in the image, LIV4012 for a tar a layer cannot carry.
    /// </summary>
    public static Task<StoredLayer> WriteAsync(LayerSpec spec, LayerWriteOptions options, BlobStore store, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        // Deflate is CPU-bound: on the pool, the build's layers are written in parallel.
        // Reusing a layer is the step cache's (Build/Cache): the writer always writes.
        return Task.Run(() => WriteCoreAsync(spec, options, store, cancellationToken), cancellationToken);
    }

    private static async Task<StoredLayer> WriteCoreAsync(LayerSpec spec, LayerWriteOptions options, BlobStore store, CancellationToken cancellationToken)
    {
        string temp = store.NewTempPath("layer");
        try
        {
            Digest diffId, digest;
            long size;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                using var compressed = new HashingStream(file, leaveOpen: true);
                var compressor = LayerCompressions.Open(options.Compression, compressed, options.CompressionLevel);
                await using (compressor.ConfigureAwait(false))
                {
                    using var uncompressed = new HashingStream(compressor, leaveOpen: true);
                    await using (var tar = new TarWriter(options.TarCopy is { } copy ? new CopyingStream(uncompressed, copy) : uncompressed, leaveOpen: true) { Headers = options.Headers })
                    {
                        var context = new Context(tar, options.Epoch.ToUnixTimeSeconds(), options, cancellationToken);
                        switch (spec)
                        {
                            case FilesLayerSpec files: await WriteFilesAsync(files, context).ConfigureAwait(false); break;
                            case DirectoryLayerSpec directory: await WriteDirectoryAsync(directory, context).ConfigureAwait(false); break;
                            case TarLayerSpec archive: await WriteArchiveAsync(archive, context).ConfigureAwait(false); break;
                            case EntriesLayerSpec entries: await WriteEntriesAsync(entries, context).ConfigureAwait(false); break;
                            default: throw new ArgumentException($"Unknown layer spec {spec.GetType().Name}.", nameof(spec));
                        }
                        await tar.FinishAsync(cancellationToken).ConfigureAwait(false);
                    }
                    diffId = uncompressed.Digest;
                }
                digest = compressed.Digest;
                size = compressed.Length;
                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            store.Commit(temp, digest);
            return new StoredLayer(new Descriptor(LayerCompressions.MediaType(options.Compression), digest, size), diffId, store);
        }
        catch (IOException e) when (DiskSpace.IsFull(e))
        {
            throw new LivrableException(DiagnosticCodes.DiskFull, $"The disk is full while writing a layer ({spec.CreatedBy}) to {store.Root}.", inner: e);
        }
        catch (IOException e)
        {
            throw new LivrableException(DiagnosticCodes.LayerIo, $"Writing the layer ({spec.CreatedBy}) to {store.Root} failed: {e.Message}", inner: e);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>What every entry writer needs: the tar, the epoch in seconds, the options and the token.</summary>
    private sealed record Context(TarWriter Tar, long Epoch, LayerWriteOptions Options, CancellationToken CancellationToken);

    /// <summary>An entry to write: its header and, for a regular file, where its bytes are (the size is read on opening).</summary>
    private sealed record PlannedEntry(TarHeader Header, string? Source = null)
    {
        /// <summary>(device, inode) of a file with more than one link, to write later names as hard links.</summary>
        public (ulong Device, ulong Inode)? LinkKey { get; init; }
    }

    private static TarHeader DirectoryHeader(string path, Context context, long uid = 0, long gid = 0) => new()
    {
        Name = LayerPath.DirectoryName(path),
        Type = TarTypeFlag.Directory,
        Mode = FileModes.Directory,
        Uid = uid,
        Gid = gid,
        ModificationTime = context.Epoch,
    };

    /// <summary>Writes entries sorted by name; a regular file's bytes are streamed from its source.</summary>
    private static async Task WriteSortedAsync(List<PlannedEntry> entries, Context context)
    {
        entries.Sort((a, b) => TarNameComparer.Instance.Compare(a.Header.Name, b.Header.Name));
        foreach (var entry in entries)
        {
            if (entry.Source is null)
            {
                await context.Tar.WriteEntryAsync(entry.Header, null, context.CancellationToken).ConfigureAwait(false);
                continue;
            }
            await WriteFileAsync(entry.Header, entry.Source, context).ConfigureAwait(false);
        }
    }

    /// <summary>Streams one file; its size is taken from the opened handle, so it matches what is read.</summary>
    private static async Task WriteFileAsync(TarHeader header, string source, Context context)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LivrableException(DiagnosticCodes.LayerIo, $"Cannot read '{source}' for the layer: {e.Message}", inner: e);
        }
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                await context.Tar.WriteEntryAsync(header with { Size = stream.Length }, stream, context.CancellationToken).ConfigureAwait(false);
            }
            catch (IOException e) when (!DiskSpace.IsFull(e))
            {
                throw new LivrableException(DiagnosticCodes.LayerIo, $"Adding '{source}' to the layer failed: {e.Message}", inner: e);
            }
        }
    }

    /// <summary>Writes go to <paramref name="inner"/>, then to <paramref name="copy"/> (<see cref="LayerWriteOptions.TarCopy"/>).</summary>
    private sealed class CopyingStream(Stream inner, Stream copy) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            copy.Write(buffer, offset, count);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            await copy.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
