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
internal sealed partial class RunStep(StepContext step, RunInstruction run, int stepNumber) : IBuildStep
{
    /// <summary>Where a <c>#!</c> here-document is mounted, as BuildKit does.</summary>
    private const string PipesDirectory = "/dev/pipes/";

    private static readonly string[] ProxyArgs = ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"];

    private string _workingDirectory = "/";
    private string _stepDirectory = "";
    private readonly List<RunMount> _mounts = [];
    private IReadOnlyList<string> _args = [];
    private List<RunMountSpec> _specs = [];
    private (string File, string Content)? _pipe;

    /// <summary>
    /// Prepares the command and adds what its layer depends on to the key: the arguments, the process environment,
    /// the history text (with the stage's ARGs), <c>--network</c> and <c>--security</c>, every mount as parsed, and a
    /// bind mount's content (the context files under its source, or the key of the stage it binds). Not a cache
    /// mount's content, as in BuildKit (it is a cache, not an input), nor a secret's: BuildKit leaves secrets out of
    /// keys, and a hash of a short secret stored in the state folder or pushed with the cache could be guessed offline.
    /// </summary>
    public async Task<StepKeying> PrepareAsync(Cache.StepKey key, CancellationToken cancellationToken)
    {
        var services = step.Services;
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

        // The step's folder is made when it runs: a hit or a plan writes nothing.
        _stepDirectory = Path.Combine(services.TempDirectory, "run-" + stepNumber.ToString(CultureInfo.InvariantCulture));
        _args = Arguments(state.Config, _stepDirectory, _mounts);
        _specs = run.Mounts.Select(raw => RunMountSpec.Parse(raw, _workingDirectory, step.Span,
            value => services.Expander.Word(value, state.Environment, step.Span))).ToList();

        key.Add("args", _args).Add("environment", Environment()).Add("created_by", CommandString(_args))
            .Add("network", run.Network).Add("security", run.Security).Add("heredocs", run.Heredocs.Select(h => h.Name + "\n" + h.Content));
        bool complete = true;
        foreach (var spec in _specs)
        {
            key.Add("mount", spec.ToString());
            if (spec.Type != "bind") continue;
            if (spec.From is { } from)
            {
                var source = await services.CopySourceAsync(from, step.StageIndex, step.Span, cancellationToken).ConfigureAwait(false);
                key.Add("bind from", source.CacheKey);
                complete &= source.UnknownAfter is null; // in a plan, a stage known only by running

            }
            else
            {
                complete &= BindKey(spec, key);
            }
        }
        return complete ? StepKeying.Keyed : StepKeying.KnownAfterRunning;
    }

    /// <summary>The host files a context bind mount shows (all of them: a bind is not filtered by <c>.dockerignore</c>).</summary>
    private bool BindKey(RunMountSpec spec, Cache.StepKey key)
    {
        var context = step.Services.Context(step.Span);
        string root = Path.GetFullPath(context.Root);
        string host = ScopedPath.Resolve(root, spec.Source ?? "/");
        var digests = step.Services.ContextDigests(step.Span);
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
        Directory.CreateDirectory(_stepDirectory);
        if (_pipe is { } pipe)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(pipe.File)!);
            File.WriteAllText(pipe.File, pipe.Content);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(pipe.File, (UnixFileMode)0b111_101_101);
        }
        try
        {
            foreach (var spec in _specs)
            {
                if (spec.Type == "secret")
                {
                    if (RunMounts.Secret(step, spec, secrets, secretEnvironment) is { } secret) mounts.Add(secret);
                    continue;
                }
                mounts.Add(spec.Type == "cache"
                    ? await RunMounts.CacheAsync(step, spec, locks, cancellationToken).ConfigureAwait(false)
                    : await RunMounts.MountAsync(step, spec, cancellationToken).ConfigureAwait(false));
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

    private async Task RunAsync(IReadOnlyList<string> args, List<RunMount> mounts, List<string> secretEnvironment, string workingDirectory,
        string stepDirectory, CancellationToken cancellationToken)
    {
        var services = step.Services;
        var state = step.State;

        var (uid, gid, groups) = await RunUser.ResolveAsync(step, cancellationToken).ConfigureAwait(false);
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
            RuntimePath = services.RuntimePath,
            StepDirectory = stepDirectory,
            Output = line => services.Logger.Info($"  #{stepNumber} {line}"),
            DetailPrefix = $"  #{stepNumber} ",
            FileTime = services.Epoch,
        };

        RunResult result;
        try
        {
            result = await new ContainerRun(services.StateDirectory, services.Logger).RunAsync(request, cancellationToken).ConfigureAwait(false);
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
                state.AddHistory(new HistoryEntry(services.Epoch, createdBy, StepServices.HistoryComment, EmptyLayer: true));
            else
                await services.AddLayerAsync(state, result.Entries, createdBy, cancellationToken, step.RunFollows, result.UpperDirectory).ConfigureAwait(false);
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
                    // Written when the step runs (RunAsync), not when it is keyed.
                    string file = Path.Combine(stepDirectory, "pipes", heredoc.Name);
                    _pipe = (file, heredoc.Content);
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
        foreach (var (name, value) in step.Services.Arguments.Given)
            if (ProxyArgs.Contains(name, StringComparer.OrdinalIgnoreCase) && !environment.ContainsKey(name))
                environment[name] = value;
        environment.TryAdd("PATH", MetadataSteps.DefaultPath);
        return environment.Select(p => p.Key + "=" + p.Value).ToList();
    }

}
