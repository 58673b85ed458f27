using System.Diagnostics;
using System.Text;
using Livrable.Cli.Protocol;
using Livrable.Diagnostics;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Livrable.NetFramework;

/// <summary>
/// One run of <c>dotnet Livrable.Cli.dll REQUEST.json --watch-stdin</c> for a task: starts it in the project's folder,
/// relays each protocol line to the task's log as it comes (info at high importance, detail at low, warnings and
/// errors with their code and span), and returns the result line. Cancel closes the CLI's standard input, which
/// cancels the build there (LIV9002), and kills the process if it has not ended ten seconds later.
/// </summary>
internal sealed class CliProcess
{
    private static readonly TimeSpan CancelGrace = TimeSpan.FromSeconds(10);

    private readonly TaskLoggingHelper _log;
    private readonly object _gate = new();
    private Process? _process;
    private bool _cancelled;

    public CliProcess(TaskLoggingHelper log) => _log = log;

    /// <summary>LIV9003 (the CLI could not be found, started, or gave no result), with its help link as the net8.0 task's errors have.</summary>
    private static void LogFailure(TaskLoggingHelper log, string format, params object[] args)
        => log.LogError(null, DiagnosticCodes.OutOfProcessFailed, null, DiagnosticHelp.Link(DiagnosticCodes.OutOfProcessFailed), null, 0, 0, 0, 0, format, args);

    /// <summary>
    /// The <c>dotnet</c> to run the CLI with: <c>DOTNET_HOST_PATH</c> (which the .NET SDK sets for the build it runs),
    /// then <c>DOTNET_ROOT</c>, then <c>PATH</c>, then <c>%ProgramFiles%\dotnet</c> on Windows; null when none exists.
    /// </summary>
    public static string? FindDotNet(Func<string, string?> environment, Func<string, bool> fileExists, bool windows)
    {
        string executable = windows ? "dotnet.exe" : "dotnet";
        var candidates = new List<string>();
        if (environment("DOTNET_HOST_PATH") is { Length: > 0 } host) candidates.Add(host);
        if (environment("DOTNET_ROOT") is { Length: > 0 } root) candidates.Add(Path.Combine(root, executable));
        foreach (string dir in (environment("PATH") ?? "").Split(new[] { windows ? ';' : ':' }, StringSplitOptions.RemoveEmptyEntries))
        {
            string trimmed = dir.Trim().Trim('"');
            if (trimmed.Length > 0) candidates.Add(Path.Combine(trimmed, executable));
        }
        if (windows && environment("ProgramFiles") is { Length: > 0 } programFiles)
            candidates.Add(Path.Combine(Path.Combine(programFiles, "dotnet"), executable));
        return candidates.FirstOrDefault(fileExists);
    }

    /// <summary>
    /// <c>Livrable.Cli.dll</c> for a task assembly in <paramref name="taskDirectory"/>: in the package it is in
    /// <c>tasks/net8.0/</c> beside <c>tasks/net472/</c>; next to the task assembly also works.
    /// </summary>
    public static string? FindCli(string taskDirectory, Func<string, bool> fileExists)
    {
        string[] candidates =
        [
            Path.GetFullPath(Path.Combine(Path.Combine(Path.Combine(taskDirectory, ".."), "net8.0"), "Livrable.Cli.dll")),
            Path.GetFullPath(Path.Combine(taskDirectory, "Livrable.Cli.dll")),
        ];
        return candidates.FirstOrDefault(fileExists);
    }

    /// <summary>
    /// The <c>dotnet</c> (<see cref="FindDotNet"/>) and the CLI beside this task assembly (<see cref="FindCli"/>) for a
    /// task; false, with LIV9003 logged, when either is missing.
    /// </summary>
    public static bool TryLocate(TaskLoggingHelper log, out string dotnet, out string cli)
    {
        bool windows = Environment.OSVersion.Platform == PlatformID.Win32NT;
        dotnet = FindDotNet(Environment.GetEnvironmentVariable, File.Exists, windows) ?? "";
        cli = "";
        if (dotnet.Length == 0)
        {
            LogFailure(log,
                "No dotnet was found to run Livrable (DOTNET_HOST_PATH, DOTNET_ROOT, PATH, %ProgramFiles%\\dotnet): install the .NET SDK 8.0 or later.");
            return false;
        }
        string taskDirectory = Path.GetDirectoryName(typeof(CliProcess).Assembly.Location)!;
        cli = FindCli(taskDirectory, File.Exists) ?? "";
        if (cli.Length == 0)
        {
            LogFailure(log,
                "Livrable.Cli.dll is not in {0}: the Livrable.Sdk package is incomplete.", Path.Combine(taskDirectory, "..", "net8.0"));
            return false;
        }
        return true;
    }

