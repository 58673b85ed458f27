using System.Diagnostics;
using System.Text.RegularExpressions;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Layers;
using Livrable.Interop;

namespace Livrable.Runtime;

/// <summary>What a RUN left: its exit code, its last lines of output and, when it succeeded, the layer's entries.</summary>
/// <remarks>The entries read their bytes from the step's folder: dispose only after the layer is written.</remarks>
public sealed class RunResult : IDisposable
{
    private readonly string? _stepDirectory;
    private readonly UserNamespace? _userNamespace;

    internal RunResult(int exitCode, IReadOnlyList<string> lastLines, IReadOnlyList<FileEntry> entries, string? stepDirectory, UserNamespace? userNamespace = null,
        string? upperDirectory = null)
    {
        ExitCode = exitCode;
        LastLines = lastLines;
        Entries = entries;
        _stepDirectory = stepDirectory;
        _userNamespace = userNamespace;
        UpperDirectory = upperDirectory;
    }

    /// <summary>
    /// The overlay upper folder <see cref="Entries"/> were read from and open their files in (rootless: once root of the
    /// namespace gave it to the build's user), when overlay was used (not the copy fallback): once the layer is written it may become the
    /// next RUN's lower folder (<see cref="UpperFolderAdoption"/>). Null otherwise.
    /// </summary>
    public string? UpperDirectory { get; }

    public int ExitCode { get; }

    /// <summary>The last <see cref="ContainerRun.KeptLines"/> lines the command wrote.</summary>
    public IReadOnlyList<string> LastLines { get; }

    /// <summary>The layer: new and changed files, whiteouts, opaque markers; sorted.</summary>
    public IReadOnlyList<FileEntry> Entries { get; }

    public void Dispose()
    {
        if (_stepDirectory is not null) ContainerRun.DeleteStepDirectory(_stepDirectory, _userNamespace);
    }
}

/// <summary>
/// Runs one <see cref="RunRequest"/> through an OCI runtime (runc), as buildah and BuildKit's runc executor do: the
/// layers extracted once (<see cref="LayerRootfs"/>), an overlay mounted over them for the step, a bundle written
/// (<see cref="RuntimeSpec"/>), <c>runc run</c>, and the overlay's upper folder read back as the layer
/// (<see cref="UpperDiff"/>). Mounts are always undone and the container always deleted, on failure and on
/// cancellation too (<c>runc kill</c>, then <c>runc delete --force</c>).
/// </summary>
public sealed class ContainerRun
{
    /// <summary>How many of the last output lines a result (and a failure message) keeps.</summary>
    public const int KeptLines = 20;

    /// <summary>
    /// Files the runtime provides by bind mounts; never part of a layer (BuildKit leaves them out too). Only these two,
    /// as BuildKit's executor (<c>executor/oci</c>: hosts and resolv.conf): <c>/etc/hostname</c> is the image's own file,
    /// writable, and a change to it is in the layer.
    /// </summary>
    private static readonly string[] ProvidedFiles = ["/etc/hosts", "/etc/resolv.conf"];

    /// <summary>Mount points the runtime creates in the root filesystem when they are missing.</summary>
    private static readonly string[] StandardMountPoints = ["/proc", "/dev", "/sys"];

    private readonly string _stateDirectory;
    private readonly ILogger _logger;
    private LayerRootfs _layers;

    /// <summary>The user namespace of a rootless run (the build is not root); null when the build is root.</summary>
    private UserNamespace? _userNamespace;

    /// <summary>Rootless: the overlays the namespace's shell mounts before it runs the runtime (options, target).</summary>
    private readonly List<(string Options, string Target)> _pendingOverlays = [];

    /// <summary>Use the copy fallback (<see cref="CopyRoot"/>) even where overlay works: tests.</summary>
    internal bool ForceCopy { get; init; }

    /// <summary>Runs in the state folder <paramref name="stateDirectory"/> (extracted layers live in <c>rootfs/</c>, steps in <c>run/</c>).</summary>
    public ContainerRun(string stateDirectory, ILogger logger)
    {
        _stateDirectory = Path.GetFullPath(stateDirectory);
        _logger = logger;
        _layers = new LayerRootfs(_stateDirectory, logger);
    }

