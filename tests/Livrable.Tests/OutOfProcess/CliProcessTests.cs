using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Livrable.Diagnostics;
using Livrable.MSBuild;
using Livrable.NetFramework;
using Livrable.Tests.MSBuild;
using Livrable.Tests.Infrastructure;
using Microsoft.Build.Framework;
using Xunit;
using TaskItem = Microsoft.Build.Utilities.TaskItem;

namespace Livrable.Tests.OutOfProcess;

/// <summary>
/// The .NET Framework task's relay (<see cref="CliProcess"/>, compiled here for net10.0 from the same file): finding
/// dotnet and the CLI, quoting, mapping protocol lines to the MSBuild log, running and cancelling the CLI.
/// </summary>
public sealed class CliProcessTests : IDisposable
{
    private static readonly string CliPath = Path.Combine(AppContext.BaseDirectory, "Livrable.Cli.dll");
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static (CliProcess Process, BuildContainerImageTests.FakeEngine Engine) NewProcess()
    {
        var engine = new BuildContainerImageTests.FakeEngine();
        var task = new BuildContainerImage { BuildEngine = engine };
        return (new CliProcess(task.Log), engine);
    }

    private static string DotNet() => CliProcess.FindDotNet(Environment.GetEnvironmentVariable, File.Exists, OperatingSystem.IsWindows())
        ?? throw new Xunit.Sdk.XunitException("No dotnet found for the CLI.");

    [Fact]
    public void FindsDotNetInOrder()
    {
        var env = new Dictionary<string, string>
        {
            ["DOTNET_HOST_PATH"] = @"C:\sdk\dotnet.exe",
            ["DOTNET_ROOT"] = @"D:\dotnet",
            ["PATH"] = @"C:\Windows;""E:\tools"";",
            ["ProgramFiles"] = @"C:\Program Files",
        };
        string? Find(params string[] existing) => CliProcess.FindDotNet(n => env.GetValueOrDefault(n), existing.Contains, windows: true);

        Assert.Equal(@"C:\sdk\dotnet.exe", Find(@"C:\sdk\dotnet.exe", Path.Combine(@"D:\dotnet", "dotnet.exe")));
        Assert.Equal(Path.Combine(@"D:\dotnet", "dotnet.exe"), Find(Path.Combine(@"D:\dotnet", "dotnet.exe"), Path.Combine(@"E:\tools", "dotnet.exe")));
        Assert.Equal(Path.Combine(@"E:\tools", "dotnet.exe"), Find(Path.Combine(@"E:\tools", "dotnet.exe")));
        Assert.Equal(Path.Combine(@"C:\Program Files", "dotnet", "dotnet.exe"), Find(Path.Combine(@"C:\Program Files", "dotnet", "dotnet.exe")));
        Assert.Null(Find());
        // Not Windows: no .exe, ':' separates PATH, no Program Files.
        env["PATH"] = "/usr/bin:/opt/dotnet";
        Assert.Equal("/opt/dotnet/dotnet", CliProcess.FindDotNet(n => n == "PATH" ? env["PATH"] : null, p => p == "/opt/dotnet/dotnet", windows: false));
    }

