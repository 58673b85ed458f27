using Livrable.Diagnostics;

namespace Livrable.Layers;

// EntriesLayerSpec: explicit entries (the Dockerfile frontend's COPY and ADD results, whiteouts).
public static partial class LayerWriter
{
    /// <summary>
    /// The entries, sorted by name, each missing parent added (0755, 0:0). Of two entries with one path the later
    /// wins, as a later COPY source overwrites an earlier one; a path that is both a non-directory and a parent is
    /// LIV4010. The root itself is not written. Times are the entry's own, clamped to the epoch, or the epoch. Whiteouts
    /// (<c>.wh.</c> names) are written as the empty files the OCI layer spec says they are. Hard links whose target is in
    /// the layer are written with the first name in sorted order holding the bytes and the others linking to it, since
    /// a tar link must follow its target; a hard link to a path outside the layer is written as it is.
    /// </summary>
    /// <summary>The time an entry gets in the layer (seconds since 1970): its own, clamped to <paramref name="epoch"/>, or the epoch.</summary>
    internal static long EntryTime(FileEntry entry, long epoch)
        => entry.ModificationTime is { } time ? Math.Min(time.ToUnixTimeSeconds(), epoch) : epoch;

    private static async Task WriteEntriesAsync(EntriesLayerSpec spec, Context context)
    {
        var byName = new Dictionary<string, FileEntry>(StringComparer.Ordinal);
        foreach (var entry in spec.Entries)
        {
            string path = LayerPath.FromImagePath(entry.Path, "The entry");
            if (path.Length == 0) continue;
            byName[path] = entry;
        }
        var parents = new HashSet<string>(StringComparer.Ordinal);
        foreach (string path in byName.Keys)
            foreach (string ancestor in LayerPath.Ancestors(path))
                parents.Add(ancestor);
        foreach (string parent in parents)
        {
            if (!byName.TryGetValue(parent, out var existing))
                byName[parent] = new FileEntry("/" + parent, TarTypeFlag.Directory, FileModes.Directory, 0, 0);
            else if (existing.Type != TarTypeFlag.Directory)
                throw new LivrableException(DiagnosticCodes.LayerPathConflict,
                    $"'/{parent}' is both a {existing.Type} and the parent folder of other entries of the layer ({spec.CreatedBy}).");
        }

        var names = byName.Keys.ToList();
        names.Sort((a, b) => TarNameComparer.Instance.Compare(TarName(a, byName[a]), TarName(b, byName[b])));
        var holder = HardLinkHolders(names, byName);
        foreach (string path in names)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            var entry = byName[path];
            if (holder.TryGetValue(path, out var link))
            {
                // The real file's metadata and bytes, under the first name of its group in sorted order.
                entry = link.Holder == path ? byName[link.Source] with { Path = entry.Path } : entry with { Type = TarTypeFlag.HardLink };
            }
            var header = new TarHeader
            {
                Name = TarName(path, entry),
                Type = entry.Type,
                Mode = entry.Mode & FileModes.All,
                Uid = entry.Uid,
                Gid = entry.Gid,
                ModificationTime = EntryTime(entry, context.Epoch),
                LinkName = entry.Type switch
                {
                    TarTypeFlag.SymbolicLink => entry.LinkTarget ?? "",
                    TarTypeFlag.HardLink => holder.TryGetValue(path, out var group) ? group.Holder
                        : LayerPath.FromImagePath(entry.LinkTarget ?? "", $"The hard link target of {entry.Path}"),
                    _ => "",
                },
                DeviceMajor = entry.Type is TarTypeFlag.CharacterDevice or TarTypeFlag.BlockDevice ? entry.DeviceMajor : 0,
                DeviceMinor = entry.Type is TarTypeFlag.CharacterDevice or TarTypeFlag.BlockDevice ? entry.DeviceMinor : 0,
                Capability = entry.Type is TarTypeFlag.RegularFile or TarTypeFlag.HardLink ? entry.Capability : null,
            };
            context.Options.Written?.Add(entry);
            if (entry.Type != TarTypeFlag.RegularFile || entry.Size == 0)
            {
                await context.Tar.WriteEntryAsync(header, null, context.CancellationToken).ConfigureAwait(false);
                continue;
            }
            var open = entry.Open ?? throw new ArgumentException(
                $"'{entry.Path}' has {entry.Size} bytes but no way to read them: materialize base-layer entries (FileTree.MaterializeAsync) first.", nameof(spec));
            Stream content;
            try
            {
                content = await open(context.CancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new LivrableException(DiagnosticCodes.LayerIo, $"Cannot read '{entry.Path}' for the layer: {e.Message}", inner: e);
            }
            await using (content.ConfigureAwait(false))
            {
                try
                {
                    await context.Tar.WriteEntryAsync(header with { Size = entry.Size }, content, context.CancellationToken).ConfigureAwait(false);
                }
                catch (IOException e) when (!DiskSpace.IsFull(e))
                {
                    throw new LivrableException(DiagnosticCodes.LayerIo, $"Adding '{entry.Path}' to the layer failed: {e.Message}", inner: e);
                }
            }
        }
    }

    private static string TarName(string path, FileEntry entry)
        => entry.Type == TarTypeFlag.Directory ? LayerPath.DirectoryName(path) : path;

    /// <summary>
    /// For every name of a hard-link group inside the layer (a regular file and the links to it, chains followed): the
    /// name that holds the bytes (the first in sorted order) and the real file's name.
    /// </summary>
    private static Dictionary<string, (string Holder, string Source)> HardLinkHolders(List<string> sorted, Dictionary<string, FileEntry> byName)
    {
        var groups = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (string path in sorted)
        {
            if (byName[path].Type != TarTypeFlag.HardLink) continue;
            string? source = path;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            while (source is not null && byName.TryGetValue(source, out var e) && e.Type == TarTypeFlag.HardLink && seen.Add(source))
                source = e.LinkTarget is { } t ? LayerPath.FromImagePath(t, $"The hard link target of {e.Path}") : null;
            if (source is null || !byName.TryGetValue(source, out var real) || real.Type == TarTypeFlag.HardLink) continue;
            if (real.Type == TarTypeFlag.Directory)
                throw new LivrableException(DiagnosticCodes.InvalidLayerPath, $"The hard link '/{path}' points to the directory '/{source}'.");
            if (!groups.TryGetValue(source, out var members)) groups[source] = members = [source];
            members.Add(path);
        }
        var result = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        foreach (var (source, members) in groups)
        {
            string first = members.OrderBy(m => m, Comparer<string>.Create((a, b) => TarNameComparer.Instance.Compare(a, b))).First();
            foreach (string member in members) result[member] = (first, source);
        }
        return result;
    }
}
