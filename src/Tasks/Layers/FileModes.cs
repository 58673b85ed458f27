namespace Livrable.Layers;

/// <summary>
/// The permission bits layers are written with (C# has no octal literals, so the octal is in each name's comment).
/// Regular files get 0644, or 0755 where the owner may execute them; directories 0755; symbolic links 0777, as Linux
/// reports them. So the mode a file gets depends only on whether it is executable, never on the umask of the machine.
/// </summary>
public static class FileModes
{
    /// <summary>0644: a regular file that is not executable.</summary>
    public const int RegularFile = 0x1A4;

    /// <summary>0755: an executable file.</summary>
    public const int Executable = 0x1ED;

    /// <summary>0755: a directory.</summary>
    public const int Directory = 0x1ED;

    /// <summary>0777: a symbolic link (its own mode is never used).</summary>
    public const int SymbolicLink = 0x1FF;

    /// <summary>0100: the owner's execute bit.</summary>
    public const int OwnerExecute = 0x40;

    /// <summary>0777: the permission bits, without setuid, setgid and sticky.</summary>
    public const int Permissions = 0x1FF;

    /// <summary>07777: every bit a tar header's mode may hold.</summary>
    public const int All = 0xFFF;

    /// <summary>The normalised mode of a regular file: 0755 if the owner may execute it, else 0644.</summary>
    public static int ForRegularFile(bool ownerExecutable) => ownerExecutable ? Executable : RegularFile;
}
