using System.Globalization;
using System.Text;
using Livrable.Diagnostics;

namespace Livrable.Filesystem;

/// <summary>
/// The owner <c>--chown=user[:group]</c> gives, as BuildKit reads it (<c>dockerfile2llb</c>'s <c>parseUser</c> and
/// <c>solver/llbsolver/ops/user_linux.go: readUser</c>): a decimal number is an id, <c>root</c> is 0, anything else
/// is a name looked up in the destination image's <c>/etc/passwd</c> or <c>/etc/group</c> (symbolic links followed
/// inside the image). A user alone gives its group: the same number for a numeric user, the primary group from
/// passwd for a name.
/// </summary>
/// <remarks>
/// BuildKit gives an unknown name (or a missing passwd or group file) id 0, silently: a typo in <c>--chown</c> then
/// makes root-owned files, which is the opposite of what was asked and is found out at run time, if ever. The
/// Dockerfile reference says the build fails in that case, and the classic builder did fail; Livrable fails too
/// (LIV1080, LIV1081).
/// </remarks>
public static class Ownership
{
    /// <summary>
    /// The numeric owner of <paramref name="chown"/> in <paramref name="tree"/>. Throws LIV1082 for a malformed value,
    /// LIV1080 for an unknown user, LIV1081 for an unknown group, each at <paramref name="span"/>.
    /// </summary>
    public static (long Uid, long Gid) Resolve(string chown, ITreeLookup tree, SourceSpan span)
    {
        ArgumentNullException.ThrowIfNull(chown);
        ArgumentNullException.ThrowIfNull(tree);
        int colon = chown.IndexOf(':');
        string user = colon < 0 ? chown : chown[..colon];
        string? group = colon < 0 ? null : chown[(colon + 1)..];
        if (user.Length == 0 || group is { Length: 0 })
            throw new LivrableException(DiagnosticCodes.InvalidChown,
                $"--chown={chown} is not user[:group]: the {(user.Length == 0 ? "user" : "group")} is empty.", span);

        long uid, gid;
        if (TryParseId(user, chown, span) is { } id)
        {
            uid = gid = id;
        }
        else
        {
            var entry = Lookup(tree, "/etc/passwd", user)
                ?? throw new LivrableException(DiagnosticCodes.UnknownUser,
                    $"Unknown user '{user}' in --chown: not in the image's /etc/passwd{Missing(tree, "/etc/passwd")}.", span);
            uid = entry.Uid;
            gid = entry.Gid;
        }
        if (group is null) return (uid, gid);

        if (TryParseId(group, chown, span) is { } groupId) return (uid, groupId);
        var groupEntry = Lookup(tree, "/etc/group", group)
            ?? throw new LivrableException(DiagnosticCodes.UnknownGroup,
                $"Unknown group '{group}' in --chown: not in the image's /etc/group{Missing(tree, "/etc/group")}.", span);
        return (uid, groupEntry.Gid);
    }

    /// <summary><c>root</c> or a decimal id (0 to 2^32-1, as Go's ParseUint(s, 10, 32)); null for a name.</summary>
    private static long? TryParseId(string value, string chown, SourceSpan span)
    {
        if (value == "root") return 0;
        if (!value.All(char.IsAsciiDigit)) return null;
        if (!uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out uint id))
            throw new LivrableException(DiagnosticCodes.InvalidChown, $"--chown={chown}: {value} is not an id (0 to {uint.MaxValue}).", span);
        return id;
    }

    private static string Missing(ITreeLookup tree, string path)
        => tree.Resolve(path) is { Type: Layers.TarTypeFlag.RegularFile } ? "" : $" (the image has no {path})";

    private sealed record Account(long Uid, long Gid);

    /// <summary>
    /// The first line of the passwd (<c>name:x:uid:gid:...</c>) or group (<c>name:x:gid:...</c>) file naming
    /// <paramref name="name"/>; lines that do not parse are skipped, as moby/sys/user does.
    /// </summary>
    private static Account? Lookup(ITreeLookup tree, string path, string name)
    {
        var entry = tree.Resolve(path);
        if (entry is null) return null;
        // Sync over async: the tree keeps these files' bytes, so this only waits when the file came from an added
        // layer (a file on disk) or an unusual name; the engine has no synchronization context to deadlock.
        byte[]? bytes = FileTree.ReadSmallFileAsync(entry, CancellationToken.None).GetAwaiter().GetResult();
        if (bytes is null) return null;
        bool passwd = path.EndsWith("passwd", StringComparison.Ordinal);
        foreach (string raw in Encoding.UTF8.GetString(bytes).Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            string[] fields = line.Split(':');
            if (fields.Length < (passwd ? 4 : 3) || fields[0] != name) continue;
            if (!long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out long first)) continue;
            if (!passwd) return new Account(first, first);
            if (!long.TryParse(fields[3], NumberStyles.None, CultureInfo.InvariantCulture, out long second)) continue;
            return new Account(first, second);
        }
        return null;
    }
}