    [Fact]
    public void FindsTheCliBesideTheTasksFolder()
    {
        string tasks = Path.Combine(_temp.Path, "tasks");
        string packed = Path.Combine(tasks, "net8.0", "Livrable.Cli.dll");
        string beside = Path.Combine(tasks, "net472", "Livrable.Cli.dll");
        Assert.Equal(packed, CliProcess.FindCli(Path.Combine(tasks, "net472"), p => p == packed || p == beside));
        Assert.Equal(beside, CliProcess.FindCli(Path.Combine(tasks, "net472"), p => p == beside));
        Assert.Null(CliProcess.FindCli(Path.Combine(tasks, "net472"), _ => false));
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("", "\"\"")]
    [InlineData(@"C:\Program Files\x.dll", @"""C:\Program Files\x.dll""")]
    [InlineData(@"a ""b""", @"""a \""b\""""")]
    [InlineData(@"C:\dir with space\", @"""C:\dir with space\\""")]
    [InlineData(@"a\\""b c", @"""a\\\\\""b c""")]
    public void QuotesArgumentsAsWindowsReadsThem(string argument, string quoted)
        => Assert.Equal(quoted, CliProcess.QuoteArgument(argument));

    [Fact]
    public void QuotedArgumentsSurviveTheTripThroughAProcess()
    {
        // .NET parses ProcessStartInfo.Arguments with CommandLineToArgvW's rules on every OS: what goes in comes out.
        string[] arguments = ["plain", "", "with space", "quote\"inside", @"trailing\", @"back\\""slash x"];
        var start = new ProcessStartInfo("printf", "%s\\n " + string.Join(' ', arguments.Select(CliProcess.QuoteArgument))) { RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(arguments, output.Split('\n')[..arguments.Length]);
    }

    [Fact]
    public void RelaysEachKindOfLine()
    {
        var (process, engine) = NewProcess();

        Assert.Null(process.Relay("""{"kind":"info","message":"[1/3] FROM scratch"}"""));
        Assert.Null(process.Relay("""{"kind":"detail","message":"skipped blob"}"""));
        Assert.Null(process.Relay("""{"kind":"warning","code":"LIV1001","file":"Dockerfile","line":3,"column":2,"message":"odd"}"""));
        Assert.Null(process.Relay("""{"kind":"error","code":"LIV1002","file":"Dockerfile","line":4,"column":5,"endLine":4,"endColumn":9,"message":"caf\u00e9 \"bad\""}"""));
        Assert.Null(process.Relay("not a protocol line"));
        Assert.Null(process.Relay("   "));
        var result = process.Relay("""{"kind":"result","digest":"sha256:abc","reference":"app:v1","archivePath":"/tmp/app.tar"}""");

        Assert.Contains(engine.Messages, m => m.Message == "[1/3] FROM scratch" && m.Importance == MessageImportance.High);
        Assert.Contains(engine.Messages, m => m.Message == "skipped blob" && m.Importance == MessageImportance.Low);
        Assert.Contains(engine.Messages, m => m.Message == "not a protocol line" && m.Importance == MessageImportance.Low);
        var w = Assert.Single(engine.Warnings);
        Assert.Equal(("LIV1001", "Dockerfile", 3, 2, "odd"), (w.Code, w.File, w.LineNumber, w.ColumnNumber, w.Message));
        Assert.Equal(DiagnosticHelp.Link("LIV1001"), w.HelpLink);
        var e = Assert.Single(engine.Errors);
        Assert.Equal(("LIV1002", "Dockerfile", 4, 5, 4, 9, "café \"bad\""), (e.Code, e.File, e.LineNumber, e.ColumnNumber, e.EndLineNumber, e.EndColumnNumber, e.Message));
        Assert.Equal(DiagnosticHelp.Link("LIV1002"), e.HelpLink);
        Assert.Equal(("sha256:abc", "app:v1", "/tmp/app.tar"), (result!.Digest, result.Reference, result.ArchivePath));
    }

    [Fact]
    public void RunsTheCliAndReturnsItsResult()
    {
        var (process, engine) = NewProcess();
        var task = new BuildContainerImage
        {
            BuildEngine = engine,
            BaseImage = "scratch",
            RuntimeIdentifier = "linux-x64",
            Repository = "relay",
            Tags = ["latest"],
            ArchiveOutputPath = "out/relay.tar", // relative: resolved against the working directory given
            StateDirectory = Path.Combine(_temp.Path, "state"),
            Labels = [new TaskItem("a")],
        };

        var result = process.Run(DotNet(), CliPath, RequestWriter.Write(task), _temp.Path);

        Assert.True(result is not null, string.Join("\n", engine.Errors.Select(e => e.Message).Concat(engine.Messages.Select(m => m.Message))));
        Assert.Empty(engine.Errors);
        Assert.Equal(Path.Combine(_temp.Path, "out", "relay.tar"), result.ArchivePath);
        Assert.True(File.Exists(result.ArchivePath));
        Assert.Contains(engine.Messages, m => m.Importance == MessageImportance.High && m.Message?.StartsWith("Built relay:latest", StringComparison.Ordinal) == true);
        // The request file is gone.
        Assert.DoesNotContain(Directory.GetFiles(Path.GetTempPath(), "livrable-*.json"), f => ReadOrEmpty(f).Contains("\"Repository\":\"relay\"", StringComparison.Ordinal));
    }

    private static string ReadOrEmpty(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return ""; }
    }

    [Fact]
    public void ACliThatCannotRunIsLIV9003()
    {
        var (process, engine) = NewProcess();
        Assert.Null(process.Run(DotNet(), Path.Combine(_temp.Path, "missing.dll"), "{}", _temp.Path));
        Assert.Equal("LIV9003", Assert.Single(engine.Errors).Code);

        (process, engine) = NewProcess();
        Assert.Null(process.Run(Path.Combine(_temp.Path, "no-dotnet"), CliPath, "{}", _temp.Path));
        var error = Assert.Single(engine.Errors);
        Assert.Equal(("LIV9003", DiagnosticHelp.Link("LIV9003")), (error.Code, error.HelpLink));
    }

    /// <summary>A base image whose registry accepts connections and never answers: only cancellation ends the build.</summary>
    [Fact]
    public async Task CancelStopsTheCliThroughItsStandardInput()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var accepted = new List<TcpClient>();
        _ = Task.Run(async () =>
        {
            try
            {
                while (true) accepted.Add(await listener.AcceptTcpClientAsync());
            }
            catch (ObjectDisposedException) { }
            catch (SocketException) { }
        });
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var (process, engine) = NewProcess();
        var task = new BuildContainerImage
        {
            BuildEngine = engine,
            BaseImage = $"127.0.0.1:{port}/silent:1",
            RuntimeIdentifier = "linux-x64",
            Repository = "cancelled",
            Tags = ["latest"],
            ArchiveOutputPath = Path.Combine(_temp.Path, "never.tar"),
            StateDirectory = Path.Combine(_temp.Path, "state"),
        };

        var clock = Stopwatch.StartNew();
        var run = Task.Run(() => process.Run(DotNet(), CliPath, RequestWriter.Write(task), _temp.Path));
        while (accepted.Count == 0 && clock.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(50);
        Assert.NotEmpty(accepted);
        process.Cancel();
        var result = await run.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Null(result);
        // Closing stdin let the CLI cancel and say so, well before the kill.
        Assert.Equal("LIV9002", Assert.Single(engine.Errors).Code);
        foreach (var client in accepted) client.Dispose();
    }
}
