using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Runtime;
using Livrable.Store;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// RUN (https://docs.docker.com/reference/dockerfile/#run), as BuildKit's <c>dispatchRun</c> prepares it: shell form
/// wrapped in the SHELL in force, exec form as written, here-documents in BuildKit's three forms; the build
/// environment (image ENV and the stage's ARGs, proxy build arguments, PATH when missing); USER resolved in the
/// stage's <c>/etc/passwd</c> and <c>/etc/group</c>; WORKDIR; <c>--network</c>; bind and tmpfs <c>--mount</c>s.
/// The command runs through <see cref="ContainerRun"/>; what it changed is the step's layer, and its history entry is
/// <c>RUN [|N K=V...] &lt;args&gt; # buildkit</c>. The image config is not changed.
/// </summary>
internal sealed partial class RunStep(StepContext step, RunInstruction run, int stepNumber) : ICacheableStep
{
    /// <summary>Where a <c>#!</c> here-document is mounted, as BuildKit does.</summary>
    private const string PipesDirectory = "/dev/pipes/";

    private static readonly string[] ProxyArgs = ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"];

    private string _workingDirectory = "/";
    private string _stepDirectory = "";
    private readonly List<RunMount> _mounts = [];
    private IReadOnlyList<string> _args = [];
    private List<RunMountSpec> _specs = [];

