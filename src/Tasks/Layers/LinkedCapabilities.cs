namespace Livrable.Layers;

/// <summary>
/// The one rule for the file capabilities of a tar's hard links: every name of one file carries one record, that of
/// the last entry of the tar naming the file (the file itself or a hard link to it), its own record, or none when that
/// entry has none. It is what an untar leaves, and so what BuildKit's ADD of an archive gives (dockerd 20.10, checked by
/// <c>FileCapabilityDifferentialTests</c>). ADD's extraction (<c>Filesystem/ArchiveExtraction</c>) and a
/// <c>ContainerLayer</c> tar's layer (<see cref="LayerWriter"/>) both follow it through here.
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

    /// <summary>One file of the tar: its names share it.</summary>
    public sealed class LinkedFile
    {
        /// <summary>The record its names carry: the last entry's so far, the final one once the tar is followed.</summary>
        public byte[]? Capability { get; internal set; }

        /// <summary>True once a hard link names it: only then can its record differ from its first entry's own.</summary>
        public bool Linked { get; internal set; }
    }
}
