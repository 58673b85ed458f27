using System.Diagnostics;
using System.Text;
using Xunit;

namespace Livrable.Tests.Infrastructure;

/// <summary>What an external program did.</summary>
public sealed record ToolResult(string Program, IReadOnlyList<string> Arguments, int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The command line, for assertion messages.</summary>
    public string CommandLine => Program + " " + string.Join(' ', Arguments.Select(a => a.Contains(' ') ? $"'{a}'" : a));

    /// <summary>Standard output then standard error, for assertions on what a build printed wherever it printed it.</summary>
    public string Output => Stdout + Stderr;

    /// <summary>For <c>var (exit, stdout, stderr) = await Tools.RunAsync(...)</c>.</summary>
    public void Deconstruct(out int exitCode, out string stdout, out string stderr) => (exitCode, stdout, stderr) = (ExitCode, Stdout, Stderr);

    /// <summary>Throws with the command and its output unless it exited 0.</summary>
    public ToolResult EnsureSuccess()
    {
        if (ExitCode != 0)
            throw new Xunit.Sdk.XunitException($"`{CommandLine}` exited with {ExitCode}.\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
        return this;
    }
}

/// <summary>
/// Runs the independent tools that read what Livrable writes (skopeo, umoci, docker, GNU tar, gzip, pigz, python3's
/// tarfile) and the ones the fixtures need (docker-registry, htpasswd). A missing tool fails the test with the apt
/// package to install: tests never skip.
/// </summary>
public static class Tools
{
    /// <summary>The Debian package that provides each tool the tests use.</summary>
    private static readonly Dictionary<string, string> Packages = new(StringComparer.Ordinal)
    {
        ["skopeo"] = "skopeo",
        ["umoci"] = "umoci",
        ["runc"] = "runc",
        ["docker"] = "docker.io",
        ["dockerd"] = "docker.io",
        ["docker-registry"] = "docker-registry",
        ["htpasswd"] = "apache2-utils",
        ["tar"] = "tar",
        ["gzip"] = "gzip",
        ["pigz"] = "pigz",
        ["python3"] = "python3",
        ["ln"] = "coreutils",
        ["xz"] = "xz-utils",
        ["zstd"] = "zstd",
        ["bzip2"] = "bzip2",
        ["busybox"] = "busybox-static",
        ["buildah"] = "buildah",
        ["mount"] = "mount",
    };

    /// <summary>The full path of <paramref name="program"/> on PATH, or null.</summary>
    public static string? Find(string program)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
            if (OperatingSystem.IsWindows() && File.Exists(candidate + ".exe")) return candidate + ".exe";
        }
        return null;
    }

    /// <summary>The full path of <paramref name="program"/>; fails the test, saying what to install, when it is missing.</summary>
    public static string Require(string program)
    {
        string package = Packages.GetValueOrDefault(program, program);
        return Find(program) ?? throw new Xunit.Sdk.XunitException(
            $"This test needs '{program}', which is not on PATH: install {program} (apt-get install {package}).");
    }

    /// <summary>
    /// Runs <paramref name="program"/> (looked up with <see cref="Require"/>) with <paramref name="arguments"/> and
    /// waits at most <paramref name="timeout"/> (two minutes by default), killing it past that. The program sees
    /// <c>LC_ALL=C.UTF-8</c> and <c>TZ=UTC</c> (unless <paramref name="environment"/> says otherwise), so listings by
    /// tar and python read the same on every machine. Never throws for a non-zero exit.
    /// </summary>
    public static async Task<ToolResult> RunAsync(
        string program, IEnumerable<string> arguments, TimeSpan? timeout = null,
        string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null, Stream? stdout = null)
    {
        string path = Require(program);
        var args = arguments.ToList();
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["LC_ALL"] = "C.UTF-8";
        start.Environment["TZ"] = "UTC";
        if (environment is not null)
            foreach (var (k, v) in environment)
            {
                // An empty value removes the variable (ProcessStartInfo would pass it on as set but empty).
                if (v.Length == 0) start.Environment.Remove(k);
                else start.Environment[k] = v;
            }
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        Task<string> output = stdout is null
            ? process.StandardOutput.ReadToEndAsync(cts.Token)
            : process.StandardOutput.BaseStream.CopyToAsync(stdout, cts.Token).ContinueWith(_ => "", TaskScheduler.Default);
        var error = process.StandardError.ReadToEndAsync(cts.Token);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"`{program} {string.Join(' ', args)}` did not finish within {timeout ?? TimeSpan.FromMinutes(2)}.");
        }
        return new ToolResult(program, args, process.ExitCode, await output, await error);
    }

    /// <summary>
    /// The environment for a child <c>dotnet</c>: no telemetry, banner or node reuse, and none of the MSBuild paths of
    /// the MSBuild the test host runs inside, which would mislead it.
    /// </summary>
    public static IReadOnlyDictionary<string, string> DotnetEnvironment { get; } = new Dictionary<string, string>
    {
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        ["DOTNET_NOLOGO"] = "1",
        ["MSBUILDDISABLENODEREUSE"] = "1",
        ["MSBuildExtensionsPath"] = "",
        ["MSBuildSDKsPath"] = "",
        ["MSBUILD_EXE_PATH"] = "",
    };

    /// <summary>
    /// Runs <c>dotnet VERB PROJECT -nologo -nodeReuse:false ARGUMENTS</c> in <paramref name="workingDirectory"/> with
    /// <see cref="DotnetEnvironment"/> and <paramref name="environment"/> on top, for at most eight minutes. Never
    /// throws for a non-zero exit.
    /// </summary>
    public static Task<ToolResult> DotnetAsync(string workingDirectory, string verb, string project, IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var merged = new Dictionary<string, string>(DotnetEnvironment);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) merged[k] = v;
        return RunAsync("dotnet", [verb, project, "-nologo", "-nodeReuse:false", .. arguments], TimeSpan.FromMinutes(8), workingDirectory, merged);
    }

    /// <summary>Runs and requires exit code 0.</summary>
    public static async Task<ToolResult> RunCheckedAsync(string program, params string[] arguments)
        => (await RunAsync(program, arguments)).EnsureSuccess();

    /// <summary>Runs a python3 script given on the command line, with <paramref name="arguments"/>; requires exit 0 and returns stdout.</summary>
    public static async Task<string> PythonAsync(string script, params string[] arguments)
        => (await RunCheckedAsync("python3", ["-c", script, .. arguments])).Stdout;
}

