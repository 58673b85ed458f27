using System.Globalization;
using System.Runtime.InteropServices;
using Livrable.Images;

namespace Livrable.Runtime;

/// <summary>
/// Whether this machine can execute a platform's programs, which RUN needs: the host's own CPU, or one the kernel
/// hands to an emulator through binfmt_misc (https://docs.kernel.org/admin-guide/binfmt-misc.html), as
/// <c>qemu-user-static</c> or <c>tonistiigi/binfmt</c> register. A RUN-free build never asks.
/// </summary>
public static class PlatformExecution
{
    /// <summary>Where the kernel lists binfmt_misc handlers.</summary>
    public const string BinfmtDirectory = "/proc/sys/fs/binfmt_misc";

    /// <summary>
    /// Whether programs of <paramref name="platform"/> run here: Linux, and the host's architecture or an enabled
    /// binfmt_misc handler whose magic is an ELF header for that architecture. <paramref name="binfmtDirectory"/> and
    /// <paramref name="hostArchitecture"/> (an OCI architecture, such as amd64) are for tests.
    /// </summary>
    public static bool CanExecute(Platform platform, string binfmtDirectory = BinfmtDirectory, string? hostArchitecture = null)
    {
        ArgumentNullException.ThrowIfNull(platform);
        if (platform.Os != "linux") return false;
        string host = hostArchitecture ?? HostArchitecture();
        if (platform.Architecture == host) return true;
        // x86-64 CPUs run i386 programs natively.
        if (host == "amd64" && platform.Architecture == "386") return true;
        return ElfMachine(platform.Architecture) is { } machine && HandledMachines(binfmtDirectory).Contains(machine);
    }

    /// <summary>The OCI architecture of this machine (amd64, arm64...).</summary>
    public static string HostArchitecture() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "amd64",
        Architecture.Arm64 => "arm64",
        Architecture.Arm or Architecture.Armv6 => "arm",
        Architecture.X86 => "386",
        Architecture.S390x => "s390x",
        Architecture.Ppc64le => "ppc64le",
        Architecture.LoongArch64 => "loong64",
        var other => other.ToString().ToLowerInvariant(),
    };

    /// <summary>The ELF <c>e_machine</c> of an OCI architecture (https://refspecs.linuxfoundation.org/elf/gabi4+/ch4.eheader.html).</summary>
    internal static int? ElfMachine(string architecture) => architecture switch
    {
        "386" => 0x03,
        "amd64" => 0x3e,
        "arm" => 0x28,
        "arm64" => 0xb7,
        "ppc64le" => 0x15,
        "s390x" => 0x16,
        "riscv64" => 0xf3,
        "loong64" => 0x102,
        "mips64le" => 0x08,
        _ => null,
    };

    /// <summary>
    /// The ELF machines the enabled handlers of <paramref name="directory"/> serve, read from each handler's
    /// <c>magic</c> line (an ELF header's first 20 bytes in hex: <c>e_machine</c> is bytes 18-19, in the byte order
    /// byte 5 gives). A missing or unreadable folder (binfmt_misc not mounted) serves none.
    /// </summary>
    internal static HashSet<int> HandledMachines(string directory)
    {
        var machines = new HashSet<int>();
        string[] entries;
        try
        {
            if (File.Exists(Path.Combine(directory, "status")) && File.ReadAllText(Path.Combine(directory, "status")).Trim() == "disabled") return machines;
            entries = Directory.GetFiles(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return machines;
        }
        foreach (string entry in entries)
        {
            string name = Path.GetFileName(entry);
            if (name is "register" or "status") continue;
            string[] lines;
            try
            {
                lines = File.ReadAllLines(entry);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (lines.Length == 0 || lines[0].Trim() != "enabled") continue;
            string? magic = lines.Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("magic ", StringComparison.Ordinal))?[6..].Trim();
            if (magic is null || magic.Length < 40 || !magic.StartsWith("7f454c46", StringComparison.OrdinalIgnoreCase)) continue;
            if (!int.TryParse(magic.AsSpan(36, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int b18)
                || !int.TryParse(magic.AsSpan(38, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int b19)
                || !int.TryParse(magic.AsSpan(10, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int data)) continue;
            machines.Add(data == 2 ? b18 << 8 | b19 : b19 << 8 | b18);
        }
        return machines;
    }
}
