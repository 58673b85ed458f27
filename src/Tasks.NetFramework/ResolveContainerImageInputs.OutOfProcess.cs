using Livrable.NetFramework;

namespace Livrable.MSBuild;

/// <summary>
/// The images' up-to-date inputs from MSBuild on .NET Framework, which cannot load the net8.0 engine: writes the
/// parameters (ResolveContainerImageInputs.Parameters.cs, shared with the net8.0 task) as JSON, runs
/// <c>dotnet Livrable.Cli.dll --image-inputs</c> on them, and sets the outputs from its result line. When the CLI
/// cannot run (LIV9003 logged by <see cref="CliProcess"/>) the build fails, as BuildContainerImage would next.
/// </summary>
public sealed partial class ResolveContainerImageInputs
{
    /// <inheritdoc/>
    public override bool Execute()
    {
        if (!CliProcess.TryLocate(Log, out string dotnet, out string cli)) return false;
        var result = new CliProcess(Log).Run(dotnet, cli, RequestWriter.Write(this), Directory.GetCurrentDirectory(), "--image-inputs");
        if (result is null) return false;
        InputFiles = Lines(result.InputFiles);
        UnpinnedImages = result.UnpinnedImages is null ? null : string.Join(";", Lines(result.UnpinnedImages));
        Unresolved = result.Message;
        Report();
        return !Log.HasLoggedErrors;
    }

    private static string[] Lines(string? joined) => joined is null ? new string[0] : joined.Split(new[] { '\n' }, StringSplitOptions.RemoveEmptyEntries);
}
