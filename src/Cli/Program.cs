using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Livrable.Build;
using Livrable.Cli.Protocol;
using Livrable.Diagnostics;

namespace Livrable.Cli;

/// <summary>
/// <c>dotnet Livrable.Cli.dll [--image-inputs] REQUEST.json [--watch-stdin]</c>: builds the image a request describes and reports on
/// standard output as protocol lines (<see cref="LogLine"/>). The request is the <c>BuildContainerImage</c> task's
/// parameters as JSON (<see cref="ImageBuildParameters"/>), mapped to the engine's request by the same code the
/// net8.0 task uses. Exit code 0 when the image was built (the last line is the <c>result</c>), 1 when an error was
/// reported, 2 for a wrong command line. SIGINT and SIGTERM cancel; so does the end of standard input with
/// <c>--watch-stdin</c>, which the .NET Framework task passes so that the build stops when MSBuild goes away.
/// With <c>--image-inputs</c> the request is the <c>ResolveContainerImageInputs</c> task's parameters
/// (<see cref="ImageInputsParameters"/>), and the result line lists the images' up-to-date inputs (<see cref="ImageInputs"/>).
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
        bool imageInputs = args.Contains(ImageInputsOption, StringComparer.Ordinal);
        var paths = args.Where(a => a != "--watch-stdin" && a != ImageInputsOption).ToList();
        if (paths.Count != 1 || paths[0].StartsWith('-'))
        {
            Console.Error.WriteLine("usage: dotnet Livrable.Cli.dll [--image-inputs] REQUEST.json [--watch-stdin]");
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

        var logger = new LineLogger(Console.Out);
        return imageInputs
            ? await ResolveInputsAsync(paths[0], logger, cancel.Token).ConfigureAwait(false)
            : await RunAsync(paths[0], logger, cancel.Token).ConfigureAwait(false);
    }

    /// <summary>The option that makes the request <c>ResolveContainerImageInputs</c>' rather than <c>BuildContainerImage</c>'s.</summary>
    internal const string ImageInputsOption = "--image-inputs";

    /// <summary>Reads an <see cref="ImageInputsParameters"/> request, resolves the images' inputs, reports them; returns the exit code.</summary>
    internal static async Task<int> ResolveInputsAsync(string requestPath, LineLogger logger, CancellationToken cancellationToken)
    {
        try
        {
            var parameters = JsonSerializer.Deserialize<ImageInputsParameters>(await File.ReadAllTextAsync(requestPath, cancellationToken).ConfigureAwait(false), RequestOptions)
                ?? throw new InvalidDataException($"The request {requestPath} is empty.");
            ImageInputsResult result;
            try
            {
                result = ImageInputs.Resolve(parameters.ToRequest());
            }
            catch (LivrableException e)
            {
                result = new ImageInputsResult([], [], e.Message);
            }
            logger.Write(new LogLine
            {
                Kind = LogLine.Result,
                InputFiles = result.Files.Count > 0 ? string.Join("\n", result.Files) : null,
                UnpinnedImages = result.Tags.Count > 0 ? string.Join("\n", result.Tags) : null,
                Message = result.Unresolved,
            });
            return 0;
        }
        catch (Exception e)
        {
            logger.Error(Diagnostic.FromException(e));
            return 1;
        }
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
