using System.Runtime.InteropServices;
using System.Text;

namespace Livrable.Context;

/// <summary>
/// Names in a folder whose bytes are not valid UTF-8. .NET decodes every name with replacement characters, so such a
/// file cannot be opened by the name it gets (a <c>FileNotFoundException</c>); BuildKit (Go) carries the raw bytes.
/// Livrable refuses them (LIV4062), naming the bytes as Go's <c>%q</c> would, read here with <c>readdir</c>.
/// </summary>
internal static class RawNames
{
    /// <summary>Whether the enumerated <paramref name="info"/> stands for a name .NET could not decode (it does not exist under its decoded name).</summary>
    public static bool IsUndecodable(FileSystemInfo info)
        => info.Name.Contains('\uFFFD', StringComparison.Ordinal) && !Path.Exists(info.FullName) && info.LinkTarget is null;

    /// <summary>The names of <paramref name="directory"/> that are not valid UTF-8, escaped (<c>"caf\xe9.txt"</c>); empty when unknown.</summary>
    public static IReadOnlyList<string> Undecodable(string directory)
    {
        var names = new List<string>();
        if (!OperatingSystem.IsLinux() || IntPtr.Size != 8) return names;
        IntPtr dir;
        try
        {
            dir = OpenDir(directory);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return names;
        }
        if (dir == IntPtr.Zero) return names;
        try
        {
            var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
            IntPtr entry;
            while ((entry = ReadDir(dir)) != IntPtr.Zero)
            {
                // struct dirent on 64-bit Linux (glibc and musl): d_ino 8, d_off 8, d_reclen 2, d_type 1, then d_name.
                IntPtr name = entry + 19;
                int length = 0;
                while (Marshal.ReadByte(name, length) != 0) length++;
                var bytes = new byte[length];
                Marshal.Copy(name, bytes, 0, length);
                try
                {
                    strict.GetString(bytes);
                }
                catch (DecoderFallbackException)
                {
                    names.Add(Escape(bytes));
                }
            }
        }
        finally
        {
            CloseDir(dir);
        }
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>The bytes as a Go-quoted string: printable ASCII as is, <c>\"</c> and <c>\\</c>, anything else <c>\xNN</c>.</summary>
    public static string Escape(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder("\"");
        foreach (byte b in bytes)
        {
            if (b is (byte)'"' or (byte)'\\') text.Append('\\').Append((char)b);
            else if (b is >= 0x20 and < 0x7F) text.Append((char)b);
            else text.Append("\\x").Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
        }
        return text.Append('"').ToString();
    }

    [DllImport("libc", EntryPoint = "opendir", SetLastError = true)]
    private static extern IntPtr OpenDir([MarshalAs(UnmanagedType.LPUTF8Str)] string path);

    [DllImport("libc", EntryPoint = "readdir", SetLastError = true)]
    private static extern IntPtr ReadDir(IntPtr dir);

    [DllImport("libc", EntryPoint = "closedir")]
    private static extern int CloseDir(IntPtr dir);
}
