using System.Diagnostics;
using System.Globalization;
using Livrable.Diagnostics;
using Livrable.Interop;

namespace Livrable.Runtime;

/// <summary>
/// The user namespace a rootless RUN runs in (user_namespaces(7)), as rootless buildah and podman set it up: the build's
/// user is root inside, and the user's subordinate ids (<c>/etc/subuid</c>, <c>/etc/subgid</c>, subuid(5)), when it has
/// a range and <c>newuidmap</c>/<c>newgidmap</c> are installed, are ids 1..n inside, so an image's other users
/// (<c>_apt</c>, <c>nobody</c>, a <c>USER app</c>) exist too. Without a range only root exists inside.
/// </summary>
/// <remarks>
/// A .NET process cannot enter a user namespace itself (<c>setns</c> and <c>unshare</c> of a user namespace refuse a
/// multi-threaded process), so the few things that need privilege run in a child started by util-linux's
/// <c>unshare</c>: whiteouts and owners of extracted layers (<see cref="RunAsync"/>), and the overlay mounts and the
/// runtime of a step (one shell that mounts, then execs <c>runc</c>). Its mount namespace dies with it, so nothing
/// stays mounted whatever happens to the build. What a RUN wrote is read back by root of the namespace too (it may
/// belong to users the build's user cannot read as on the host), with the namespace's ids.
/// </remarks>
internal sealed class UserNamespace
{
    private UserNamespace(string unshare, uint hostUid, uint hostGid, IdRange? uids, IdRange? gids)
    {
        Unshare = unshare;
        HostUid = hostUid;
        HostGid = hostGid;
        SubordinateUids = uids;
        SubordinateGids = gids;
    }

    /// <summary>A subordinate id range: host ids <see cref="Start"/>..<see cref="Start"/>+<see cref="Count"/>-1 are 1..<see cref="Count"/> inside.</summary>
    public readonly record struct IdRange(uint Start, uint Count);

    /// <summary>The <c>unshare</c> program.</summary>
    public string Unshare { get; }

    /// <summary>The build's user and group: root inside.</summary>
    public uint HostUid { get; }
    public uint HostGid { get; }

    public IdRange? SubordinateUids { get; }
    public IdRange? SubordinateGids { get; }

    /// <summary>
    /// The namespace a RUN of this build runs in: none when the build is root (it runs on the host's ids), else the
    /// current user's (<see cref="ForCurrentUser"/>, which throws LIV5003 when the system cannot give one).
    /// </summary>
    public static UserNamespace? ForBuild() => Native.IsRoot ? null : ForCurrentUser();

    /// <summary>
    /// The namespace for the current (non-root) user. LIV5003 when this system cannot give one: no <c>unshare</c>, or
    /// user namespaces turned off.
    /// </summary>
    public static UserNamespace ForCurrentUser()
    {
        string unshare = FindProgram("unshare")
            ?? throw new LivrableException(DiagnosticCodes.RunUnsupportedHost,
                "Rootless RUN needs util-linux's 'unshare' on PATH (apt-get install util-linux), or run the build as root.");
        if (ReadNumber("/proc/sys/user/max_user_namespaces") == 0 || ReadNumber("/proc/sys/kernel/unprivileged_userns_clone") == 0)
            throw new LivrableException(DiagnosticCodes.RunUnsupportedHost,
                "Rootless RUN needs user namespaces, and this system turns them off for unprivileged users " +
                "(sysctl user.max_user_namespaces or kernel.unprivileged_userns_clone): turn them on, or run the build as root.");
        uint uid = Native.GetEffectiveUserId();
        uint gid = Native.GetEffectiveGroupId();
        string? name = Native.UserName(uid);
        // newuidmap checks the ranges against the user's name, so without a name (a bare uid) there is no range to use.
        bool helpers = name is not null && FindProgram("newuidmap") is not null && FindProgram("newgidmap") is not null;
        var uids = helpers ? FindRange("/etc/subuid", name!, uid) : null;
        var gids = helpers ? FindRange("/etc/subgid", name!, uid) : null;
        if (uids is null || gids is null) (uids, gids) = (null, null);
        return new UserNamespace(unshare, uid, gid, uids, gids);
    }

    /// <summary>Whether <paramref name="uid"/> (an id inside) exists in the namespace.</summary>
    public bool HasUid(long uid) => uid == 0 || (SubordinateUids is { } r && uid >= 1 && uid <= r.Count);

    /// <summary>Whether <paramref name="gid"/> (an id inside) exists in the namespace.</summary>
    public bool HasGid(long gid) => gid == 0 || (SubordinateGids is { } r && gid >= 1 && gid <= r.Count);

    /// <summary>
    /// The script (its folder as <c>$1</c>) by which root of the namespace gives a folder a RUN wrote to itself, the
    /// build's user on the host, with read, write and search for it, so that this process can read, check and change
    /// every entry: chown drops set-id bits and file capabilities, so whoever needs the modes or capabilities reads
    /// them before (<see cref="UpperDiff.ReadGivenAsync"/>). <c>-h</c> and <c>-R</c> never follow a link.
    /// </summary>
    public const string GiveToBuildUser = "chown -R -h 0:0 -- \"$1\" && chmod -R u+rwX -- \"$1\"";

