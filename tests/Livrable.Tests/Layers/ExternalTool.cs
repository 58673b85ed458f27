using Xunit;
using System.Diagnostics;
using System.Text.Json;

namespace Livrable.Tests.Layers;

/// <summary>
/// Runs the independent tools that check what Livrable writes (GNU tar, python3's tarfile and gzip, gzip, pigz).
/// A missing tool fails the test with what to install: it never skips, locally or on CI.
/// </summary>
internal static class ExternalTool
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>Runs <paramref name="program"/> and returns its exit code and output; never throws for a non-zero exit.</summary>
    public static Result Run(string program, IEnumerable<string> arguments, string? workingDirectory = null, string? stdin = null)
    {
        string path = Find(program);
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        // Stable output from tar and python whatever the machine's locale.
        start.Environment["LC_ALL"] = "C.UTF-8";
        start.Environment["TZ"] = "UTC";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {path}.");
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish in 2 minutes.");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs and asserts success; returns stdout.</summary>
    public static string Check(string program, params string[] arguments) => CheckIn(null, program, arguments);

    /// <summary>Runs in <paramref name="workingDirectory"/> and asserts success; returns stdout.</summary>
    public static string CheckIn(string? workingDirectory, string program, params string[] arguments)
    {
        var result = Run(program, arguments, workingDirectory);
        Assert.True(result.ExitCode == 0,
            $"{program} {string.Join(' ', arguments)} exited with {result.ExitCode}.\nstdout: {result.Stdout}\nstderr: {result.Stderr}");
        return result.Stdout;
    }

    /// <summary>Runs a python3 script (given on the command line) with arguments; returns stdout.</summary>
    public static string Python(string script, params string[] arguments) => Check("python3", ["-c", script, .. arguments]);

    /// <summary>
    /// The members of a tar as python's tarfile reads them (plain or compressed, detected by tarfile):
    /// one object per member, in archive order.
    /// </summary>
    public static IReadOnlyList<TarMember> ReadWithPython(string tarPath)
    {
        const string script = """
            import json, sys, tarfile
            out = []
            with tarfile.open(sys.argv[1], 'r:*') as t:
                for m in t:
                    out.append(dict(name=m.name, type=m.type.decode('latin-1'), mode=m.mode, uid=m.uid, gid=m.gid,
                                    uname=m.uname, gname=m.gname, mtime=int(m.mtime), size=m.size, linkname=m.linkname,
                                    devmajor=m.devmajor, devminor=m.devminor, pax=m.pax_headers))
            json.dump(out, sys.stdout)
            """;
        string json = Python(script, tarPath);
        return JsonSerializer.Deserialize<List<TarMember>>(json, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
    }

    private static string Find(string program)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
            if (OperatingSystem.IsWindows() && File.Exists(candidate + ".exe")) return candidate + ".exe";
        }
        Assert.Fail($"'{program}' is needed by this test and is not on PATH: install it (Debian: apt-get install {Package(program)}).");
        return "";
    }

    private static string Package(string program) => program switch
    {
        "python3" => "python3",
        "tar" => "tar",
        "pigz" => "pigz",
        "gzip" => "gzip",
        _ => program,
    };
}

/// <summary>A tar member as python's tarfile reports it.</summary>
internal sealed record TarMember(
    string Name, string Type, int Mode, long Uid, long Gid, string Uname, string Gname, long Mtime, long Size,
    string Linkname, int Devmajor, int Devminor, Dictionary<string, string> Pax);
