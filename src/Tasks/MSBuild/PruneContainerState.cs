using Livrable.Diagnostics;
using Livrable.Store;
using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// The <c>PruneContainerState</c> target's task: evicts the least recently used entries of the state folder down to
/// <see cref="MaxSize"/> (or all of them), once no build is using it. Thin: one <see cref="StatePruneRequest"/>, one
/// call to <c>StatePruner.PruneAsync</c>, errors as diagnostics.
/// </summary>
public sealed class PruneContainerState : Microsoft.Build.Utilities.Task, ICancelableTask
{
    private readonly CancellationTokenSource _cancel = new();

    /// <summary>The state folder (ContainerStateDirectory).</summary>
    [Required] public string StateDirectory { get; set; } = "";

    /// <summary>The size to keep (ContainerStateMaxSize: bytes, or 500MB, 20GB...); 0 empties the folder; 20 GB when empty.</summary>
    public string? MaxSize { get; set; }

    /// <summary>ContainerPruneAll: empty the folder whatever MaxSize says.</summary>
    public bool All { get; set; }

    /// <summary>ContainerPruneVerify: check every blob against its digest first and remove those that fail.</summary>
    public bool Verify { get; set; }

    /// <summary>Bytes freed.</summary>
    [Output] public long FreedBytes { get; set; }

    /// <inheritdoc/>
    public void Cancel() => _cancel.Cancel();

    /// <inheritdoc/>
    public override bool Execute()
    {
        try
        {
            var request = new StatePruneRequest { StateDirectory = StateDirectory, MaxSize = MaxSize, All = All, Verify = Verify };
            var result = StatePruner.PruneAsync(request, new MSBuildLogger(Log), _cancel.Token).GetAwaiter().GetResult();
            FreedBytes = result.BytesFreed;
            Log.LogMessage(MessageImportance.High, "Pruned {0}: freed {1} bytes in {2} entries, {3} bytes left{4}", StateDirectory,
                result.BytesFreed, result.EntriesRemoved, result.BytesAfter,
                result.CorruptBlobs.Count > 0 ? $", {result.CorruptBlobs.Count} corrupt blobs removed" : "");
        }
        catch (Exception e)
        {
            MSBuildLogger.Error(Log, e);
        }
        return !Log.HasLoggedErrors;
    }
}
