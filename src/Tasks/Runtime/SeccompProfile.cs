using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace Livrable.Runtime;

/// <summary>
/// The seccomp filter of every RUN (<c>linux.seccomp</c>, https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#seccomp):
/// an allow-list modelled on Docker's default profile (moby <c>profiles/seccomp/default.json</c>), reduced to the
/// capabilities a RUN has (<see cref="RuntimeSpec.DefaultCapabilities"/>: no CAP_SYS_ADMIN, so no mount, unshare, setns,
/// bpf, keyctl...). Anything not listed fails with EPERM, as in Docker; <c>clone3</c> fails with ENOSYS so that glibc
/// falls back to <c>clone</c>, whose namespace flags are refused. What builds run (apt-get, pip, dotnet, compilers)
/// uses none of what is left out. The lists are data: a name the kernel or libseccomp does not know is skipped by runc.
/// </summary>
internal static class SeccompProfile
{
    /// <summary>System calls allowed whatever their arguments, on every architecture.</summary>
    public static readonly IReadOnlyList<string> Allowed =
    [
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir", "chmod", "chown",
        "chown32", "chroot", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
        "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
        "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old",
        "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
        "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64",
        "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
        "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
        "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid",
        "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
        "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid",
        "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch",
        "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
        "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kcmp", "kill", "landlock_add_rule",
        "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr",
        "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier",
        "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2",
        "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
        "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
        "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_getfd", "pidfd_open",
        "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
        "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "process_vm_readv", "process_vm_writev", "pselect6",
        "pselect6_time64", "ptrace", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv",
        "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2",
        "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
        "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
        "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
        "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
        "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
        "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
        "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
        "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
        "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
        "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
        "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
        "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
        "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink",
        "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
    ];

    /// <summary>System calls allowed on one architecture family only.</summary>
    private static readonly IReadOnlyDictionary<Architecture, string[]> AllowedByArchitecture = new Dictionary<Architecture, string[]>
    {
        [Architecture.X64] = ["arch_prctl", "modify_ldt"],
        [Architecture.X86] = ["arch_prctl", "modify_ldt"],
        [Architecture.Arm64] = ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"],
        [Architecture.Arm] = ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"],
        [Architecture.S390x] = ["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"],
    };

    /// <summary>The seccomp architectures of a host: its own and the 32-bit ones it runs, as Docker's profile lists them.</summary>
    private static string[] Architectures(Architecture host) => host switch
    {
        Architecture.X64 => ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        Architecture.X86 => ["SCMP_ARCH_X86"],
        Architecture.Arm64 => ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        Architecture.Arm => ["SCMP_ARCH_ARM"],
        Architecture.S390x => ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
        Architecture.Ppc64le => ["SCMP_ARCH_PPC64LE"],
        _ => [],
    };

    /// <summary>The personalities a program may ask for (Linux, PER_LINUX32, UNAME26, both, and the query), as Docker allows.</summary>
    private static readonly long[] Personalities = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

    /// <summary>The <c>clone</c> flags that make namespaces (CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET): refused without CAP_SYS_ADMIN.</summary>
    private const long NamespaceFlags = 0x7E020000;

    private const int EPERM = 1;
    private const int ENOSYS = 38;

    /// <summary>The <c>linux.seccomp</c> object for <paramref name="host"/>.</summary>
    public static JsonObject Create(Architecture host)
    {
        var allowed = Allowed.Concat(AllowedByArchitecture.TryGetValue(host, out var extra) ? extra : []).ToArray();
        var syscalls = new JsonArray(Rule(allowed, "SCMP_ACT_ALLOW"));
        foreach (long persona in Personalities)
            syscalls.Add(Rule(["personality"], "SCMP_ACT_ALLOW", Argument(0, persona, 0, "SCMP_CMP_EQ")));
        // s390 passes the flags second.
        int flagsIndex = host == Architecture.S390x ? 1 : 0;
        syscalls.Add(Rule(["clone"], "SCMP_ACT_ALLOW", Argument(flagsIndex, NamespaceFlags, 0, "SCMP_CMP_MASKED_EQ")));
        var clone3 = Rule(["clone3"], "SCMP_ACT_ERRNO");
        clone3["errnoRet"] = ENOSYS;
        syscalls.Add(clone3);
        // AF_VSOCK (40) reaches the host's hypervisor sockets; every other family is allowed.
        syscalls.Add(Rule(["socket"], "SCMP_ACT_ALLOW", Argument(0, 40, 0, "SCMP_CMP_NE")));
        return new JsonObject
        {
            ["defaultAction"] = "SCMP_ACT_ERRNO",
            ["defaultErrnoRet"] = EPERM,
            ["architectures"] = new JsonArray(Architectures(host).Select(a => (JsonNode)JsonValue.Create(a)!).ToArray()),
            ["syscalls"] = syscalls,
        };
    }

    private static JsonObject Rule(string[] names, string action, JsonObject? argument = null)
    {
        var rule = new JsonObject
        {
            ["names"] = new JsonArray(names.Select(n => (JsonNode)JsonValue.Create(n)!).ToArray()),
            ["action"] = action,
        };
        if (argument is not null) rule["args"] = new JsonArray(argument);
        return rule;
    }

    private static JsonObject Argument(int index, long value, long valueTwo, string op)
        => new() { ["index"] = index, ["value"] = value, ["valueTwo"] = valueTwo, ["op"] = op };
}
