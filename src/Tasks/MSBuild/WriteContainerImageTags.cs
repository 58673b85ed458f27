using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// Writes what the registry tags the image is made from name now (<c>obj/.../container/image.tags</c>, one of the
/// image step's up-to-date inputs), as this build's head start resolved them (<see cref="Build.ImageBuildHeadStart"/>:
/// its manifest HEAD per tag, the one request an unchanged publish from a tag makes), rewritten only when it differs.
/// So a tag that still names the same image lets MSBuild skip the step as for a pinned base, and a tag that moved runs
/// it (issue 14: an unchanged publish from a tag ran the whole step to learn that nothing had moved). When the head
/// start did not resolve every tag (none was started, a pull failed, an image it does not resolve ahead such as
/// <c>COPY --from=</c>'s), the record is deleted and the step runs, as it always did: it asks the registry itself and
/// reports what is wrong. Thin: the head start answers (<see cref="Build.ImageBuildHeadStart.ResolveTags"/>). net8.0
/// only, in MSBuild's own process (the head start lives there).
/// </summary>
public sealed class WriteContainerImageTags : Microsoft.Build.Utilities.Task, ICancelableTask
{
    private readonly CancellationTokenSource _cancel = new();

    /// <summary>The registry tags, as ResolveContainerImageInputs gives them (<c>UnpinnedImages</c>: names, ';' between).</summary>
    [Required] public string Tags { get; set; } = "";

    /// <summary>The file of what they resolve to: written only when its text differs, so its time says when a tag moved.</summary>
    [Required] public string TagsFile { get; set; } = "";

    /// <summary>The image record (the step's output), deleted when a tag cannot be told here, so that MSBuild runs the step.</summary>
    [Required] public string RecordFile { get; set; } = "";

    /// <summary>The project's folder, which relative image paths are relative to.</summary>
    [Required] public string ProjectDirectory { get; set; } = "";

    /// <summary>The project file: with the build's global properties, whose head start to ask.</summary>
    [Required] public string ProjectPath { get; set; } = "";

    /// <inheritdoc/>
    public void Cancel() => _cancel.Cancel();

    /// <inheritdoc/>
    public override bool Execute()
    {
        var names = Tags.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        IReadOnlyList<string>? lines = null;
        try
        {
            lines = HeadStarts.Peek(BuildEngine, ProjectPath)?.ResolveTags(names, ProjectDirectory, _cancel.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        if (lines is null)
        {
            Log.LogMessage(MessageImportance.Low, "The image step runs: '{0}' is an image in a registry by tag, not resolved ahead of the step; the step resolves it.", Tags);
            WriteContainerImageInputs.Forget(RecordFile);
            return true;
        }
        string text = string.Concat(lines.Select(line => line + Environment.NewLine));
        Log.LogMessage(MessageImportance.Low, WriteContainerImageInputs.WriteIfDifferent(TagsFile, text)
            ? "The registry tags name other images than at the last image step: {0}"
            : "The registry tags name the images they named at the last image step: {0}", string.Join("; ", lines));
        return true;
    }
}
