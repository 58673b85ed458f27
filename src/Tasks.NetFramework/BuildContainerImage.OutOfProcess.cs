using Livrable.Diagnostics;
using Livrable.NetFramework;

namespace Livrable.MSBuild;

/// <summary>
/// Builds one container image from MSBuild on .NET Framework, which cannot load the net8.0 engine: writes the
/// parameters (BuildContainerImage.Parameters.cs, shared with the net8.0 task) as JSON, runs
/// <c>dotnet Livrable.Cli.dll</c> on them, relays its log lines, and sets the outputs from its result line.
/// </summary>
public sealed partial class BuildContainerImage
{
    private volatile CliProcess? _process;
    private volatile bool _cancelled;

    /// <inheritdoc/>
    public void Cancel()
    {
        _cancelled = true;
        _process?.Cancel();
    }

    /// <inheritdoc/>
    public override bool Execute()
    {
        if (!CliProcess.TryLocate(Log, out string dotnet, out string cli)) return false;

        var process = new CliProcess(Log);
        _process = process;
        if (_cancelled) process.Cancel();
        var result = process.Run(dotnet, cli, RequestWriter.Write(this), Directory.GetCurrentDirectory());
        if (result is not null)
        {
            ImageDigest = result.Digest;
            ImageReference = result.Reference;
            ArchivePath = result.ArchivePath;
        }
        return !Log.HasLoggedErrors;
    }
}