    /// <summary>
    /// One argument quoted for a command line, as <c>CommandLineToArgvW</c> and .NET's own parser read it back: in
    /// double quotes when it has a space, tab or quote (or is empty), with backslashes doubled before a quote.
    /// </summary>
    public static string QuoteArgument(string argument)
    {
        if (argument.Length > 0 && argument.IndexOfAny(new[] { ' ', '\t', '\n', '\v', '"' }) < 0) return argument;
        var quoted = new StringBuilder("\"");
        for (int i = 0; i < argument.Length; i++)
        {
            int backslashes = 0;
            while (i < argument.Length && argument[i] == '\\')
            {
                backslashes++;
                i++;
            }
            if (i == argument.Length)
            {
                quoted.Append('\\', backslashes * 2);
                break;
            }
            if (argument[i] == '"') quoted.Append('\\', backslashes * 2 + 1).Append('"');
            else quoted.Append('\\', backslashes).Append(argument[i]);
        }
        return quoted.Append('"').ToString();
    }

    /// <summary>
    /// Runs the CLI on <paramref name="requestJson"/> and relays its lines; returns the result line, or null when the
    /// build failed (the errors are logged: the CLI's own, or LIV9003 when it reported none). <paramref name="option"/>
    /// goes before the request (<c>--image-inputs</c>); null for a build.
    /// </summary>
    public LogLine? Run(string dotnet, string cli, string requestJson, string workingDirectory, string? option = null)
    {
        string requestPath = Path.Combine(Path.GetTempPath(), "livrable-" + Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(requestPath, requestJson, new UTF8Encoding(false));
        try
        {
            return RunRequest(dotnet, cli, requestPath, workingDirectory, option);
        }
        finally
        {
            try { File.Delete(requestPath); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Stops the build: closes the CLI's standard input, then kills it if it is still there after the grace time.</summary>
    public void Cancel()
    {
        Process? process;
        lock (_gate)
        {
            _cancelled = true;
            process = _process;
        }
        if (process is null) return;
        try { process.StandardInput.Close(); }
        catch (IOException) { }
        catch (InvalidOperationException) { }
        System.Threading.Tasks.Task.Run(() =>
        {
            try
            {
                if (!process.WaitForExit((int)CancelGrace.TotalMilliseconds)) process.Kill();
            }
            catch (InvalidOperationException) { }
            catch (System.ComponentModel.Win32Exception) { }
        });
    }

    /// <summary>Relays one line of the CLI's standard output to the log; returns it when it is the result.</summary>
    public LogLine? Relay(string text)
    {
        var line = LogLine.Parse(text);
        if (line is null)
        {
            // Not a protocol line (a runtime message, say): keep it, quietly.
            if (text.Trim().Length > 0) _log.LogMessage(MessageImportance.Low, "{0}", text);
            return null;
        }
        string message = line.Message ?? "";
        switch (line.Kind)
        {
            case LogLine.Info:
                _log.LogMessage(MessageImportance.High, "{0}", message);
                break;
            case LogLine.Warning:
                _log.LogWarning(null, line.Code, null, DiagnosticHelp.Link(line.Code), line.File, line.Line, line.Column, line.EndLine, line.EndColumn, "{0}", message);
                break;
            case LogLine.Error:
                _log.LogError(null, line.Code, null, DiagnosticHelp.Link(line.Code), line.File, line.Line, line.Column, line.EndLine, line.EndColumn, "{0}", message);
                break;
            case LogLine.Result:
                return line;
            default:
                _log.LogMessage(MessageImportance.Low, "{0}", message);
                break;
        }
        return null;
    }

    private LogLine? RunRequest(string dotnet, string cli, string requestPath, string workingDirectory, string? option)
    {
        string arguments = QuoteArgument(cli) + (option is null ? "" : " " + option) + " " + QuoteArgument(requestPath) + " --watch-stdin";
        var start = new ProcessStartInfo(dotnet, arguments)
        {
            UseShellExecute = false,
            CreateNoWindow = true,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = workingDirectory,
        };
        _log.LogMessage(MessageImportance.Low, "Livrable: {0} {1}", dotnet, start.Arguments);

        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.AppendLine(e.Data);
        };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            LogFailure(_log,
                "Could not start {0} {1}: {2}", dotnet, start.Arguments, e.Message);
            return null;
        }
        bool cancelled;
        lock (_gate)
        {
            _process = process;
            cancelled = _cancelled;
        }
        if (cancelled) Cancel();
        process.BeginErrorReadLine();

        LogLine? result = null;
        bool errors = false;
        string? text;
        while ((text = process.StandardOutput.ReadLine()) is not null)
        {
            var line = Relay(text);
            if (line is not null) result = line;
            else if (LogLine.Parse(text)?.Kind == LogLine.Error) errors = true;
        }
        process.WaitForExit();
        lock (_gate) _process = null;

        string errorOutput;
        lock (stderr) errorOutput = stderr.ToString().Trim();
        if (errorOutput.Length > 0) _log.LogMessage(MessageImportance.Low, "Livrable.Cli standard error:\n{0}", errorOutput);

        if (process.ExitCode == 0 && result is not null) return result;
        if (!errors)
        {
            LogFailure(_log,
                "Livrable.Cli ended with exit code {0} and no result{1}", process.ExitCode,
                errorOutput.Length > 0 ? ": " + errorOutput : ".");
        }
        return null;
    }
}