    /// <summary>
    /// Runs the request. Throws LIV5003 (not Linux, not root), LIV5004 (no runtime), LIV5030 (an upstream runc without the
    /// 2025 fixes, <see cref="RuntimeVersion"/>), LIV5010 (a working directory under <c>/proc/*/fd</c>, as written or
    /// through the image's links), LIV5006/5007 (a layer that cannot be extracted safely), LIV5008 (overlay), LIV5005 (the
    /// runtime could not be started); a command that fails is a result with its exit code, not an exception.
    /// </summary>
    public async Task<RunResult> RunAsync(RunRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!OperatingSystem.IsLinux())
            throw new LivrableException(DiagnosticCodes.RunUnsupportedHost,
                "RUN needs Linux: Livrable runs it with an OCI runtime (runc) over an overlay file system. Build on Linux (or in WSL 2, or a Linux container).");
        _userNamespace = UserNamespace.ForBuild();
        if (_userNamespace is not null)
        {
            _layers = new LayerRootfs(_stateDirectory, _logger, _userNamespace);
            CheckIdsExist(request, _userNamespace);
        }
        CheckWorkingDirectory(request.WorkingDirectory);
        string runtime = FindRuntime(request.RuntimePath);
        RuntimeVersion.Check(runtime, _logger, _stateDirectory);

        // The phases' times, in the detailed log (issue 14): where a RUN step's time goes.
        long phase = Stopwatch.GetTimestamp();
        var lowers = new List<string>();
        foreach (var layer in request.Layers)
            lowers.Add(await _layers.EnsureAsync(layer, cancellationToken).ConfigureAwait(false));
        _logger.Detail($"{request.DetailPrefix}layers: {request.Layers.Count} extracted or already there {Units.Since(phase)}");
        lowers.Reverse();
        if (lowers.Count == 0) lowers.Add(_layers.EmptyDirectory);

