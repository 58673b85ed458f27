using System.Runtime.InteropServices;
using System.Text;
using Livrable.Layers;

namespace Livrable.Context;

public sealed partial class BuildContext
{
    /// <summary>
    /// A folder's listing read the way the kernel gives it (Linux): the folder opened once, its names read with
    /// <c>getdents64</c> into one buffer per thread, and each name asked with <c>statx</c> relative to the folder's
    /// descriptor, so the kernel resolves one name instead of the whole path again, and no path is encoded to UTF-8
    /// for it (issue 14: an unchanged build lists its 20,000-file context each time). The listing is sized once, from
    /// the count of names read. Null when this cannot answer (no <c>getdents64</c> or <c>statx</c>, the folder cannot
    /// be opened, a name that is not valid UTF-8, an entry gone since the listing): the caller lists the folder through
    /// .NET, which reports the error as before.
    /// </summary>
    private static class FolderReader
    {
        private const int ReadOnlyDirectory = 0x10000 | 0x80000; // O_RDONLY | O_DIRECTORY | O_CLOEXEC (Linux: x86-64, s390x, riscv64...)
        private const int ReadOnlyDirectoryArm = 0x4000 | 0x80000; // O_DIRECTORY is 040000 on arm, arm64 and powerpc

        // The C library's open, getdents64 and close, called through unmanaged function pointers with blittable
        // arguments: no marshalling stub (a delegate's was compiled at run time in every build process, issue 14).
        // errno is never read: a failure sends the folder through .NET, which reports it.
        private static readonly unsafe delegate* unmanaged<byte*, int, int> _open;
        private static readonly unsafe delegate* unmanaged<int, byte*, nint, nint> _getDents;
        private static readonly unsafe delegate* unmanaged<int, int> _close;
        private static readonly unsafe bool Loaded = Load(out _open, out _getDents, out _close);

        /// <summary>The folder's records (<c>struct linux_dirent64</c>), all of them, reused by the thread's next listing.</summary>
        [ThreadStatic] private static byte[]? _records;

        /// <summary>The entries of <paramref name="directory"/> as <see cref="List"/> gives them; null when this cannot tell.</summary>
        public static unsafe Listed[]? TryList(string directory)
        {
            if (!Loaded || !UnixFileStatus.IsAvailable) return null;
            var path = new byte[Encoding.UTF8.GetByteCount(directory) + 1];
            Encoding.UTF8.GetBytes(directory, path);
            int flags = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm or Architecture.Ppc64le ? ReadOnlyDirectoryArm : ReadOnlyDirectory;
            int fd;
            fixed (byte* name = path) fd = _open(name, flags);
            if (fd < 0) return null;
            try
            {
                var chunk = _chunk ??= new byte[1 << 15];
                var records = _records ??= new byte[1 << 15];
                int used = 0;
                nint read;
                while ((read = GetDents(fd, chunk)) > 0)
                {
                    if (records.Length - used < read) Array.Resize(ref records, Math.Max(records.Length * 2, used + (int)read));
                    Buffer.BlockCopy(chunk, 0, records, used, (int)read);
                    used += (int)read;
                }
                _records = records;
                return read < 0 ? null : Parse(directory, fd, records.AsSpan(0, used));
            }
            finally
            {
                CloseFolder(fd);
            }
        }

        /// <summary>
        /// <c>close</c>, out of the caller's <c>finally</c>: a native call inside an exception handler cannot be compiled
        /// ahead of time, and took <see cref="TryList"/> out of the ReadyToRun image with it (compiled at run time instead).
        /// </summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        private static unsafe void CloseFolder(int fd) => _close(fd);

        /// <summary>One <c>getdents64</c> call into <paramref name="chunk"/>: the bytes read, 0 at the end, negative on an error.</summary>
        private static unsafe nint GetDents(int fd, byte[] chunk)
        {
            fixed (byte* into = chunk) return _getDents(fd, into, chunk.Length);
        }

        /// <summary>A full name as it is decoded, reused by the thread's next one.</summary>
        [ThreadStatic] private static char[]? _chars;

        /// <summary>What one <c>getdents64</c> call fills, appended to <see cref="_records"/>.</summary>
        [ThreadStatic] private static byte[]? _chunk;

        private static Listed[]? Parse(string directory, int fd, ReadOnlySpan<byte> records)
        {
            // struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, then the NUL-terminated name.
            int count = 0;
            for (int at = 0; at < records.Length; at += Length(records, at))
                if (!IsDotOrDotDot(Name(records, at))) count++;
            var listed = new Listed[count];
            int added = 0;
            string prefix = Path.TrimEndingDirectorySeparator(directory);
            // The full name is decoded straight after the folder's path (Path.Join's result), with no string of the name
            // on the way: a context's 20,000 names were each a string, then another (issue 14).
            int start = prefix.Length + (prefix.EndsWith('/') ? 0 : 1);
            // Room for the longest name (NAME_MAX, 255 bytes, is at most 255 chars), so the folder's path is copied once.
            var chars = _chars is { } reused && reused.Length >= start + 256 ? reused : _chars = new char[Math.Max(1024, 2 * (start + 256))];
            prefix.CopyTo(chars);
            chars[start - 1] = '/';
            for (int at = 0; at < records.Length; at += Length(records, at))
            {
                var name = Name(records, at);
                if (IsDotOrDotDot(name)) continue;
                // One pass decodes and checks: a name that is not valid UTF-8 is LIV4062, from the listing through .NET.
                if (System.Text.Unicode.Utf8.ToUtf16(name, chars.AsSpan(start), out _, out int nameLength, replaceInvalidSequences: false)
                    != System.Buffers.OperationStatus.Done) return null;
                if (UnixFileStatus.TryReadAt(fd, name) is not { } status) return null;
                string fullName = new(chars, 0, start + nameLength);
                if (ListedOf(nameLength, fullName, status) is not { } entry) return null;
                listed[added++] = entry;
            }
            return listed;
        }

        /// <summary>A record's name, <c>d_name</c>, without its NUL.</summary>
        private static ReadOnlySpan<byte> Name(ReadOnlySpan<byte> records, int at)
        {
            var name = records.Slice(at + 19, Length(records, at) - 19);
            return name[..name.IndexOf((byte)0)];
        }

        private static bool IsDotOrDotDot(ReadOnlySpan<byte> name) => name is [(byte)'.'] or [(byte)'.', (byte)'.'];

        /// <summary>A record's length, <c>d_reclen</c> (native byte order).</summary>
        private static int Length(ReadOnlySpan<byte> records, int at) => MemoryMarshal.Read<ushort>(records[(at + 16)..]);

        private static unsafe bool Load(out delegate* unmanaged<byte*, int, int> open, out delegate* unmanaged<int, byte*, nint, nint> getDents,
            out delegate* unmanaged<int, int> close)
        {
            open = null;
            getDents = null;
            close = null;
            if (!OperatingSystem.IsLinux() || IntPtr.Size != 8) return false;
            try
            {
                var libc = NativeLibrary.GetMainProgramHandle();
                if (!NativeLibrary.TryGetExport(libc, "open", out var openAddress) || !NativeLibrary.TryGetExport(libc, "getdents64", out var getDentsAddress)
                    || !NativeLibrary.TryGetExport(libc, "close", out var closeAddress)) return false;
                open = (delegate* unmanaged<byte*, int, int>)openAddress;
                getDents = (delegate* unmanaged<int, byte*, nint, nint>)getDentsAddress;
                close = (delegate* unmanaged<int, int>)closeAddress;
                return true;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or NotSupportedException)
            {
                return false;
            }
        }
    }
}
