using System.Buffers.Binary;

namespace Livrable.Layers;

/// <summary>
/// Keeps Python's bytecode caches current across the layer's times. A <c>.pyc</c> file made from a source file's
/// modification time (PEP 552's default, timestamp-based invalidation) records that time and the source's size; Python
/// recompiles the module, and writes a new <c>.pyc</c> where it can, whenever the source's <c>stat</c> says otherwise
/// (<c>importlib._bootstrap_external._validate_timestamp_pyc</c>). A layer written from files a RUN left
/// gives every file the build's epoch (docs/reproducibility.md), so each <c>.pyc</c> the command compiled
/// (<c>apt-get</c>'s <c>py3compile</c>, <c>pip install</c>'s own compilation) would be stale in the image and in every
/// later RUN: pip then recompiled itself at each edit of samples/pyapp (1 s of its 1.5 s, and 697 new <c>.pyc</c> in
/// its layer), and every container would recompile at start. So a <c>.pyc</c> that was current for its source as the
/// command left them (same recorded time and size) records the time the layer gives the source instead: exactly the
/// file <c>py_compile</c> writes for a source with that time, since nothing else in it depends on the time. A
/// <c>.pyc</c> that was stale stays as it was, and hash-based ones (PEP 552 flags) need nothing.
/// </summary>
/// <remarks>
/// Only pairs in the same layer are concerned: a source from a layer below kept its time, which the command saw. A
/// source that is a symbolic link is judged by the file it leads to in the layer, as Python's <c>stat</c> does.
/// Sources are found as Python finds them (PEP 3147): <c>dir/__pycache__/name.TAG[.opt-N].pyc</c> for <c>dir/name.py</c>,
/// and the legacy <c>dir/name.pyc</c> beside it. Headers of Python 3.3 to 3.6 (time at byte 4, size at 8) and of 3.7
/// and later (flags at 4, time at 8, size at 12) are read; Python 2's (no size) are left alone.
/// </remarks>
internal static class BytecodeTimes
{
    /// <summary>The first magic number of PEP 552's 16-byte header (Python 3.7a4); 3.3's was 3190.</summary>
    private const int FlagsHeaderMagic = 3390;
    private const int SizeHeaderMagic = 3190;

    /// <summary>Magic numbers past this are not CPython 3's (Python 2.7's is 62211).</summary>
    private const int LastMagic = 20000;

    /// <summary>
    /// <paramref name="entries"/> with each <c>.pyc</c> that was current for its source (given by
    /// <paramref name="sourceTime"/>: the source's modification time in nanoseconds since 1970 as the command left it,
    /// null when unknown) opening to bytes that record the source's time in the layer instead (<paramref name="epoch"/>,
    /// the writer's rule: the entry's own time clamped to it, else it). Other entries are returned as they are; so is
    /// the list when nothing changes.
    /// </summary>
    public static async Task<IReadOnlyList<FileEntry>> AlignAsync(IReadOnlyList<FileEntry> entries, Func<string, long?> sourceTime,
        DateTimeOffset epoch, CancellationToken cancellationToken)
    {
        Dictionary<string, FileEntry>? sources = null;
        List<FileEntry>? aligned = null;
        for (int i = 0; i < entries.Count; i++)
        {
            var entry = entries[i];
            if (entry.Type != TarTypeFlag.RegularFile || entry.Open is null || entry.Size < 16 || SourcePath(entry.Path) is not { } source) continue;
            sources ??= entries.Where(e => e.Type is TarTypeFlag.RegularFile or TarTypeFlag.SymbolicLink)
                .GroupBy(e => e.Path, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
            if (Followed(sources, source) is not { } sourceEntry || sourceTime(sourceEntry.Path) is not { } nanoseconds || nanoseconds < 0) continue;
            long written = LayerWriter.EntryTime(sourceEntry, epoch.ToUnixTimeSeconds());
            long seconds = nanoseconds / 1_000_000_000;
            if (written == seconds || written < 0) continue;

            byte[] header = new byte[16];
            await using (var stream = await entry.Open(cancellationToken).ConfigureAwait(false))
                await stream.ReadExactlyAsync(header, cancellationToken).ConfigureAwait(false);
            if (TimeOffset(header, sourceEntry.Size, seconds) is not { } offset) continue;

            var open = entry.Open;
            aligned ??= [.. entries];
            aligned[i] = entry with { Open = async ct => await PatchedAsync(open, offset, (uint)written, ct).ConfigureAwait(false) };
        }
        return aligned ?? entries;
    }

    /// <summary>
    /// Where the header holds the source's time when it is timestamp-based and records <paramref name="seconds"/> and
    /// <paramref name="size"/> (both modulo 2^32, as Python compares them); null otherwise.
    /// </summary>
    internal static int? TimeOffset(ReadOnlySpan<byte> header, long size, long seconds)
    {
        if (header[2] != '\r' || header[3] != '\n') return null;
        int magic = BinaryPrimitives.ReadUInt16LittleEndian(header);
        int offset;
        if (magic >= FlagsHeaderMagic && magic < LastMagic)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(header[4..]) != 0) return null;
            offset = 8;
        }
        else if (magic >= SizeHeaderMagic && magic < FlagsHeaderMagic) offset = 4;
        else return null;
        return BinaryPrimitives.ReadUInt32LittleEndian(header[offset..]) == (uint)seconds
            && BinaryPrimitives.ReadUInt32LittleEndian(header[(offset + 4)..]) == (uint)size
            ? offset : null;
    }

    /// <summary>
    /// The regular file of the layer Python reads as <paramref name="path"/>: the entry there, or where its symbolic
    /// links lead inside the layer (Debian's <c>sitecustomize.py</c> is a link to <c>/etc/python3.11/</c>, and Python's
    /// <c>stat</c> follows it); null when it is not in the layer (a file below kept the time the command saw).
    /// </summary>
    private static FileEntry? Followed(Dictionary<string, FileEntry> files, string path)
    {
        for (int hops = 0; hops < 8 && files.TryGetValue(path, out var entry); hops++)
        {
            if (entry.Type == TarTypeFlag.RegularFile) return entry;
            string target = entry.LinkTarget ?? "";
            path = ImagePath.Clean(target.StartsWith('/') ? target : ImagePath.Join(ImagePath.Parent(path), target));
        }
        return null;
    }

    /// <summary>The source of a bytecode file at <paramref name="path"/>, as Python's import system looks for it; null for any other file.</summary>
    internal static string? SourcePath(string path)
    {
        if (!path.EndsWith(".pyc", StringComparison.Ordinal)) return null;
        int slash = path.LastIndexOf('/');
        string folder = path[..slash];
        string name = path[(slash + 1)..^".pyc".Length];
        if (folder.EndsWith("/__pycache__", StringComparison.Ordinal))
        {
            // name.TAG or name.TAG.opt-N: the module's name is what comes before the tag.
            int dot = name.IndexOf('.');
            if (dot <= 0) return null;
            return folder[..^"/__pycache__".Length] + "/" + name[..dot] + ".py";
        }
        return name.Length == 0 ? null : folder + "/" + name + ".py";
    }

    private static async Task<Stream> PatchedAsync(Func<CancellationToken, Task<Stream>> open, int offset, uint time, CancellationToken cancellationToken)
    {
        var copy = new MemoryStream();
        await using (var stream = await open(cancellationToken).ConfigureAwait(false))
            await stream.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
        BinaryPrimitives.WriteUInt32LittleEndian(copy.GetBuffer().AsSpan(offset, 4), time);
        copy.Position = 0;
        return copy;
    }
}
