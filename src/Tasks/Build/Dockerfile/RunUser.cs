using System.Globalization;
using System.Text;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Runtime;
using Livrable.Store;

namespace Livrable.Build.Dockerfile;

/// <summary>The user a RUN's process runs as, resolved in the stage's <c>/etc/passwd</c> and <c>/etc/group</c>.</summary>
internal static class RunUser
{
    /// <summary>
    /// USER as runc needs it (moby/sys/user's <c>GetExecUser</c>, which BuildKit uses): a number passes (its group from
    /// passwd when listed, else 0); a name must be in <c>/etc/passwd</c> (LIV5009, BuildKit's "unable to find user");
    /// a group likewise in <c>/etc/group</c>; without a group, the groups listing the user are added.
    /// </summary>
    public static async Task<(long Uid, long Gid, IReadOnlyList<long> Groups)> ResolveAsync(StepContext step, CancellationToken cancellationToken)
    {
        string? user = step.State.Config.User;
        if (string.IsNullOrEmpty(user)) return (0, 0, []);
        int colon = user.IndexOf(':');
        string name = colon < 0 ? user : user[..colon];
        string? group = colon < 0 ? null : user[(colon + 1)..];
        var tree = await step.State.GetLookupAsync(cancellationToken).ConfigureAwait(false);
        var passwd = await ReadAsync(tree, "/etc/passwd", cancellationToken).ConfigureAwait(false);
        var groupFile = await ReadAsync(tree, "/etc/group", cancellationToken).ConfigureAwait(false);

        long uid, gid = 0;
        string? userName = null;
        if (long.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out uid))
        {
            var entry = passwd.FirstOrDefault(f => f.Length >= 4 && f[2] == name);
            if (entry is not null && long.TryParse(entry[3], NumberStyles.None, CultureInfo.InvariantCulture, out long g)) gid = g;
            userName = entry?[0];
        }
        else
        {
            var entry = passwd.FirstOrDefault(f => f.Length >= 4 && f[0] == name
                    && long.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out _)
                    && long.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out _))
                ?? throw new LivrableException(DiagnosticCodes.RunUserNotFound,
                    $"unable to find user {name}: no matching entries in passwd file", step.Span);
            uid = long.Parse(entry[2], CultureInfo.InvariantCulture);
            gid = long.Parse(entry[3], CultureInfo.InvariantCulture);
            userName = name;
        }
        if (group is not null)
        {
            if (long.TryParse(group, NumberStyles.None, CultureInfo.InvariantCulture, out long g)) return (uid, g, []);
            var entry = groupFile.FirstOrDefault(f => f.Length >= 3 && f[0] == group
                    && long.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out _))
                ?? throw new LivrableException(DiagnosticCodes.RunUserNotFound,
                    $"unable to find group {group}: no matching entries in group file", step.Span);
            return (uid, long.Parse(entry[2], CultureInfo.InvariantCulture), []);
        }
        var groups = new List<long>();
        if (userName is not null)
            foreach (var f in groupFile)
                if (f.Length >= 4 && f[3].Split(',').Contains(userName) && long.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out long g) && g != gid)
                    groups.Add(g);
        return (uid, gid, groups);
    }

    private static async Task<List<string[]>> ReadAsync(ITreeLookup tree, string path, CancellationToken cancellationToken)
    {
        var entry = tree.Resolve(path);
        if (entry is null) return [];
        byte[]? bytes = await FileTree.ReadSmallFileAsync(entry, cancellationToken).ConfigureAwait(false);
        if (bytes is null) return [];
        return Encoding.UTF8.GetString(bytes).Split('\n')
            .Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(':')).ToList();
    }
}
