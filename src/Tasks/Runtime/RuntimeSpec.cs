using System.Text.Json.Nodes;

namespace Livrable.Runtime;

/// <summary>
/// The OCI runtime configuration (<c>config.json</c>, https://github.com/opencontainers/runtime-spec/blob/main/config.md)
/// of a RUN, modelled on what <c>runc spec</c> writes and what BuildKit's runc executor adds
/// (<c>executor/oci/spec.go</c>): pid, ipc, uts and mount namespaces; the host's network namespace unless the RUN asks
/// for none; <c>/proc</c>, a tmpfs <c>/dev</c> with runc's default device nodes, <c>/dev/pts</c>, <c>/dev/shm</c>,
/// <c>/dev/mqueue</c>, a read-only <c>/sys</c>; <c>/tmp</c> is the root filesystem's own, as in BuildKit; Docker's default
/// capabilities; <c>noNewPrivileges</c> off, as Docker and BuildKit leave it, so setuid programs (su, sudo, ping)
/// work as they will in the image; Docker's default seccomp allow-list (<see cref="SeccompProfile"/>).
/// </summary>
internal static class RuntimeSpec
{
    /// <summary>Docker's default capability set (moby <c>oci/caps/defaults.go</c>).</summary>
    public static readonly IReadOnlyList<string> DefaultCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    /// <summary>The paths <c>runc spec</c> masks and makes read-only.</summary>
    private static readonly string[] MaskedPaths =
    [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
    ];

    private static readonly string[] ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    /// <summary>
    /// The configuration; <paramref name="mounts"/> are the bind and tmpfs mounts after the standard ones. A
    /// <paramref name="rootless"/> runtime runs in a user namespace that does not own the network namespace, where sysfs
    /// cannot be mounted: <c>/sys</c> is the host's, bound read-only, as <c>runc spec --rootless</c> writes it.
    /// </summary>
    public static JsonObject Create(RunRequest request, string rootfs, IEnumerable<JsonObject> mounts, bool rootless = false)
    {
        var namespaces = new JsonArray(Ns("pid"), Ns("ipc"), Ns("uts"), Ns("mount"));
        if (request.Network == RunNetwork.None) namespaces.Add(Ns("network"));
        var allMounts = new JsonArray(
            Mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
            Mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Mount("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
            Mount("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            Mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
            rootless
                ? Mount("/sys", "none", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"])
                : Mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]));
        foreach (var m in mounts) allMounts.Add(m);
        return new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = new JsonObject
            {
                ["terminal"] = false,
                ["user"] = new JsonObject
                {
                    ["uid"] = request.Uid,
                    ["gid"] = request.Gid,
                    ["additionalGids"] = new JsonArray(request.AdditionalGids.Select(g => (JsonNode)g).ToArray()),
                },
                ["args"] = Strings(request.Arguments),
                ["env"] = Strings(request.Environment),
                ["cwd"] = request.WorkingDirectory,
                ["capabilities"] = new JsonObject
                {
                    ["bounding"] = Strings(DefaultCapabilities),
                    ["effective"] = Strings(DefaultCapabilities),
                    ["permitted"] = Strings(DefaultCapabilities),
                },
                ["rlimits"] = new JsonArray(new JsonObject { ["type"] = "RLIMIT_NOFILE", ["hard"] = OpenFilesLimit(), ["soft"] = OpenFilesLimit() }),
                ["noNewPrivileges"] = false,
            },
            ["root"] = new JsonObject { ["path"] = rootfs, ["readonly"] = false },
            ["hostname"] = request.Hostname,
            ["mounts"] = allMounts,
            ["linux"] = new JsonObject
            {
                ["namespaces"] = namespaces,
                ["maskedPaths"] = Strings(MaskedPaths),
                ["readonlyPaths"] = Strings(ReadonlyPaths),
                ["seccomp"] = SeccompProfile.Create(System.Runtime.InteropServices.RuntimeInformation.OSArchitecture),
            },
        };
    }

    /// <summary>
    /// BuildKit's 1048576 open files, lowered to this process's hard limit (<c>/proc/self/limits</c>) when that is less:
    /// runc cannot raise it (a build inside a container often has less).
    /// </summary>
    internal static long OpenFilesLimit()
    {
        const long wanted = 1048576;
        try
        {
            foreach (string line in File.ReadLines("/proc/self/limits"))
            {
                if (!line.StartsWith("Max open files", StringComparison.Ordinal)) continue;
                var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length >= 2 && long.TryParse(fields[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long hard))
                    return Math.Min(wanted, hard);
            }
        }
        catch (IOException)
        {
            // Not Linux's /proc: keep BuildKit's value.
        }
        return wanted;
    }

    /// <summary>A bind mount of a host path; read-only when asked.</summary>
    public static JsonObject Bind(string destination, string source, bool readOnly)
        => Mount(destination, "bind", source, readOnly ? ["rbind", "ro", "nosuid", "nodev"] : ["rbind", "rw", "nosuid", "nodev"]);

    /// <summary>A tmpfs, of <paramref name="size"/> bytes when given.</summary>
    public static JsonObject Tmpfs(string destination, long? size)
        => Mount(destination, "tmpfs", "tmpfs", size is { } s ? ["nosuid", "nodev", "mode=1777", $"size={s}"] : ["nosuid", "nodev", "mode=1777"]);

    private static JsonObject Mount(string destination, string type, string source, string[] options)
        => new() { ["destination"] = destination, ["type"] = type, ["source"] = source, ["options"] = Strings(options) };

    private static JsonObject Ns(string type) => new() { ["type"] = type };

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode)JsonValue.Create(v)!).ToArray());
}