    /// <summary>
    /// Prepares the command and adds what its layer depends on to the key: the arguments, the process environment,
    /// the history text (with the stage's ARGs), <c>--network</c> and <c>--security</c>, every mount as parsed, and a
    /// bind mount's content (the context files under its source, or the key of the stage it binds). Not a cache
    /// mount's content, as in BuildKit (it is a cache, not an input), nor a secret's: BuildKit leaves secrets out of
    /// keys, and a hash of a short secret stored in the state folder or pushed with the cache could be guessed offline.
    /// </summary>
    public async Task<bool> PrepareAsync(Cache.StepKey key, CancellationToken cancellationToken)
    {
        var session = step.Session;
        var state = step.State;
        if (run.Security == "insecure")
            throw new LivrableException(DiagnosticCodes.RunOptionNotSupported,
                "RUN --security=insecure is not allowed: Livrable grants no security.insecure entitlement.", step.Span);
        if (!PlatformExecution.CanExecute(state.Platform))
            throw new LivrableException(DiagnosticCodes.ForeignPlatformRun,
                $"RUN for {state.Platform} cannot execute on this {PlatformExecution.HostArchitecture()} machine: no binfmt_misc handler is registered for it " +
                $"in {PlatformExecution.BinfmtDirectory}. Register QEMU user emulation (apt-get install qemu-user-static binfmt-support), build this platform " +
                "on a machine of its CPU, or leave it out of ContainerPlatforms; steps without RUN need no emulation.", step.Span);
        _workingDirectory = string.IsNullOrEmpty(state.Config.WorkingDir) ? "/" : state.Config.WorkingDir!;
        ContainerRun.CheckWorkingDirectory(_workingDirectory, step.Span);

        _stepDirectory = Path.Combine(session.TempDirectory, "run-" + stepNumber.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(_stepDirectory);
        _args = Arguments(state.Config, _stepDirectory, _mounts);
        _specs = run.Mounts.Select(raw => RunMountSpec.Parse(raw, _workingDirectory, step.Span,
            value => session.Expander.Word(value, state.Environment, step.Span))).ToList();

        key.Add("args", _args).Add("environment", Environment()).Add("created_by", CommandString(_args))
            .Add("network", run.Network).Add("security", run.Security).Add("heredocs", run.Heredocs.Select(h => h.Name + "\n" + h.Content));
        bool complete = true;
        foreach (var spec in _specs)
        {
            key.Add("mount", spec.ToString());
            if (spec.Type != "bind") continue;
            if (spec.From is { } from)
            {
                var source = await session.CopySourceAsync(from, step.StageIndex, step.Span, cancellationToken).ConfigureAwait(false);
                key.Add("bind from", source.CacheKey);
            }
            else
            {
                complete &= BindKey(spec, key);
            }
        }
        return complete;
    }

    /// <summary>The host files a context bind mount shows (all of them: a bind is not filtered by <c>.dockerignore</c>).</summary>
    private bool BindKey(RunMountSpec spec, Cache.StepKey key)
    {
        var context = step.Session.Context(step.Span);
        string root = Path.GetFullPath(context.Root);
        string host = ScopedPath.Resolve(root, spec.Source ?? "/");
        var digests = step.Session.ContextDigests(step.Span);
        try
        {
            var info = new FileInfo(host);
            if (info.Exists && info.LinkTarget is null)
            {
                key.Add("bind file", $"{Convert.ToString((int)info.UnixFileMode, 8)} {info.Length} {digests.DigestOf(host)}");
                return true;
            }
            if (!Directory.Exists(host)) return false; // missing: the step reports it
            var entries = new DirectoryInfo(host)
                .EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false })
                .OrderBy(i => i.FullName, StringComparer.Ordinal).ToList();
            key.Add("bind folder", entries.Count);
            foreach (var entry in entries)
            {
                string relative = Path.GetRelativePath(host, entry.FullName);
                string content = entry.LinkTarget is { } target ? "link " + target
                    : entry is FileInfo file ? $"file {file.Length} {digests.DigestOf(file.FullName)}"
                    : "folder";
                key.Add(relative, $"{Convert.ToString((int)entry.UnixFileMode, 8)} {content}");
            }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var mounts = _mounts;
        var locks = new List<IDisposable>();
        var secretEnvironment = new List<string>();
        string secrets = Path.Combine(_stepDirectory, "secrets");
        try
        {
            foreach (var spec in _specs)
            {
                if (spec.Type == "secret")
                {
                    if (Secret(spec, secrets, secretEnvironment) is { } secret) mounts.Add(secret);
                    continue;
                }
                mounts.Add(spec.Type == "cache"
                    ? await CacheAsync(spec, locks, cancellationToken).ConfigureAwait(false)
                    : await MountAsync(spec, cancellationToken).ConfigureAwait(false));
            }
            await RunAsync(_args, mounts, secretEnvironment, _workingDirectory, _stepDirectory, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            foreach (var held in locks) held.Dispose();
            // Secret files live only as long as the RUN.
            if (Directory.Exists(secrets)) Directory.Delete(secrets, recursive: true);
        }
    }

    /// <summary>
    /// A secret mount: the value (read only now) in a file of the step's folder, bound read-only at the target with
    /// the mount's mode and owner, and/or in the process's environment (<c>env=</c>). Never in the layer (the target
    /// is a mount), the history (only the arguments and ARGs are) or the log. A missing secret is skipped unless
    /// <c>required</c> (LIV5018), as BuildKit does.
    /// </summary>
    private RunMount? Secret(RunMountSpec spec, string secrets, List<string> environment)
    {
        byte[]? value = step.Session.Secrets.TryGetValue(spec.Id!, out var source) ? source.Read() : null;
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

    private async Task RunAsync(IReadOnlyList<string> args, List<RunMount> mounts, List<string> secretEnvironment, string workingDirectory,
        string stepDirectory, CancellationToken cancellationToken)
    {
        var session = step.Session;
        var state = step.State;

        var (uid, gid, groups) = await UserAsync(cancellationToken).ConfigureAwait(false);
        var request = new RunRequest
        {
            Layers = [.. state.Layers],
            Arguments = args,
            Environment = [.. Environment(), .. secretEnvironment],
            WorkingDirectory = workingDirectory,
            Uid = uid,
            Gid = gid,
            AdditionalGids = groups,
            Network = run.Network == "none" ? RunNetwork.None : run.Network == "host" ? RunNetwork.Host : RunNetwork.Default,
            Mounts = mounts,
            RuntimePath = session.RuntimePath,
            StepDirectory = stepDirectory,
            Output = line => session.Logger.Info($"  #{stepNumber} {line}"),
            DetailPrefix = $"  #{stepNumber} ",
        };

        RunResult result;
        try
        {
            result = await new ContainerRun(session.StateDirectory, session.Logger).RunAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (LivrableException e) when (e.Span is null)
        {
            throw new LivrableException(e.Code, e.Message, step.Span, e);
        }
        using (result)
        {
            string createdBy = "RUN " + CommandString(args) + " # buildkit";
            if (result.ExitCode != 0)
            {
                var message = new StringBuilder();
                message.Append(CultureInfo.InvariantCulture, $"process \"{string.Join(' ', args)}\" did not complete successfully: exit code: {result.ExitCode}");
                if (result.LastLines.Count > 0)
                {
                    message.Append(CultureInfo.InvariantCulture, $"\nlast {result.LastLines.Count} lines of its output:");
                    foreach (string line in result.LastLines) message.Append("\n  ").Append(line);
                }
                throw new LivrableException(DiagnosticCodes.RunFailed, message.ToString(), step.Span);
            }
            if (result.Entries.Count == 0)
                state.AddHistory(new HistoryEntry(session.Epoch, createdBy, DockerfileBuildSession.HistoryComment, EmptyLayer: true));
            else
                await session.AddLayerAsync(state, result.Entries, createdBy, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The process arguments. Here-documents: a single one starting with <c>#!</c> is a file mounted at
    /// <c>/dev/pipes/NAME</c> and run; another single one is its body as the shell's text; anything else passes the
    /// line and the bodies to the shell (<c>line\nbody NAME</c>), as BuildKit's <c>dispatchRun</c>.
    /// </summary>
    private IReadOnlyList<string> Arguments(ImageConfig config, string stepDirectory, List<RunMount> mounts)
    {
        var command = run.Command;
        if (run.Heredocs.Count > 0 && !command.IsExecForm)
        {
            string line = command.ShellText;
            if (run.Heredocs.Count == 1 && LoneHeredoc().IsMatch(line.Trim()))
            {
                var heredoc = run.Heredocs[0];
                if (config.Os != "windows" && heredoc.Content.StartsWith("#!", StringComparison.Ordinal))
                {
                    string file = Path.Combine(stepDirectory, "pipes", heredoc.Name);
                    Directory.CreateDirectory(Path.GetDirectoryName(file)!);
                    File.WriteAllText(file, heredoc.Content);
                    if (!OperatingSystem.IsWindows())
                        File.SetUnixFileMode(file, (UnixFileMode)0b111_101_101);
                    string target = PipesDirectory + heredoc.Name;
                    mounts.Add(new RunMount(RunMountType.Bind, target) { HostPath = file, ReadOnly = true });
                    command = new CommandLine([target], IsExecForm: false);
                }
                else
                {
                    command = new CommandLine([heredoc.Content], IsExecForm: false);
                }
            }
            else
            {
                var full = new StringBuilder(line);
                foreach (var heredoc in run.Heredocs) full.Append('\n').Append(heredoc.Content).Append(heredoc.Name);
                command = new CommandLine([full.ToString()], IsExecForm: false);
            }
        }
        return MetadataSteps.CommandArguments(config, command);
    }

    [GeneratedRegex("""^<<-?\s*(["']?)[^\s<"']+\1$""")]
    private static partial Regex LoneHeredoc();

    /// <summary>BuildKit's <c>runCommandString</c>: <c>|N K=V ...</c> for the stage's declared ARGs, then the arguments.</summary>
    private string CommandString(IReadOnlyList<string> args)
    {
        var pairs = new List<string>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string name in step.State.DeclaredArgs)
        {
            string pair = name + "=" + (step.State.Environment.TryGetValue(name, out var v) ? v : "");
            if (index.TryGetValue(name, out int i)) pairs[i] = pair;
            else
            {
                index[name] = pairs.Count;
                pairs.Add(pair);
            }
        }
        var parts = new List<string>();
        if (pairs.Count > 0) parts.Add("|" + pairs.Count.ToString(CultureInfo.InvariantCulture));
        parts.AddRange(pairs);
        parts.AddRange(args);
        return string.Join(' ', parts);
    }

    /// <summary>The build environment, then the proxy build arguments not already set, then PATH when missing.</summary>
    private List<string> Environment()
    {
        var environment = new Dictionary<string, string>(step.State.Environment, StringComparer.Ordinal);
        foreach (var (name, value) in step.Session.Arguments.Given)
            if (ProxyArgs.Contains(name, StringComparer.OrdinalIgnoreCase) && !environment.ContainsKey(name))
                environment[name] = value;
        environment.TryAdd("PATH", MetadataSteps.DefaultPath);
        return environment.Select(p => p.Key + "=" + p.Value).ToList();
    }

    /// <summary>
    /// USER as runc needs it (moby/sys/user's <c>GetExecUser</c>, which BuildKit uses): a number passes (its group from
    /// passwd when listed, else 0); a name must be in <c>/etc/passwd</c> (LIV5009, BuildKit's "unable to find user");
    /// a group likewise in <c>/etc/group</c>; without a group, the groups listing the user are added.
    /// </summary>
    private async Task<(long Uid, long Gid, IReadOnlyList<long> Groups)> UserAsync(CancellationToken cancellationToken)
    {
        string? user = step.State.Config.User;
        if (string.IsNullOrEmpty(user)) return (0, 0, []);
        int colon = user.IndexOf(':');
        string name = colon < 0 ? user : user[..colon];
        string? group = colon < 0 ? null : user[(colon + 1)..];
        var tree = await step.State.GetTreeAsync(cancellationToken).ConfigureAwait(false);
        var passwd = await ReadAsync(tree, "/etc/passwd", cancellationToken).ConfigureAwait(false);
        var groupFile = await ReadAsync(tree, "/etc/group", cancellationToken).ConfigureAwait(false);

        long uid, gid = 0;
        string? userName = null;
        if (long.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out uid))
        {
            var entry = passwd.FirstOrDefault(f => f.Length >= 4 && f[2] == name);
            if (entry is not null && long.TryParse(entry[3], NumberStyles.None, CultureInfo.InvariantCulture, out long g)) gid = g;
            userName = entry?[0];
        }
        else
        {
            var entry = passwd.FirstOrDefault(f => f.Length >= 4 && f[0] == name
                    && long.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out _)
                    && long.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out _))
                ?? throw new LivrableException(DiagnosticCodes.RunUserNotFound,
                    $"unable to find user {name}: no matching entries in passwd file", step.Span);
            uid = long.Parse(entry[2], CultureInfo.InvariantCulture);
            gid = long.Parse(entry[3], CultureInfo.InvariantCulture);
            userName = name;
        }
        if (group is not null)
        {
            if (long.TryParse(group, NumberStyles.None, CultureInfo.InvariantCulture, out long g)) return (uid, g, []);
            var entry = groupFile.FirstOrDefault(f => f.Length >= 3 && f[0] == group
                    && long.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out _))
                ?? throw new LivrableException(DiagnosticCodes.RunUserNotFound,
                    $"unable to find group {group}: no matching entries in group file", step.Span);
            return (uid, long.Parse(entry[2], CultureInfo.InvariantCulture), []);
        }
        var groups = new List<long>();
        if (userName is not null)
            foreach (var f in groupFile)
                if (f.Length >= 4 && f[3].Split(',').Contains(userName) && long.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out long g) && g != gid)
                    groups.Add(g);
        return (uid, gid, groups);
    }

