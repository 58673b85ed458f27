namespace Livrable.Layers;

/// <summary>
/// File capabilities (capabilities(7), "File capabilities"): the <c>security.capability</c> extended attribute a
/// <c>setcap</c> writes, the one attribute a layer carries, as BuildKit's differs do (containerd's
/// <c>archive/tar.go</c> and moby's <c>pkg/archive</c> read it with <c>lgetxattr</c> and write it as the PAX record
/// <c>SCHILY.xattr.security.capability</c>, the value's bytes as they are; no other attribute).
/// </summary>
/// <remarks>
/// The value is the kernel's <c>struct vfs_cap_data</c> (<c>include/uapi/linux/capability.h</c>), little-endian: a
/// 32-bit <c>magic_etc</c> whose top byte is the revision (1, 2 or 3) and whose bit 0 is the effective flag, then the
/// permitted and inheritable sets, and for revision 3 (<c>VFS_CAP_REVISION_3</c>, written when the capability was set
/// in a user namespace) the host uid of that namespace's root. That uid means nothing in another machine's namespaces,
/// so a layer holds revision 2 (as moby's archive writer does, and as the kernel itself shows a revision 3 value to a
/// reader inside the namespace whose root it names): <see cref="ForLayer"/>.
/// </remarks>
public static class FileCapability
{
    /// <summary>The extended attribute.</summary>
    public const string Attribute = "security.capability";

    /// <summary>The PAX record that carries it in a tar (the <c>SCHILY.xattr.</c> prefix star and GNU tar use).</summary>
    public const string PaxRecord = "SCHILY.xattr." + Attribute;

    private const int RevisionOffset = 3;
    private const byte Revision2 = 2;
    private const byte Revision3 = 3;
    private const int Revision2Size = 20;
    private const int Revision3Size = 24;

    /// <summary>
    /// The value a layer carries for <paramref name="value"/> read from a file: a revision 3 value becomes revision 2
    /// (its first 20 bytes, the revision byte 2: the same sets, no namespace root); others as they are.
    /// </summary>
    public static byte[] ForLayer(byte[] value)
    {
        if (value.Length != Revision3Size || value[RevisionOffset] != Revision3) return value;
        var v2 = value[..Revision2Size];
        v2[RevisionOffset] = Revision2;
        return v2;
    }

    /// <summary>
    /// The capabilities a layer carries for an entry of <paramref name="type"/> read from a tar with the record
    /// <paramref name="record"/> (<see cref="TarHeaderLimit.Capability"/>): a regular file's or hard link's, in the form
    /// a layer holds (<see cref="ForLayer"/>); null for any other type, as the kernel keeps them on files only. Every
    /// reader of a tar that gives its entries to a layer (a base or cached layer's tree, an ADD archive, a
    /// <c>ContainerLayer</c> tar) takes them through here, as BuildKit's <c>COPY --from</c> and ADD keep them.
    /// </summary>
    public static byte[]? FromRecord(TarTypeFlag type, byte[]? record)
        => record is not null && type is TarTypeFlag.RegularFile or TarTypeFlag.HardLink ? ForLayer(record) : null;

    /// <summary>Whether two records (either may be none) are the same bytes.</summary>
    public static bool Same(byte[]? a, byte[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);
}
