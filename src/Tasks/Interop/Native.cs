using System.Runtime.InteropServices;

namespace Livrable.Interop;

/// <summary>
/// The few libc calls RUN needs that .NET does not expose: mounts, device nodes (overlay whiteouts), owners without
/// following links, extended attributes (opaque folders), hard links; and the in-kernel copy of a file's range that
/// an image tarball's unchanged layers take (<see cref="CopyFileRange"/>). Linux only; every caller checks the platform
/// first. Errors are returned as errno so callers can word them.
/// </summary>
internal static class Native
{
    public const int EEXIST = 17;
    public const int ENODATA = 61;
    public const int EPERM = 1;
    public const int EINVAL = 22;
    public const int ENOENT = 2;
    public const int EBUSY = 16;

    public const uint S_IFCHR = 0x2000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFIFO = 0x1000;

    public const int MNT_DETACH = 2;
    public const ulong MS_RDONLY = 1;

    [DllImport("libc", EntryPoint = "geteuid")]
    public static extern uint GetEffectiveUserId();

    [DllImport("libc", EntryPoint = "getegid")]
    public static extern uint GetEffectiveGroupId();

    [DllImport("libc", EntryPoint = "getpwuid")]
    private static extern nint GetPasswordEntry(uint uid);

    /// <summary>The login name of <paramref name="uid"/> (<c>getpwuid</c>), or null when it has none.</summary>
    public static string? UserName(uint uid)
    {
        // struct passwd starts with char *pw_name.
        nint entry = GetPasswordEntry(uid);
        return entry == 0 ? null : Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(entry));
    }

    [DllImport("libc", EntryPoint = "mount", SetLastError = true)]
    public static extern int Mount([MarshalAs(UnmanagedType.LPUTF8Str)] string source, [MarshalAs(UnmanagedType.LPUTF8Str)] string target, [MarshalAs(UnmanagedType.LPUTF8Str)] string fileSystemType, ulong flags, [MarshalAs(UnmanagedType.LPUTF8Str)] string? data);

    [DllImport("libc", EntryPoint = "umount2", SetLastError = true)]
    public static extern int Unmount([MarshalAs(UnmanagedType.LPUTF8Str)] string target, int flags);

    [DllImport("libc", EntryPoint = "mknod", SetLastError = true)]
    public static extern int MakeNode([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode, ulong device);

    [DllImport("libc", EntryPoint = "lchown", SetLastError = true)]
    public static extern int LinkChangeOwner([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint uid, uint gid);

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    public static extern int HardLink([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath);

    [DllImport("libc", EntryPoint = "lsetxattr", SetLastError = true)]
    public static extern int SetXattr([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [MarshalAs(UnmanagedType.LPUTF8Str)] string name, byte[] value, nuint size, int flags);

    [DllImport("libc", EntryPoint = "lgetxattr", SetLastError = true)]
    public static extern nint GetXattr([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [MarshalAs(UnmanagedType.LPUTF8Str)] string name, byte[]? value, nuint size);

    [DllImport("libc", EntryPoint = "llistxattr", SetLastError = true)]
    public static extern nint ListXattr([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[]? list, nuint size);

    [DllImport("libc", EntryPoint = "lremovexattr", SetLastError = true)]
    public static extern int RemoveXattr([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    /// <summary><c>rename(2)</c>: never a copy (File.Move copies across file systems; this fails with EXDEV instead).</summary>
    [DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    public static extern int Rename([MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath);

    [DllImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    private static extern int RenameAt2(int oldDirectory, [MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, int newDirectory,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath, uint flags);

    /// <summary>
    /// Swaps the files at <paramref name="path"/> and <paramref name="other"/> in one step (<c>renameat2(2)</c> with
    /// <c>RENAME_EXCHANGE</c>): both names exist throughout. False where it cannot (either missing, a file system or
    /// kernel without it, not Linux); nothing has then changed. Linux only.
    /// </summary>
    public static bool TryExchange(string path, string other)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return RenameAt2(AtFdCwd, path, AtFdCwd, other, RenameExchange) == 0;
        }
        catch (EntryPointNotFoundException)
        {
            return false; // a C library before glibc 2.28
        }
    }

    private const int AtFdCwd = -100;
    private const uint RenameExchange = 2;

    [DllImport("libc", EntryPoint = "copy_file_range", SetLastError = true)]
    private static extern nint CopyFileRangeCall(int inputFd, ref long inputOffset, int outputFd, ref long outputOffset, nuint length, uint flags);

    /// <summary>Per call: a cancellation is seen between two of them.</summary>
    private const long CopyChunk = 64L << 20;

    /// <summary>
    /// Copies <paramref name="length"/> bytes at <paramref name="sourceOffset"/> of <paramref name="source"/> to
    /// <paramref name="targetOffset"/> of <paramref name="target"/> in the kernel (<c>copy_file_range(2)</c>: a reflink
    /// where the file system shares extents, XFS or btrfs; else a copy between page caches, never through user space),
    /// without moving either file's offset. Returns how many bytes it copied: all of them, or fewer where the kernel or
    /// the file systems cannot (no such call, two file systems, a sandbox refusing it, or the source ending early), the
    /// caller copying the rest itself. Linux only.
    /// </summary>
    public static long CopyFileRange(Microsoft.Win32.SafeHandles.SafeFileHandle source, long sourceOffset,
        Microsoft.Win32.SafeHandles.SafeFileHandle target, long targetOffset, long length, CancellationToken cancellationToken)
    {
        bool sourceAdded = false, targetAdded = false;
        long copied = 0;
        try
        {
            source.DangerousAddRef(ref sourceAdded);
            target.DangerousAddRef(ref targetAdded);
            int input = (int)source.DangerousGetHandle(), output = (int)target.DangerousGetHandle();
            while (copied < length && !cancellationToken.IsCancellationRequested)
            {
                long inputOffset = sourceOffset + copied, outputOffset = targetOffset + copied;
                nint n = CopyFileRangeCall(input, ref inputOffset, output, ref outputOffset, (nuint)Math.Min(CopyChunk, length - copied), 0);
                // 0: the source ended; -1: ENOSYS, EXDEV, EOPNOTSUPP, EINVAL, EPERM... (Marshal.GetLastPInvokeError):
                // the caller's copy carries on from here and says what is wrong, if anything is.
                if (n <= 0) break;
                copied += n;
            }
        }
        catch (EntryPointNotFoundException)
        {
            // A libc older than 2.27.
        }
        finally
        {
            if (targetAdded) target.DangerousRelease();
            if (sourceAdded) source.DangerousRelease();
        }
        return copied;
    }

    /// <summary><c>makedev</c> as glibc encodes it.</summary>
    public static ulong MakeDevice(long major, long minor)
        => ((ulong)(major & 0xfff) << 8) | ((ulong)(major & ~0xfffL) << 32) | ((ulong)minor & 0xff) | (((ulong)minor & ~0xffUL) << 12);

    /// <summary>Whether the process runs as root (euid 0).</summary>
    public static bool IsRoot => OperatingSystem.IsLinux() && GetEffectiveUserId() == 0;

    public static int LastError => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";

    /// <summary>The value of an extended attribute of <paramref name="path"/> itself, or null when it has none.</summary>
    public static byte[]? ReadXattr(string path, string name)
    {
        nint size = GetXattr(path, name, null, 0);
        if (size < 0) return null;
        var buffer = new byte[size];
        size = GetXattr(path, name, buffer, (nuint)buffer.Length);
        return size < 0 ? null : buffer[..(int)size];
    }

    /// <summary>The names of the extended attributes of <paramref name="path"/> itself.</summary>
    public static IReadOnlyList<string> ListXattrs(string path)
    {
        nint size = ListXattr(path, null, 0);
        if (size <= 0) return [];
        var buffer = new byte[size];
        size = ListXattr(path, buffer, (nuint)buffer.Length);
        if (size <= 0) return [];
        return System.Text.Encoding.UTF8.GetString(buffer, 0, (int)size).Split('\0', StringSplitOptions.RemoveEmptyEntries);
    }
}