    private static async Task<List<string[]>> ReadAsync(FileTree tree, string path, CancellationToken cancellationToken)
    {
        var entry = tree.Resolve(path);
        if (entry is null) return [];
        byte[]? bytes = await FileTree.ReadSmallFileAsync(entry, cancellationToken).ConfigureAwait(false);
        if (bytes is null) return [];
        return Encoding.UTF8.GetString(bytes).Split('\n')
            .Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(':')).ToList();
    }

    /// <summary>
    /// A cache mount: a folder of the state folder per id (<c>cache/&lt;sha256 of the id&gt;</c>), kept across builds,
    /// created with the mount's mode and owner. <c>sharing=locked</c> waits for other users; <c>private</c> takes
    /// the first instance no one holds (<c>-1</c>, <c>-2</c>... when busy); <c>shared</c> takes it as it is.
    /// </summary>
    private async Task<RunMount> CacheAsync(RunMountSpec spec, List<IDisposable> locks, CancellationToken cancellationToken)
    {
        string hex = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(spec.Id!))).ToLowerInvariant();
        string root = StateLayout.CacheMounts(step.Session.StateDirectory);
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
    private async Task<RunMount> MountAsync(RunMountSpec spec, CancellationToken cancellationToken)
    {
        if (spec.Type == "tmpfs") return new RunMount(RunMountType.Tmpfs, spec.Target) { Size = spec.Size };
        string source = spec.Source ?? "/";
        if (spec.From is { } from)
        {
            var state = await step.Session.CopySourceAsync(from, step.StageIndex, step.Span, cancellationToken).ConfigureAwait(false);
            return new RunMount(RunMountType.Bind, spec.Target) { Layers = [.. state.Layers], SubPath = source, ReadOnly = spec.ReadOnly };
        }
        var context = step.Session.Context(step.Span);
        string root = Path.GetFullPath(context.Root);
        string host = ScopedPath.Resolve(root, source);
        if (Layers.UnixFileStatus.TryRead(host) is null)
            throw new LivrableException(DiagnosticCodes.RunMountSourceNotFound,
                $"failed to compute cache key: \"{source}\" not found in the build context (RUN --mount source).", step.Span);
        return new RunMount(RunMountType.Bind, spec.Target) { HostPath = host, ReadOnly = spec.ReadOnly };
    }
}
