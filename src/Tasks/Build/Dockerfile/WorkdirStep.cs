using System.Globalization;
using Livrable.Dockerfile;
using Livrable.Filesystem;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// WORKDIR (https://docs.docker.com/reference/dockerfile/#workdir): expanded, joined to the current working directory
/// when relative, and created (<c>mkdir -p</c>, 0755) as a layer unless it is <c>/</c>, as BuildKit's
/// <c>dispatchWorkdir</c> does; the history entry is <c>WORKDIR /abs</c>. Folders created are owned by the USER in
/// force, as BuildKit's <c>llb.Mkdir(..., WithUser)</c>: numeric or names resolved in the stage's <c>/etc/passwd</c>
/// and <c>/etc/group</c>; what cannot be resolved is 0, as BuildKit's <c>readUser</c> falls back (docs/dockerfile-choices.md).
/// </summary>
internal sealed class WorkdirStep(StepContext step, WorkdirInstruction workdir) : IBuildStep
{
    private string _directory = "/";

    /// <summary>Sets the working directory (a hit needs it too); the key gets the folder (USER is in every key).</summary>
    public Task<StepKeying> PrepareAsync(Cache.StepKey key, CancellationToken cancellationToken)
    {
        var state = step.State;
        string path = step.Services.Expander.Word(workdir.Path, state.Environment, step.Span);
        _directory = PathRules.NormalizeWorkdir(state.Config.WorkingDir, path);
        state.Config.WorkingDir = _directory;
        key.Add("directory", _directory);
        return Task.FromResult(StepKeying.Keyed);
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var state = step.State;
        string directory = _directory;
        string createdBy = "WORKDIR " + directory;
        if (directory == "/")
        {
            step.Services.AddHistory(state, createdBy);
            return;
        }
        var tree = await state.GetLookupAsync(cancellationToken).ConfigureAwait(false);
        var plan = new LayerPlan(tree, step.Span);
        var (uid, gid) = Owner(state.Config.User, tree, step.Span);
        plan.EnsureDirectory(plan.RealPath(directory), 0b111_101_101, uid, gid);
        await step.Services.AddLayerAsync(state, plan.Entries(), createdBy, cancellationToken, step.RunFollows).ConfigureAwait(false);
    }

    /// <summary>
    /// The owner of folders WORKDIR creates: the USER resolved like <c>--chown</c>; a name the image does not know
    /// falls back to the numeric parts of USER, else 0, rather than failing the build (USER itself is never checked
    /// at build time, so WORKDIR must not be stricter than it).
    /// </summary>
    private static (long Uid, long Gid) Owner(string? user, ITreeLookup tree, Diagnostics.SourceSpan span)
    {
        if (string.IsNullOrEmpty(user)) return (0, 0);
        try
        {
            return Ownership.Resolve(user, tree, span);
        }
        catch (Diagnostics.LivrableException)
        {
            return NumericUser(user);
        }
    }

    /// <summary>A numeric USER (<c>1000</c>, <c>1000:1000</c>) as uid and gid, else 0:0.</summary>
    public static (long Uid, long Gid) NumericUser(string? user)
    {
        if (string.IsNullOrEmpty(user)) return (0, 0);
        var parts = user.Split(':');
        if (parts.Length > 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long uid)) return (0, 0);
        if (parts.Length == 1) return (uid, uid);
        return long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long gid) ? (uid, gid) : (0, 0);
    }
}
