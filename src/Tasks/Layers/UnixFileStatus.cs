using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Livrable.Layers;

/// <summary>What a file is, as <c>lstat</c> tells it; the kinds a folder walk may meet.</summary>
internal enum UnixFileKind { RegularFile, Directory, SymbolicLink, CharacterDevice, BlockDevice, Fifo, Socket }

/// <summary>
/// The <c>lstat</c> facts .NET does not expose: the inode and link count (to write hard links as hard links),
/// the file type (devices, fifos, sockets) and device numbers. Read with Linux's <c>statx</c>, whose struct has the same
/// layout on every architecture, unlike <c>struct stat</c>; the symbol is looked up in the running process, so it works
/// with glibc and musl alike. Elsewhere (Windows, macOS, a kernel or sandbox without statx) <see cref="TryRead"/>
/// returns null and the walk falls back to what <see cref="FileSystemInfo"/> says.
/// </summary>
internal readonly record struct UnixFileStatus(
    UnixFileKind Kind, int Mode, ulong Device, ulong Inode, uint LinkCount, int DeviceMajor, int DeviceMinor, uint Uid = 0, uint Gid = 0,
    long ChangeTime = 0, long ModificationTime = 0, long Size = 0)
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7FF;
    private const int StatxSize = 256;
    private const int ENOSYS = 38;
    private const int EPERM = 1;

    // The path is passed as NUL-terminated UTF-8 bytes and both arrays are reused per thread: a build asks for tens of
    // thousands of files (a context's key, issue 14), and a marshalled string and a new buffer per call cost more than
    // the system call. Called through an unmanaged function pointer with blittable arguments: no marshalling stub,
    // which a delegate needed, compiled at run time in every build process, and run around every call (issue 14).
    [ThreadStatic] private static byte[]? _pathBytes;
    [ThreadStatic] private static byte[]? _buffer;

    /// <summary><c>statx(dirfd, path, flags, mask, buffer)</c> of the running C library; null without it.</summary>
    private static unsafe delegate* unmanaged<int, byte*, int, uint, byte*, int> _statx = Load();

    /// <summary>Whether <see cref="TryRead"/> can answer on this machine.</summary>
    public static unsafe bool IsAvailable => _statx != null;

    /// <summary>
    /// What tells the regular file at <paramref name="path"/> from any other state of it, as one line: size,
    /// modification and change times in nanoseconds, device, inode, and the kernel's boot id. A record of a file written
    /// or checked earlier (a tarball's, a cached layer's) is trusted while this line is the same: any write changes the
    /// change time, which no call can set back, and a file moved into the path has another inode. The boot id makes the
    /// line hold only within one boot (<see cref="BootId"/>): what a crash may have taken from a file written without
    /// <c>fsync</c> is never vouched for by a record of the boot before. Null for anything but a regular file (a link is
    /// not followed), without statx, or where the boot id cannot be read.
    /// </summary>
    public static string? IdentityOf(string path)
        => BootId.Stamp is { } boot && TryRead(path) is { Kind: UnixFileKind.RegularFile } s
            ? FormattableString.Invariant($"file size={s.Size} mtime={s.ModificationTime} ctime={s.ChangeTime} dev={s.Device} ino={s.Inode} {boot}")
            : null;

    /// <summary>The status of <paramref name="path"/> itself (a symbolic link is not followed), or null when unknown.</summary>
    public static UnixFileStatus? TryRead(string path)
    {
        if (!IsAvailable) return null;
        var buffer = _buffer ??= new byte[StatxSize];
        int length = System.Text.Encoding.UTF8.GetMaxByteCount(path.Length) + 1;
        if (_pathBytes is null || _pathBytes.Length < length) _pathBytes = new byte[Math.Max(length, 1024)];
        var pathBytes = _pathBytes;
        pathBytes[System.Text.Encoding.UTF8.GetBytes(path, pathBytes)] = 0;
        return Read(AtFdCwd, pathBytes, buffer);
    }

    /// <summary>
    /// <see cref="TryRead"/> of the entry <paramref name="name"/> (its raw bytes, no slash) of the folder open as
    /// <paramref name="directoryFd"/>: the kernel looks up one name, not the whole path again (a context's walk asks
    /// this for each of tens of thousands of entries, issue 14).
    /// </summary>
    public static UnixFileStatus? TryReadAt(int directoryFd, ReadOnlySpan<byte> name)
    {
        if (!IsAvailable) return null;
        var buffer = _buffer ??= new byte[StatxSize];
        if (_pathBytes is null || _pathBytes.Length < name.Length + 1) _pathBytes = new byte[Math.Max(name.Length + 1, 1024)];
        var pathBytes = _pathBytes;
        name.CopyTo(pathBytes);
        pathBytes[name.Length] = 0;
        return Read(directoryFd, pathBytes, buffer);
    }

    private static unsafe UnixFileStatus? Read(int directoryFd, byte[] pathBytes, byte[] buffer)
    {
        var statx = _statx;
        if (statx == null) return null;
        int result;
        fixed (byte* path = pathBytes)
        fixed (byte* status = buffer)
            result = statx(directoryFd, path, AtSymlinkNoFollow, StatxBasicStats, status);
        if (result != 0)
        {
            // errno as the call left it (the runtime keeps it across its return from native code).
            int errno = Marshal.GetLastSystemError();
            // Not in this kernel, or refused by a seccomp filter: stop asking.
            if (errno is ENOSYS or EPERM) _statx = null;
            return null;
        }
        // struct statx (linux/stat.h): nlink @16 u32, size @40 u64, uid @20 u32, gid @24 u32, ctime @96, mtime @112 (statx_timestamp), mode @28 u16, ino @32 u64, rdev_major @128, rdev_minor @132,
        // dev_major @136, dev_minor @140, all u32; native byte order.
        var b = buffer.AsSpan();
        uint nlink = Read32(b[16..]);
        int mode = BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt16LittleEndian(b[28..]) : BinaryPrimitives.ReadUInt16BigEndian(b[28..]);
        ulong inode = BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt64LittleEndian(b[32..]) : BinaryPrimitives.ReadUInt64BigEndian(b[32..]);
        var kind = (mode & 0xF000) switch
        {
            0x8000 => UnixFileKind.RegularFile,
            0x4000 => UnixFileKind.Directory,
            0xA000 => UnixFileKind.SymbolicLink,
            0x2000 => UnixFileKind.CharacterDevice,
            0x6000 => UnixFileKind.BlockDevice,
            0x1000 => UnixFileKind.Fifo,
            _ => UnixFileKind.Socket,
        };
        ulong device = ((ulong)Read32(b[136..]) << 32) | Read32(b[140..]);
        return new UnixFileStatus(kind, mode & FileModes.All, device, inode, nlink, (int)Read32(b[128..]), (int)Read32(b[132..]),
            Read32(b[20..]), Read32(b[24..]), Time(b[96..]), Time(b[112..]),
            BitConverter.IsLittleEndian ? BinaryPrimitives.ReadInt64LittleEndian(b[40..]) : BinaryPrimitives.ReadInt64BigEndian(b[40..]));
    }

    /// <summary>A <c>struct statx_timestamp</c> (s64 seconds, u32 nanoseconds) as nanoseconds since the epoch.</summary>
    private static long Time(ReadOnlySpan<byte> b)
    {
        long seconds = BitConverter.IsLittleEndian ? BinaryPrimitives.ReadInt64LittleEndian(b) : BinaryPrimitives.ReadInt64BigEndian(b);
        return seconds * 1_000_000_000 + Read32(b[8..]);
    }

    private static uint Read32(ReadOnlySpan<byte> b)
        => BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32BigEndian(b);

    private static unsafe delegate* unmanaged<int, byte*, int, uint, byte*, int> Load()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            return NativeLibrary.TryGetExport(NativeLibrary.GetMainProgramHandle(), "statx", out IntPtr address)
                ? (delegate* unmanaged<int, byte*, int, uint, byte*, int>)address
                : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or NotSupportedException)
        {
            return null;
        }
    }
}