/// <summary>
/// A private Docker daemon for one test class: its own socket, data and exec roots under a temporary folder, no
/// iptables and no bridge, so it touches nothing of the host's. Fails (never skips) when <c>dockerd</c> is missing.
/// Use as <c>IClassFixture&lt;Dockerd&gt;</c>; pass <see cref="Environment"/> to the docker CLI.
/// </summary>
public sealed class Dockerd : IAsyncLifetime
{
    private Process? _process;
    private readonly StringBuilder _log = new();

    /// <summary>The folder holding the socket, data and exec roots.</summary>
    public string Root { get; } = Path.Combine("/tmp", "livd-" + Guid.NewGuid().ToString("N")[..10]);

    /// <summary><c>unix://…/docker.sock</c>.</summary>
    public string Host => $"unix://{Path.Combine(Root, "docker.sock")}";

    /// <summary>The environment that points the docker CLI at this daemon.</summary>
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string> { ["DOCKER_HOST"] = Host };

    public async Task InitializeAsync()
    {
        string dockerd = Tools.Require("dockerd");
        Tools.Require("docker");
        Directory.CreateDirectory(Root);
        var start = new ProcessStartInfo(dockerd)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[]
                 {
                     "--host", Host, "--data-root", Path.Combine(Root, "data"), "--exec-root", Path.Combine(Root, "exec"),
                     "--pidfile", Path.Combine(Root, "pid"), "--iptables=false", "--bridge=none",
                 })
            start.ArgumentList.Add(a);
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) break;
            if (File.Exists(Path.Combine(Root, "docker.sock")))
            {
                var version = await Tools.RunAsync("docker", ["version", "--format", "{{.Server.Version}}"], TimeSpan.FromSeconds(20), environment: Environment);
                if (version.ExitCode == 0) return;
            }
            await Task.Delay(250);
        }
        string log;
        lock (_log) log = _log.ToString();
        await DisposeAsync();
        throw new Xunit.Sdk.XunitException($"The private dockerd did not start within 60 s.\n{log}");
    }

    public async Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            // SIGTERM lets dockerd unmount its layers; SIGKILL only if it will not go.
            _ = Kill(_process.Id, 15);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try { await _process.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
        }
        _process?.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
