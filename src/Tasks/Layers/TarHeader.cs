namespace Livrable.Layers;

/// <summary>
/// What <see cref="TarWriter"/> writes for one entry: the fields of a ustar header, with no limits of the ustar
/// encoding (a long name, a large size or a non-ASCII owner name is carried in a PAX extended header instead).
/// Nothing here is taken from the machine: the caller chooses every value, which is what makes a layer reproducible.
/// </summary>
public sealed record TarHeader
{
    /// <summary>
    /// The entry's path in the archive: relative, '/'-separated, with a trailing '/' for a directory
    /// (<c>app/</c>, <c>app/hello.dll</c>). Any Unicode; written as UTF-8.
    /// </summary>
    public required string Name { get; init; }

    /// <summary>The entry type.</summary>
    public TarTypeFlag Type { get; init; } = TarTypeFlag.RegularFile;

    /// <summary>Permission bits with setuid, setgid and sticky (<c>07777</c> at most).</summary>
    public int Mode { get; init; } = FileModes.RegularFile;

    /// <summary>Numeric owner.</summary>
    public long Uid { get; init; }

    /// <summary>Numeric group.</summary>
    public long Gid { get; init; }

    /// <summary>Owner name; empty (the default) writes the numeric owner only.</summary>
    public string UserName { get; init; } = "";

    /// <summary>Group name; empty (the default) writes the numeric group only.</summary>
    public string GroupName { get; init; } = "";

    /// <summary>The mtime, in whole seconds since 1970-01-01 (may be negative).</summary>
    public long ModificationTime { get; init; }

    /// <summary>Content length in bytes; only a regular file has content, every other type has 0.</summary>
    public long Size { get; init; }

    /// <summary>The target of a symbolic link (as-is) or of a hard link (an earlier entry's name).</summary>
    public string LinkName { get; init; } = "";

    /// <summary>Device numbers of a character or block device.</summary>
    public int DeviceMajor { get; init; }

    /// <inheritdoc cref="DeviceMajor"/>
    public int DeviceMinor { get; init; }

    /// <summary>
    /// The file capabilities of a regular file or hard link (<see cref="FileCapability"/>: the <c>security.capability</c>
    /// value, written as the PAX record <c>SCHILY.xattr.security.capability</c>); null for none, which writes no record.
    /// </summary>
    public byte[]? Capability { get; init; }
}
