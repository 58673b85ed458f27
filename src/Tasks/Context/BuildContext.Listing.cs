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

        [UnmanagedFunctionPointer(CallingConvention.Cdecl, SetLastError = true)]
        private delegate int OpenFunction(byte[] path, int flags);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl, SetLastError = true)]
        private delegate nint GetDentsFunction(int fd, byte[] buffer, nint size);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate int CloseFunction(int fd);

        private static readonly (OpenFunction Open, GetDentsFunction GetDents, CloseFunction Close)? Native = Load();

        /// <summary>The folder's records (<c>struct linux_dirent64</c>), all of them, reused by the thread's next listing.</summary>
        [ThreadStatic] private static byte[]? _records;

        /// <summary>The entries of <paramref name="directory"/> as <see cref="List"/> gives them; null when this cannot tell.</summary>
        public static Listed[]? TryList(string directory)
        {
            if (Native is not var (open, getDents, close) || !UnixFileStatus.IsAvailable) return null;
            var path = new byte[Encoding.UTF8.GetByteCount(directory) + 1];
            Encoding.UTF8.GetBytes(directory, path);
            int flags = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm or Architecture.Ppc64le ? ReadOnlyDirectoryArm : ReadOnlyDirectory;
            int fd = open(path, flags);
            if (fd < 0) return null;
            try
            {
                var chunk = _chunk ??= new byte[1 << 15];
                var records = _records ??= new byte[1 << 15];
                int used = 0;
                nint read;
                while ((read = getDents(fd, chunk, chunk.Length)) > 0)
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
                close(fd);
            }
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

        private static (OpenFunction, GetDentsFunction, CloseFunction)? Load()
        {
            if (!OperatingSystem.IsLinux() || IntPtr.Size != 8) return null;
            try
            {
                var libc = NativeLibrary.GetMainProgramHandle();
                return NativeLibrary.TryGetExport(libc, "open", out var open) && NativeLibrary.TryGetExport(libc, "getdents64", out var getDents)
                    && NativeLibrary.TryGetExport(libc, "close", out var close)
                    ? (Marshal.GetDelegateForFunctionPointer<OpenFunction>(open), Marshal.GetDelegateForFunctionPointer<GetDentsFunction>(getDents),
                        Marshal.GetDelegateForFunctionPointer<CloseFunction>(close))
                    : null;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or NotSupportedException)
            {
                return null;
            }
        }
    }
}
