using System.Formats.Tar;
using System.IO.Compression;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;

namespace Livrable.Tests.Infrastructure;

/// <summary>
/// Crafted tars for the hostile-input tests: entries written exactly as given (<c>../</c> names, absolute names, links
/// to anywhere, devices, duplicates, <c>.wh.</c> names), which no archiver would produce from a real folder. Written
/// with <see cref="System.Formats.Tar.TarWriter"/> in PAX format, which stores names and link targets unchecked.
/// </summary>
public sealed class HostileTar
{
    /// <summary>The time of every entry, so the same entries always give the same bytes.</summary>
    private static readonly DateTimeOffset Epoch = new(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly List<Action<System.Formats.Tar.TarWriter>> _entries = [];

    /// <summary>A regular file with <paramref name="content"/>.</summary>
    public HostileTar File(string name, string content = "pwned\n", int mode = 0x1A4)
    {
        _entries.Add(w => w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name)
        {
            DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)),
            Mode = (UnixFileMode)mode,
            ModificationTime = Epoch,
        }));
        return this;
    }

    /// <summary>A folder.</summary>
    public HostileTar Directory(string name) => Add(TarEntryType.Directory, name);

    /// <summary>A symbolic link to <paramref name="target"/>, stored as given.</summary>
    public HostileTar Symlink(string name, string target) => Add(TarEntryType.SymbolicLink, name, target);

    /// <summary>A hard link to <paramref name="target"/>, stored as given.</summary>
    public HostileTar HardLink(string name, string target) => Add(TarEntryType.HardLink, name, target);

    /// <summary>A character device (<paramref name="major"/>, <paramref name="minor"/>).</summary>
    public HostileTar CharacterDevice(string name, int major, int minor)
    {
        _entries.Add(w => w.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, name) { Mode = (UnixFileMode)0x1B6, DeviceMajor = major, DeviceMinor = minor, ModificationTime = Epoch }));
        return this;
    }

    /// <summary>A regular file of <paramref name="size"/> zero bytes, streamed (never held in memory): a bomb once gzipped.</summary>
    public HostileTar Zeros(string name, long size)
    {
        _entries.Add(w => w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new ZeroStream(size), Mode = (UnixFileMode)0x1A4, ModificationTime = Epoch }));
        return this;
    }

    private HostileTar Add(TarEntryType type, string name, string? link = null)
    {
        _entries.Add(w =>
        {
            var entry = new PaxTarEntry(type, name) { Mode = (UnixFileMode)0x1ED, ModificationTime = Epoch };
            if (link is not null) entry.LinkName = link;
            w.WriteEntry(entry);
        });
        return this;
    }

    /// <summary>Writes the tar to <paramref name="output"/>, gzip-compressed when <paramref name="gzip"/>.</summary>
    public void WriteTo(Stream output, bool gzip)
    {
        Stream target = gzip ? new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true) : output;
        try
        {
            using var writer = new System.Formats.Tar.TarWriter(target, TarEntryFormat.Pax, leaveOpen: true);
            foreach (var write in _entries) write(writer);
        }
        finally
        {
            if (gzip) target.Dispose();
        }
    }

    /// <summary>The tar as bytes (for small archives).</summary>
    public byte[] ToBytes(bool gzip = false)
    {
        var buffer = new MemoryStream();
        WriteTo(buffer, gzip);
        return buffer.ToArray();
    }

    /// <summary>Writes the tar to the file <paramref name="path"/>; returns the path.</summary>
    public string WriteFile(string path, bool gzip = false)
    {
        using var file = System.IO.File.Create(path);
        WriteTo(file, gzip);
        return path;
    }

    /// <summary>
    /// The tar as a layer in <paramref name="store"/> (gzip or plain), its diff id the sha256 of the tar: a base layer as a
    /// registry, a tarball or a layout would give it, verified on every read like theirs.
    /// </summary>
    public async Task<ILayer> LayerAsync(BlobStore store, bool gzip = false)
    {
        string work = Path.Combine(Path.GetTempPath(), "livrable-hostile-" + Guid.NewGuid().ToString("N"));
        try
        {
            WriteFile(work, gzip: false);
            Digest diffId;
            await using (var tar = System.IO.File.OpenRead(work)) diffId = Digest.FromSha256Hash(await System.Security.Cryptography.SHA256.HashDataAsync(tar));
            if (gzip)
            {
                // The same tar bytes compressed, so that the diff id stays theirs.
                await using (var plain = System.IO.File.OpenRead(work))
                await using (var gz = new GZipStream(System.IO.File.Create(work + ".gz"), CompressionLevel.Fastest))
                    await plain.CopyToAsync(gz);
                System.IO.File.Move(work + ".gz", work, overwrite: true);
            }
            await using var blob = System.IO.File.OpenRead(work);
            var (digest, size) = await store.PutAsync(blob, null, null, CancellationToken.None);
            return new StoredLayer(new Descriptor(gzip ? MediaTypes.OciLayerGzip : MediaTypes.OciLayer, digest, size), diffId, store);
        }
        finally
        {
            System.IO.File.Delete(work);
        }
    }

    /// <summary><paramref name="length"/> zero bytes, generated as they are read (seekable, as TarWriter wants for a gzip archive).</summary>
    private sealed class ZeroStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => _position = value; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = (int)Math.Min(count, length - _position);
            Array.Clear(buffer, offset, n);
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin)
            => _position = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _position + offset, _ => length + offset };
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