        bool ownsStep = request.StepDirectory is null;
        string step = Path.GetFullPath(request.StepDirectory ?? Path.Combine(Store.StateLayout.Run(_stateDirectory), Guid.NewGuid().ToString("N")[..16]));
        string upper = Path.Combine(step, "upper");
        string rootfs = Path.Combine(step, "rootfs");
        string bundle = Path.Combine(step, "bundle");
        var mounts = new List<OverlayMount>();
        var stubs = new HashSet<string>(StringComparer.Ordinal);
        Dictionary<string, CopyRoot.Snapshot>? before = null;
        int exitCode;
        var lastLines = new Queue<string>();
        try
        {
            phase = Stopwatch.GetTimestamp();
            Directory.CreateDirectory(bundle);
            bool copied = Overlay(lowers, upper, Path.Combine(step, "work"), rootfs, mounts);

            // Mount points that do not exist yet are created by the runtime in the root filesystem; they are left out of
            // the layer unless the command puts something in them (BuildKit's mount stub cleaner does the same).
            // Rootless, the merged view exists only in the namespace: the layers' folders are asked instead.
            var targets = StandardMountPoints.Concat(ProvidedFiles).Concat(request.Mounts.Select(m => m.Target));
            foreach (string target in targets) AddStubs(_userNamespace is null ? [rootfs] : lowers, target, stubs);
            if (copied) before = CopyRoot.Walk(rootfs);
            // The lexical check saw the WORKDIR as written; a link the layers hold leads there too (WORKDIR /fdl/7, then
            // RUN ln -s /proc/self/fd /fdl over it): resolved as the runtime will, in the root, before anything is created.
            foreach (string root in _userNamespace is null ? [rootfs] : lowers)
                CheckWorkingDirectory(InRoot(root, request.WorkingDirectory), shown: request.WorkingDirectory);
            // Rootless, the runtime makes the working directory (runc creates a missing cwd inside the root).
            if (request.WorkingDirectory != "/" && _userNamespace is null)
                ScopedPath.CreateDirectory(rootfs, request.WorkingDirectory, DiagnosticCodes.RuntimeFailed);

            var specMounts = new List<System.Text.Json.Nodes.JsonObject>
            {
                RuntimeSpec.Bind("/etc/hosts", WriteFile(step, "hosts", $"127.0.0.1\tlocalhost {request.Hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"), readOnly: true),
                RuntimeSpec.Bind("/etc/resolv.conf", WriteFile(step, "resolv.conf", ResolvConf(request.Network)), readOnly: true),
            };
            int index = 0;
            foreach (var mount in request.Mounts)
            {
                index++;
                specMounts.Add(await PrepareMountAsync(mount, step, index, mounts, cancellationToken).ConfigureAwait(false));
            }
            var spec = RuntimeSpec.Create(request, rootfs, specMounts, rootless: _userNamespace is not null);
            await File.WriteAllTextAsync(Path.Combine(bundle, "config.json"), spec.ToJsonString(), cancellationToken).ConfigureAwait(false);
            _logger.Detail($"{request.DetailPrefix}overlay: root file system, {request.Mounts.Count} mounts and bundle {Units.Since(phase)}");

            phase = Stopwatch.GetTimestamp();
            exitCode = await RunRuntimeAsync(runtime, bundle, step, line =>
            {
                lock (lastLines)
                {
                    lastLines.Enqueue(line);
                    if (lastLines.Count > KeptLines) lastLines.Dequeue();
                }
                request.Output?.Invoke(line);
            }, cancellationToken).ConfigureAwait(false);
            _logger.Detail($"{request.DetailPrefix}runtime: start to exit (code {exitCode}) {Units.Since(phase)}");
        }
        catch
        {
            Undo(mounts);
            DeleteBundle(bundle);
            if (ownsStep) DeleteStepDirectory(step, _userNamespace);
            throw;
        }
        Undo(mounts);
        DeleteBundle(bundle);
        try
        {
            phase = Stopwatch.GetTimestamp();
            var provided = new HashSet<string>(ProvidedFiles, StringComparer.Ordinal);
            var entries = exitCode != 0 ? []
                : _userNamespace is not null ? await UpperDiff.ReadGivenAsync(upper, provided, stubs, _logger, _userNamespace, cancellationToken, request.DetailPrefix).ConfigureAwait(false)
                : before is null ? UpperDiff.Read(upper, provided, stubs, _logger)
                : CopyRoot.Diff(rootfs, before, provided, stubs, _logger);
            // The layer gives the files the epoch: the .pyc the command compiled must stay current for their sources.
            string written = before is null ? upper : rootfs;
            entries = await BytecodeTimes.AlignAsync(entries,
                path => Layers.UnixFileStatus.TryRead(written + path)?.ModificationTime,
                request.FileTime, cancellationToken).ConfigureAwait(false);
            if (exitCode == 0) _logger.Detail($"{request.DetailPrefix}diff: {entries.Count} changed entries read back {Units.Since(phase)}");
            return new RunResult(exitCode, [.. lastLines], entries, ownsStep ? step : null, _userNamespace,
                exitCode == 0 && before is null ? upper : null);
        }
        catch
        {
            if (ownsStep) DeleteStepDirectory(step, _userNamespace);
            throw;
        }
    }

    /// <summary>
    /// CVE-2024-21626: a working directory under <c>/proc/self/fd</c> (or any process's or thread's <c>fd</c>) would
    /// let the container start in a folder of the host through a descriptor the runtime leaked. Refused whatever the
    /// runtime's version (distributions backport the fix without changing it).
    /// </summary>
    public static void CheckWorkingDirectory(string directory, SourceSpan? span = null, string? shown = null)
    {
        string clean = "/" + string.Join('/', ScopedPath.Components(directory));
        if (Regex.IsMatch(clean, @"^/proc/([^/]+/)?(self|thread-self|\d+)/(fd|fdinfo|task/[^/]+/fd)(/|$)")
            || Regex.IsMatch(clean, @"^/proc/(self|thread-self|\d+)/(cwd|root|exe)(/|$)"))
            throw new LivrableException(DiagnosticCodes.UnsafeWorkingDirectory,
                (shown is null ? $"The working directory '{directory}'" : $"The working directory '{shown}' (through a symbolic link of the image: '{clean}')") +
                " is inside /proc's file descriptors: a RUN there could reach the host (CVE-2024-21626). Use another WORKDIR.", span);
    }

    /// <summary>The image path <paramref name="path"/> becomes once the links of <paramref name="root"/> are followed inside it.</summary>
    private static string InRoot(string root, string path)
    {
        string resolved = ScopedPath.Resolve(root, path);
        string relative = Path.GetRelativePath(root, resolved);
        return relative == "." ? "/" : "/" + relative.Replace(Path.DirectorySeparatorChar, '/');
    }

    /// <summary>The runtime's full path: <paramref name="configured"/> (a path or a name on PATH), else <c>runc</c> on PATH.</summary>
    public static string FindRuntime(string? configured)
    {
        string name = string.IsNullOrWhiteSpace(configured) ? "runc" : configured.Trim();
        if (name.Contains('/'))
        {
            if (File.Exists(name)) return Path.GetFullPath(name);
            throw new LivrableException(DiagnosticCodes.RuntimeNotFound, $"The OCI runtime '{name}' (ContainerRuntimePath) does not exist.");
        }
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        throw new LivrableException(DiagnosticCodes.RuntimeNotFound,
            $"RUN needs an OCI runtime and '{name}' is not on PATH: install runc (apt-get install runc, dnf install runc) or name one with ContainerRuntimePath.");
    }

    private static void AddStubs(IReadOnlyList<string> roots, string target, HashSet<string> stubs)
    {
        string current = "";
        foreach (string part in ScopedPath.Components(target))
        {
            current += "/" + part;
            if (!roots.Any(root => ScopedPath.Exists(root, current))) stubs.Add(current);
        }
    }

    /// <summary>
    /// Rootless: the RUN's user and groups must exist in the namespace (root, and the subordinate range when the build's
    /// user has one), or the runtime could not switch to them. LIV5020 says what to do.
    /// </summary>
    private static void CheckIdsExist(RunRequest request, UserNamespace userNamespace)
    {
        var missing = new List<string>();
        if (!userNamespace.HasUid(request.Uid)) missing.Add($"uid {request.Uid}");
        foreach (long gid in new[] { (long)request.Gid }.Concat(request.AdditionalGids.Select(g => (long)g)))
            if (!userNamespace.HasGid(gid)) missing.Add($"gid {gid}");
        if (missing.Count == 0) return;
        string range = userNamespace.SubordinateUids is { } r ? $"its subordinate range holds ids 1 to {r.Count}" : "it has no subordinate id range (/etc/subuid, /etc/subgid; and newuidmap/newgidmap from the uidmap package)";
        throw new LivrableException(DiagnosticCodes.RootlessUserUnmapped,
            $"This rootless RUN runs as {string.Join(", ", missing.Distinct())}, which does not exist in the build's user namespace: {range}. " +
            "Give the build's user a range (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER), or build as root.");
    }

    private static string ResolvConf(RunNetwork network)
    {
        if (network == RunNetwork.None) return "";
        try
        {
            return File.ReadAllText("/etc/resolv.conf");
        }
        catch (IOException)
        {
            return "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
        }
    }

    private static string WriteFile(string step, string name, string content)
    {
        string path = Path.Combine(step, name);
        File.WriteAllText(path, content);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return path;
    }

    private async Task<System.Text.Json.Nodes.JsonObject> PrepareMountAsync(RunMount mount, string step, int index, List<OverlayMount> mounts, CancellationToken cancellationToken)
    {
        if (mount.Type == RunMountType.Tmpfs) return RuntimeSpec.Tmpfs(mount.Target, mount.Size);
        string source;
        if (mount.Layers is { } layers)
        {
            var lowers = new List<string>();
            foreach (var layer in layers) lowers.Add(await _layers.EnsureAsync(layer, cancellationToken).ConfigureAwait(false));
            lowers.Reverse();
            if (lowers.Count == 0) lowers.Add(_layers.EmptyDirectory);
            string dir = Path.Combine(step, "mounts", index.ToString(System.Globalization.CultureInfo.InvariantCulture));
            string merged = Path.Combine(dir, "merged");
            Overlay(lowers, Path.Combine(dir, "upper"), Path.Combine(dir, "work"), merged, mounts);
            if (_userNamespace is not null) CheckNoLinks(lowers, mount.SubPath, mount.Target);
            source = ScopedPath.Resolve(merged, mount.SubPath);
        }
        else
        {
            source = mount.HostPath ?? throw new ArgumentException("A bind mount needs a host path or layers.", nameof(mount));
            if (mount.KeepWrites)
            {
                // A cache: bound as it is.
            }
            else if (!mount.ReadOnly && Directory.Exists(source))
            {
                // Writes to a writable bind of the context are discarded: they go to an upper folder thrown away.
                string dir = Path.Combine(step, "mounts", index.ToString(System.Globalization.CultureInfo.InvariantCulture));
                string merged = Path.Combine(dir, "merged");
                Overlay([source], Path.Combine(dir, "upper"), Path.Combine(dir, "work"), merged, mounts);
                source = merged;
            }
            else if (!mount.ReadOnly)
            {
                string copy = Path.Combine(step, "mounts", index + "-file");
                Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
                File.Copy(source, copy);
                source = copy;
            }
        }
        if (UnixFileStatus(source) is null)
            throw new LivrableException(DiagnosticCodes.RunMountSourceNotFound, $"The source of the mount at {mount.Target} does not exist.");
        return RuntimeSpec.Bind(mount.Target, source, mount.ReadOnly);
    }

    /// <summary>
    /// An overlay of <paramref name="lowersTopFirst"/> at <paramref name="target"/>, added to <paramref name="mounts"/>;
    /// rootless, left for the namespace's shell to mount. Where overlay cannot be mounted (or <see cref="ForceCopy"/>),
    /// the lowers copied into <paramref name="target"/> instead (LIV5017 once per run), and true.
    /// </summary>
    private bool Overlay(IReadOnlyList<string> lowersTopFirst, string upper, string work, string target, List<OverlayMount> mounts)
    {
        if (_userNamespace is not null)
        {
            // Overlay in a user namespace reads and writes user.overlay.* attributes (userxattr), as the layers were extracted.
            _pendingOverlays.Add((OverlayMount.Options(lowersTopFirst, upper, work) + ",userxattr", target));
            Directory.CreateDirectory(target);
            return false;
        }
        if (!ForceCopy)
        {
            try
            {
                mounts.Add(OverlayMount.Mount(lowersTopFirst, upper, work, target));
                return false;
            }
            catch (LivrableException e) when (e.Code == DiagnosticCodes.OverlayFailed)
            {
                if (!_warned)
                    _logger.Warning(DiagnosticCodes.OverlayUnavailable,
                        $"{e.Message} RUN copies the layers into a scratch folder instead and compares it before and after: slower, and it needs room for a full copy.");
                _warned = true;
            }
        }
        CopyRoot.Build([.. lowersTopFirst.Reverse()], target);
        return true;
    }

    /// <summary>
    /// Rootless: the host resolves a bind mount's source in the merged view before it exists, so a path through a
    /// symbolic link (which could point anywhere once followed on the host) is refused (LIV5021).
    /// </summary>
    private static void CheckNoLinks(IReadOnlyList<string> lowersTopFirst, string subPath, string target)
    {
        string current = "";
        foreach (string part in ScopedPath.Components(subPath))
        {
            current += "/" + part;
            foreach (string lower in lowersTopFirst)
            {
                var status = Layers.UnixFileStatus.TryRead(lower + current);
                if (status is null) continue;
                if (status.Value.Kind == Layers.UnixFileKind.SymbolicLink)
                    throw new LivrableException(DiagnosticCodes.RootlessMountSource,
                        $"The mount at {target} names '{subPath}', whose '{current}' is a symbolic link: a rootless RUN cannot follow it safely. Name the path it points to.");
                break;
            }
        }
    }

    private bool _warned;

    private static Layers.UnixFileStatus? UnixFileStatus(string path) => Layers.UnixFileStatus.TryRead(path);

    /// <summary>
    /// Rootless: one shell in the user namespace mounts the overlays (volatile where the kernel knows it, as
    /// <see cref="OverlayMount.Volatile"/> says why), then becomes the runtime, with its state in the step's folder (the
    /// host's <c>/run/runc</c> is root's). The namespace's mounts go with its last process.
    /// </summary>
    private async Task<int> RunRootlessAsync(string runtime, string bundle, string step, Action<string> output, CancellationToken cancellationToken)
    {
        const string OverlayFailedMarker = "livrable: overlay mount failed";
        const string script = $$"""
            while [ "$#" -gt 4 ]; do
              mount -t overlay overlay -o "$1{{OverlayMount.Volatile}}" "$2" 2>/dev/null || mount -t overlay overlay -o "$1" "$2" ||
                { echo "livrable: overlay mount failed" >&2; exit 1; }
              shift 2
            done
            exec "$1" --root "$2" run --bundle "$3" "$4"
            """;
        string id = "livrable-" + Guid.NewGuid().ToString("N")[..16];
        var arguments = _pendingOverlays.SelectMany(o => new[] { o.Options, o.Target })
            .Concat([runtime, Path.Combine(step, "runc"), bundle, id]).ToList();
        bool overlayFailed = false;
        using var process = _userNamespace!.Start(script, arguments, line =>
        {
            if (line == OverlayFailedMarker) overlayFailed = true;
            else output(line);
        });
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The container's processes are the shell's descendants: they go with it, and the namespace's mounts with them.
            process.Kill(entireProcessTree: true);
            throw;
        }
        process.WaitForExit();
        if (overlayFailed)
            throw new LivrableException(DiagnosticCodes.OverlayFailed,
                "Mounting the overlay file system in the rootless build's user namespace failed: rootless RUN needs a kernel that " +
                "mounts overlay in a user namespace (Linux 5.11 or later) and a state folder on a file system that can be overlay's upper (not overlay itself). Or build as root.");
        return process.ExitCode;
    }

    private async Task<int> RunRuntimeAsync(string runtime, string bundle, string step, Action<string> output, CancellationToken cancellationToken)
    {
        if (_userNamespace is not null) return await RunRootlessAsync(runtime, bundle, step, output, cancellationToken).ConfigureAwait(false);
        string id = "livrable-" + Guid.NewGuid().ToString("N")[..16];
        var start = new ProcessStartInfo(runtime)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // No descriptor of the build reaches the container: .NET opens every file close-on-exec and gives the child only
        // these three pipes (the tests count /proc/self/fd inside the container).
        foreach (string a in new[] { "run", "--bundle", bundle, id }) start.ArgumentList.Add(a);
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) output(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output(e.Data); };
        try
        {
            if (!process.Start())
                throw new LivrableException(DiagnosticCodes.RuntimeFailed, $"The OCI runtime '{runtime}' did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new LivrableException(DiagnosticCodes.RuntimeFailed, $"The OCI runtime '{runtime}' could not be started: {e.Message}", inner: e);
        }
        try
        {
            // The command reads an empty stdin, as under BuildKit.
            process.StandardInput.Close();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await RuntimeCommandAsync(runtime, ["kill", id, "KILL"]).ConfigureAwait(false);
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                }
                throw;
            }
            return process.ExitCode;
        }
        finally
        {
            if (!process.HasExited || !RemovedOnExit(runtime, id))
                await RuntimeCommandAsync(runtime, ["delete", "--force", id]).ConfigureAwait(false);
        }
    }

    /// <summary>runc's state folder as root (<c>--root</c>'s default).</summary>
    private const string RuncStateRoot = "/run/runc";

    /// <summary>
    /// Whether the container <paramref name="id"/> is gone already: <c>runc run</c> destroys its container as it exits,
    /// so its state folder is gone and a <c>runc delete</c> would only cost one more process per RUN (issue 14, the
    /// edit loop). Any other runtime, whose state folder is not known here, or a state folder still there: false.
    /// </summary>
    internal static bool RemovedOnExit(string runtime, string id)
        => Path.GetFileName(runtime) == "runc" && Directory.Exists(RuncStateRoot) && !Directory.Exists(Path.Combine(RuncStateRoot, id));

    private static async Task RuntimeCommandAsync(string runtime, string[] arguments)
    {
        var start = new ProcessStartInfo(runtime) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(start);
            if (process is null) return;
            var drain = Task.WhenAll(process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            await drain.ConfigureAwait(false);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or OperationCanceledException or InvalidOperationException)
        {
            // Best effort: the container is gone with its init process anyway.
        }
    }

    private static void Undo(List<OverlayMount> mounts)
    {
        for (int i = mounts.Count - 1; i >= 0; i--) mounts[i].Dispose();
        mounts.Clear();
    }

    /// <summary>The bundle goes as soon as the container has: its config holds the environment, secrets included.</summary>
    private static void DeleteBundle(string bundle)
    {
        try
        {
            if (Directory.Exists(bundle)) Directory.Delete(bundle, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Deleted with the step's folder.
        }
    }

    /// <remarks>
    /// Rootless, a RUN may have given files to other users of the namespace, in folders the build's user cannot write on
    /// the host: root of the namespace deletes what this process cannot.
    /// </remarks>
    internal static void DeleteStepDirectory(string step, UserNamespace? userNamespace = null)
    {
        if (userNamespace is null && OperatingSystem.IsLinux())
        {
            try
            {
                userNamespace = UserNamespace.ForBuild();
            }
            catch (LivrableException)
            {
                // No namespace: what this process can delete is all there is to delete.
            }
        }
        if (userNamespace is not null)
        {
            userNamespace.DeleteTree(step);
            return;
        }
        try
        {
            if (Directory.Exists(step)) Directory.Delete(step, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A folder still mounted (detached) is left for the next build; nothing reads it.
        }
    }
}
