using System.Globalization;
using System.Text;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Runtime;
using Livrable.Store;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// The mounts of a RUN as the runtime gets them (<see cref="RunMountSpec"/> is the parsed option): secrets, cache
/// folders of the state folder, tmpfs, and binds of the build context, an earlier stage or an image.
/// </summary>
internal static class RunMounts
{
    /// <summary>
    /// A secret mount: the value (read only now) in a file of the step's folder, bound read-only at the target with
    /// the mount's mode and owner, and/or in the process's environment (<c>env=</c>). Never in the layer (the target
    /// is a mount), the history (only the arguments and ARGs are) or the log. A missing secret is skipped unless
    /// <c>required</c> (LIV5018), as BuildKit does.
    /// </summary>
    public static RunMount? Secret(StepContext step, RunMountSpec spec, string secrets, List<string> environment)
    {
        byte[]? value = step.Services.Secrets.TryGetValue(spec.Id!, out var source) ? source.Read() : null;
        if (value is null)
        {
            if (spec.Required)
                throw new LivrableException(DiagnosticCodes.SecretNotFound,
                    $"secret {spec.Id} not found: give it with a ContainerSecret item (Include=\"{spec.Id}\" with Env or File).", step.Span);
            return null;
        }
        if (spec.Env is { } name) environment.Add(name + "=" + Encoding.UTF8.GetString(value));
        if (spec.Target.Length == 0) return null;
        Directory.CreateDirectory(secrets);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(secrets, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string file = Path.Combine(secrets, Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(file, value);
        if (!OperatingSystem.IsWindows())
        {
            Interop.Native.LinkChangeOwner(file, (uint)spec.Uid, (uint)spec.Gid);
            File.SetUnixFileMode(file, (UnixFileMode)(spec.Mode & 0xFFF));
        }
        return new RunMount(RunMountType.Bind, spec.Target) { HostPath = file, ReadOnly = true };
    }

    /// <summary>
    /// A cache mount: a folder of the state folder per id (<c>cache/&lt;sha256 of the id&gt;</c>), kept across builds,
    /// created with the mount's mode and owner. <c>sharing=locked</c> waits for other users; <c>private</c> takes
    /// the first instance no one holds (<c>-1</c>, <c>-2</c>... when busy); <c>shared</c> takes it as it is. A
    /// writable mount forgets the instance's recorded size first (<see cref="StatePruner.ForgetCacheMountSize"/>).
    /// </summary>
    public static async Task<RunMount> CacheAsync(StepContext step, RunMountSpec spec, List<IDisposable> locks, CancellationToken cancellationToken)
    {
        string hex = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(spec.Id!))).ToLowerInvariant();
        string root = StateLayout.CacheMounts(step.Services.StateDirectory);
        Directory.CreateDirectory(root);
        string directory = Path.Combine(root, hex);
        if (spec.Sharing == "locked")
        {
            locks.Add(await Runtime.LayerRootfs.LockAsync(directory + ".lock", cancellationToken).ConfigureAwait(false));
        }
        else if (spec.Sharing == "private")
        {
            for (int n = 0; ; n++)
            {
                string candidate = n == 0 ? directory : $"{directory}-{n}";
                try
                {
                    locks.Add(new FileStream(candidate + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
                    directory = candidate;
                    break;
                }
                catch (IOException) when (n < 64)
                {
                    // Held by another RUN: the next instance.
                }
            }
        }
        // Before the RUN can write into the folder (the locks above serialize only locked and private users: shared
        // ones forget it too, each before its own RUN), its recorded size goes, so the next size check walks it; a
        // read-only mount writes nothing and keeps it, unless the folder is new (a record outlived its folder: an
        // older Livrable's eviction, a hand removal).
        if (!spec.ReadOnly || !Directory.Exists(directory)) StatePruner.ForgetCacheMountSize(directory);
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory);
            if (!OperatingSystem.IsWindows())
            {
                Interop.Native.LinkChangeOwner(directory, (uint)spec.Uid, (uint)spec.Gid);
                File.SetUnixFileMode(directory, (UnixFileMode)(spec.Mode & 0xFFF));
            }
        }
        string host = spec.Source is null ? directory : ScopedPath.Resolve(directory, spec.Source);
        Directory.CreateDirectory(host);
        return new RunMount(RunMountType.Bind, spec.Target) { HostPath = host, ReadOnly = spec.ReadOnly, KeepWrites = true };
    }

    /// <summary>A mount of the RUN: tmpfs, or a bind of the build context, an earlier stage, or an image.</summary>
    public static async Task<RunMount> MountAsync(StepContext step, RunMountSpec spec, CancellationToken cancellationToken)
    {
        if (spec.Type == "tmpfs") return new RunMount(RunMountType.Tmpfs, spec.Target) { Size = spec.Size };
        string source = spec.Source ?? "/";
        if (spec.From is { } from)
        {
            var state = await step.Services.CopySourceAsync(from, step.StageIndex, step.Span, cancellationToken).ConfigureAwait(false);
            return new RunMount(RunMountType.Bind, spec.Target) { Layers = [.. state.Layers], SubPath = source, ReadOnly = spec.ReadOnly };
        }
        var context = step.Services.Context(step.Span);
        string root = Path.GetFullPath(context.Root);
        string host = ScopedPath.Resolve(root, source);
        if (Layers.UnixFileStatus.TryRead(host) is null)
            throw new LivrableException(DiagnosticCodes.RunMountSourceNotFound,
                $"failed to compute cache key: \"{source}\" not found in the build context (RUN --mount source).", step.Span);
        return new RunMount(RunMountType.Bind, spec.Target) { HostPath = host, ReadOnly = spec.ReadOnly };
    }}
