namespace Livrable.Layers;

/// <summary>
/// The one rule for the file capabilities of a tar's hard links: every name of one file carries one record, that of
/// the last entry of the tar naming the file (the file itself or a hard link to it), its own record, or none when that
/// entry has none. It is what an untar leaves, and so what BuildKit's ADD of an archive gives (dockerd 20.10, checked by
/// <c>FileCapabilityDifferentialTests</c>), and how dockerd's layer store applies an image's layer, so what BuildKit's
/// <c>COPY --from</c> and RUN see of a base image. ADD's extraction (<c>Filesystem/ArchiveExtraction</c>), a
/// <c>ContainerLayer</c> tar's layer (<see cref="LayerWriter"/>) and a tree's read of a layer (<c>Filesystem/FileTree</c>,
/// <see cref="Apply"/>) follow it through here; the extraction for a RUN as root (<c>Runtime/LayerRootfs</c>) lets the
/// kernel follow it, as the untar does.
/// </summary>
/// <remarks>
/// moby's untar (<c>pkg/archive</c> <c>createTarFile</c>, which BuildKit's ADD runs) makes a hard link with link(2),
/// then lchown(2)s it, then sets the entry's own <c>SCHILY.xattr.*</c> records. The link is the file's inode, and the
/// kernel removes <c>security.capability</c> on every chown of a non-directory, root's included (<c>ATTR_KILL_PRIV</c>);
/// so a link with no record of its own leaves the file with none, and a link with one replaces the file's. The differ
/// then reads the inode's value for each name, so all names agree. A later regular file at a name makes a new file, and
/// links made before it keep the old one.
/// </remarks>
public sealed class LinkedCapabilities
{
    private readonly Dictionary<string, LinkedFile> _files = new(StringComparer.Ordinal);

    /// <summary>
    /// Follows one entry, in tar order: its <paramref name="path"/> (named as the caller names every entry), its
    /// <paramref name="type"/>, a hard link's <paramref name="linkTarget"/> (named the same way) and its own record in
    /// the form a layer holds (<see cref="FileCapability.FromRecord"/>). Returns the file the entry is a name of (null
    /// for any other type, or a link to no file of the tar), whose <see cref="LinkedFile.Capability"/> is, once the
    /// whole tar is followed, the record this name carries.
    /// </summary>
    public LinkedFile? Add(string path, TarTypeFlag type, string? linkTarget, byte[]? capability)
    {
        LinkedFile? file = null;
        if (type == TarTypeFlag.RegularFile) file = new LinkedFile { Capability = capability };
        else if (type == TarTypeFlag.HardLink && linkTarget is not null && _files.TryGetValue(linkTarget, out file))
        {
            file.Capability = capability;
            file.Linked = true;
        }
        if (file is null) _files.Remove(path);
        else _files[path] = file;
        return file;
    }

    /// <summary>
    /// The rule over one layer's entries in tar order (paths and hard link targets named alike): each name of a file
    /// given the record of the last entry naming it. Nothing is allocated unless the layer has both a hard link and a
    /// record, the only layers where a name's record can change.
    /// </summary>
    public static void Apply(List<FileEntry> entries)
    {
        if (!entries.Exists(e => e.Type == TarTypeFlag.HardLink) || !entries.Exists(e => e.Capability is not null)) return;
        var linked = new LinkedCapabilities();
        var files = new LinkedFile?[entries.Count];
        for (int i = 0; i < entries.Count; i++) files[i] = linked.Add(entries[i].Path, entries[i].Type, entries[i].LinkTarget, entries[i].Capability);
        Settle(entries, files);
    }

    /// <summary>
    /// Once the whole tar is followed: each entry given the record of the file it is a name of (<paramref name="files"/>,
    /// beside the entries, as <see cref="Add"/> returned them) where a hard link made it differ from its own.
    /// </summary>
    public static void Settle(List<FileEntry> entries, IReadOnlyList<LinkedFile?> files)
    {
        for (int i = 0; i < entries.Count; i++)
            if (files[i] is { Linked: true } file && !FileCapability.Same(entries[i].Capability, file.Capability))
                entries[i] = entries[i] with { Capability = file.Capability };
    }

    /// <summary>One file of the tar: its names share it.</summary>
    public sealed class LinkedFile
    {
        /// <summary>The record its names carry: the last entry's so far, the final one once the tar is followed.</summary>
        public byte[]? Capability { get; internal set; }

        /// <summary>True once a hard link names it: only then can its record differ from its first entry's own.</summary>
        public bool Linked { get; internal set; }
    }
}
