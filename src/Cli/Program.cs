using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Livrable.Build;
using Livrable.Cli.Protocol;
using Livrable.Diagnostics;

namespace Livrable.Cli;

/// <summary>
/// <c>dotnet Livrable.Cli.dll REQUEST.json [--watch-stdin]</c>: builds the image a request describes and reports on
/// standard output as protocol lines (<see cref="LogLine"/>). The request is the <c>BuildContainerImage</c> task's
/// parameters as JSON (<see cref="ImageBuildParameters"/>), mapped to the engine's request by the same code the
/// net8.0 task uses. Exit code 0 when the image was built (the last line is the <c>result</c>), 1 when an error was
/// reported, 2 for a wrong command line. SIGINT and SIGTERM cancel; so does the end of standard input with
/// <c>--watch-stdin</c>, which the .NET Framework task passes so that the build stops when MSBuild goes away.
/// </summary>
internal static class Program
{
    internal static readonly JsonSerializerOptions RequestOptions = new()
    {
        // A parameter the task sends that ImageBuildParameters does not know is a bug between the two halves: say so.
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    public static async Task<int> Main(string[] args)
    {
        bool watchStdin = args.Contains("--watch-stdin", StringComparer.Ordinal);
        var paths = args.Where(a => a != "--watch-stdin").ToList();
        if (paths.Count != 1 || paths[0].StartsWith('-'))
        {
            Console.Error.WriteLine("usage: dotnet Livrable.Cli.dll REQUEST.json [--watch-stdin]");
            return 2;
        }

        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            cancel.Cancel();
        });
        if (watchStdin)
        {
            new Thread(() =>
            {
                try
                {
                    while (Console.In.Read() >= 0) { }
                }
                catch (IOException) { }
                cancel.Cancel();
            }) { IsBackground = true, Name = "stdin watch" }.Start();
        }

        return await RunAsync(paths[0], new LineLogger(Console.Out), cancel.Token).ConfigureAwait(false);
    }

    /// <summary>Reads the request, builds, and reports; returns the exit code.</summary>
    internal static async Task<int> RunAsync(string requestPath, LineLogger logger, CancellationToken cancellationToken)
    {
        try
        {
            var parameters = JsonSerializer.Deserialize<ImageBuildParameters>(await File.ReadAllTextAsync(requestPath, cancellationToken).ConfigureAwait(false), RequestOptions)
                ?? throw new InvalidDataException($"The request {requestPath} is empty.");
            if (parameters.PlanOnly)
                throw new LivrableException(DiagnosticCodes.PlanNeedsDotNetMSBuild, "ContainerPlan needs MSBuild on .NET: run it as 'dotnet msbuild -t:ContainerPlan'.");
            var request = parameters.ToRequest();
            foreach (string line in ImageBuildParameters.Describe(request)) logger.Detail(line);
            var result = await ImageBuilder.BuildAsync(request, logger, cancellationToken).ConfigureAwait(false);
            logger.Write(new LogLine
            {
                Kind = LogLine.Result,
                Digest = result.Digest.ToString(),
                Reference = result.Reference,
                ArchivePath = request.Registry is null && request.LocalEngine is null ? request.ArchivePath : null,
            });
            return 0;
        }
        catch (Exception e)
        {
            logger.Error(Diagnostic.FromException(e));
            return 1;
        }
    }
}
