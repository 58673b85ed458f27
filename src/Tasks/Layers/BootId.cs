namespace Livrable.Layers;

/// <summary>
/// The running kernel's boot id (Linux: <c>/proc/sys/kernel/random/boot_id</c>, a random UUID drawn at each boot), so a
/// record of a file this build wrote without <c>fsync</c> is trusted only within the boot that wrote it.
/// </summary>
/// <remarks>
/// Bytes written and not flushed to disk sit in the page cache, which every process of the machine reads: a process
/// killed at any point, its own or another's, loses none of them. Only the kernel stopping (a kernel crash, a power loss,
/// a hard reset) loses them, and the machine then boots again, with a new boot id. So a record that names the boot id
/// (<see cref="UnixFileStatus.IdentityOf"/>) never vouches for bytes a crash may have lost: after a reboot the file is
/// written (a tarball) or hashed (a step cache layer) again, once. Where the boot id cannot be read (Windows, macOS, a
/// Linux without <c>/proc</c>) this is null, no status record is trusted, and a tarball is flushed to disk before its
/// record is kept (<c>Outputs/ArchiveOutput</c>).
/// </remarks>
internal static class BootId
{
    private const string LinuxPath = "/proc/sys/kernel/random/boot_id";

    private static readonly Lazy<string?> Kernel = new(Read);
    private static readonly AsyncLocal<Func<string?>?> Override = new();

    /// <summary>The boot id (a lowercase UUID), or null where the system does not tell it.</summary>
    public static string? Current => Override.Value is { } source ? source() : Kernel.Value;

    /// <summary>
    /// The line a state file written without <c>fsync</c> records (<c>boot=&lt;id&gt;</c>), or null where no boot id
    /// is told: such a file is then never trusted (<see cref="Vouches"/>).
    /// </summary>
    public static string? Stamp => Current is { } id ? "boot=" + id : null;

    /// <summary>Whether <paramref name="recorded"/>, the <see cref="Stamp"/> a file was written with, is this boot's.</summary>
    public static bool Vouches(string? recorded) => recorded is not null && Stamp is { } stamp && recorded == stamp;

    /// <summary>
    /// Makes <see cref="Current"/> answer from <paramref name="source"/> in this asynchronous flow until disposed (tests:
    /// a record from another boot, a system that tells none), without touching the other builds of the process.
    /// </summary>
    internal static IDisposable Use(Func<string?> source)
    {
        var previous = Override.Value;
        Override.Value = source;
        return new Restore(previous);
    }

    private sealed class Restore(Func<string?>? previous) : IDisposable
    {
        public void Dispose() => Override.Value = previous;
    }

    private static string? Read()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            string id = File.ReadAllText(LinuxPath).Trim();
            // A UUID: 36 characters of hex digits and dashes. Anything else (an empty file of a sandbox) names no boot.
            return id.Length == 36 && id.All(c => c == '-' || char.IsAsciiHexDigit(c)) ? id.ToLowerInvariant() : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
