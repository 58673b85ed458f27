using System.Globalization;
using Livrable.Dockerfile;
using Livrable.Filesystem;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// WORKDIR (https://docs.docker.com/reference/dockerfile/#workdir): expanded, joined to the current working directory
/// when relative, and created (<c>mkdir -p</c>, 0755) as a layer unless it is <c>/</c>, as BuildKit's
/// <c>dispatchWorkdir</c> does; the history entry is <c>WORKDIR /abs</c>. Folders created are owned by 0:0, or by
/// the USER in force when it is numeric (<c>uid[:gid]</c>; a uid alone gives gid = uid). BuildKit also resolves a
/// USER name through the image's <c>/etc/passwd</c>; Livrable does not (docs/dockerfile-choices.md).
/// </summary>
internal static class WorkdirStep
{
    public static async Task RunAsync(StepContext step, WorkdirInstruction workdir, CancellationToken cancellationToken)
    {
        var state = step.State;
        string path = step.Session.Expander.Word(workdir.Path, state.Environment, step.Span);
        string directory = PathRules.NormalizeWorkdir(state.Config.WorkingDir, path);
        state.Config.WorkingDir = directory;
        string createdBy = "WORKDIR " + directory;
        if (directory == "/")
        {
            step.Session.AddHistory(state, createdBy);
            return;
        }
        var tree = await state.GetTreeAsync(cancellationToken).ConfigureAwait(false);
        var plan = new LayerPlan(tree, step.Span);
        var (uid, gid) = NumericUser(state.Config.User);
        plan.EnsureDirectory(plan.RealPath(directory), 0b111_101_101, uid, gid);
        await step.Session.AddLayerAsync(state, plan.Entries(), createdBy, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The owner of folders WORKDIR creates: a numeric USER (<c>1000</c>, <c>1000:1000</c>), else 0:0.</summary>
    public static (long Uid, long Gid) NumericUser(string? user)
    {
        if (string.IsNullOrEmpty(user)) return (0, 0);
        var parts = user.Split(':');
        if (parts.Length > 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long uid)) return (0, 0);
        if (parts.Length == 1) return (uid, uid);
        return long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long gid) ? (uid, gid) : (0, 0);
    }
}