    /// <summary>
    /// A file the build's user cannot open on the host (another user's of the namespace, or in such a folder), read by
    /// root of the namespace (<c>cat</c>); the stream fails at its end when the file could not be read whole.
    /// </summary>
    public Stream OpenRead(string path)
    {
        var errors = new List<string>();
        var process = StartReading("exec cat -- \"$1\"", [path], line => { lock (errors) errors.Add(line); });
        return new ProcessOutputStream(process, () => { lock (errors) return $"Reading '{path}' in the user namespace failed: {string.Join(' ', errors)}"; });
    }

    /// <summary>A process's standard output, the process disposed with it; its end is an error when the process failed.</summary>
    private sealed class ProcessOutputStream(Process process, Func<string> failure) : Store.ReadOnlyStreamBase
    {
        private readonly Stream _output = process.StandardOutput.BaseStream;

        public override int Read(Span<byte> buffer)
        {
            int n = _output.Read(buffer);
            if (n == 0 && buffer.Length > 0) CheckExit();
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = await _output.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (n == 0 && buffer.Length > 0) CheckExit();
            return n;
        }

        private void CheckExit()
        {
            process.WaitForExit();
            if (process.ExitCode != 0) throw new IOException(failure());
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _output.Dispose();
                process.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    /// <summary>The <c>unshare</c> arguments that create the namespace (a new mount namespace too, private).</summary>
    public IReadOnlyList<string> UnshareArguments()
    {
        var arguments = new List<string> { "--mount", "--propagation", "private" };
        if (SubordinateUids is { } u && SubordinateGids is { } g)
        {
            arguments.Add("--map-user=0");
            arguments.Add("--map-group=0");
            arguments.Add(string.Create(CultureInfo.InvariantCulture, $"--map-users={u.Start},1,{u.Count}"));
            arguments.Add(string.Create(CultureInfo.InvariantCulture, $"--map-groups={g.Start},1,{g.Count}"));
        }
        else
        {
            arguments.Add("--map-root-user");
        }
        return arguments;
    }

    /// <summary>
    /// Starts <c>/bin/sh -c <paramref name="script"/> sh <paramref name="arguments"/></c> as root of the namespace; its
    /// output goes to <paramref name="output"/> line by line. Values go as arguments, never into the script's text.
    /// </summary>
    public Process Start(string script, IEnumerable<string> arguments, Action<string> output)
        => StartProcess(script, arguments, output, rawOutput: false);

    /// <summary>
    /// Starts a script whose standard output is data (<see cref="Process.StandardOutput"/>'s base stream, for the caller
    /// to read); standard error goes to <paramref name="errors"/> line by line.
    /// </summary>
    /// <remarks>With <paramref name="keepInput"/>, its standard input stays open for the caller to write (and close).</remarks>
    public Process StartReading(string script, IEnumerable<string> arguments, Action<string> errors, bool keepInput = false)
        => StartProcess(script, arguments, errors, rawOutput: true, keepInput);

    private Process StartProcess(string script, IEnumerable<string> arguments, Action<string> output, bool rawOutput, bool keepInput = false)
    {
        var start = new ProcessStartInfo(Unshare)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string a in UnshareArguments()) start.ArgumentList.Add(a);
        foreach (string a in new[] { "--", "/bin/sh", "-c", script, "sh" }) start.ArgumentList.Add(a);
        foreach (string a in arguments) start.ArgumentList.Add(a);
        var process = new Process { StartInfo = start };
        if (!rawOutput) process.OutputDataReceived += (_, e) => { if (e.Data is not null) output(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) output(e.Data); };
        try
        {
            if (!process.Start())
                throw new LivrableException(DiagnosticCodes.RuntimeFailed, $"'{Unshare}' did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            process.Dispose();
            throw new LivrableException(DiagnosticCodes.RuntimeFailed, $"'{Unshare}' could not be started: {e.Message}", inner: e);
        }
        if (!keepInput) process.StandardInput.Close();
        if (!rawOutput) process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Runs a script (<see cref="Start"/>) to its end; returns the exit code and the last lines it wrote.</summary>
    public async Task<(int ExitCode, string Output)> RunAsync(string script, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var lines = new Queue<string>();
        using var process = Start(script, arguments, line =>
        {
            lock (lines)
            {
                lines.Enqueue(line);
                if (lines.Count > 20) lines.Dequeue();
            }
        });
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        lock (lines) return (process.ExitCode, string.Join('\n', lines));
    }

    /// <summary>
    /// Deletes a folder the namespace wrote: files a RUN gave to another user of the namespace sit in folders the build's
    /// user may not write on the host, so what this process cannot delete is deleted by root of the namespace.
    /// </summary>
    public void DeleteTree(string path)
    {
        try
        {
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Below: in the namespace.
        }
        try
        {
            RunAsync("rm -rf -- \"$1\"", [path], CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (LivrableException)
        {
            // Left for a later cleanup; nothing reads it.
        }
    }

    /// <summary>The first range of <paramref name="name"/> (or of its uid written as a number) in a subuid(5) file.</summary>
    internal static IdRange? FindRange(string file, string name, uint uid)
    {
        try
        {
            foreach (string line in File.ReadLines(file))
            {
                var fields = line.Split(':');
                if (fields.Length != 3 || (fields[0] != name && fields[0] != uid.ToString(CultureInfo.InvariantCulture))) continue;
                if (uint.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out uint start)
                    && uint.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out uint count) && count > 0)
                    return new IdRange(start, count);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No file: no range.
        }
        return null;
    }

    private static long? ReadNumber(string path)
    {
        try
        {
            return long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) ? n : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? FindProgram(string name)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                     .Concat(["/usr/bin", "/bin", "/usr/sbin", "/sbin"]))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
