using System.Globalization;
using Livrable.Diagnostics;
using Livrable.Dockerfile;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// One <c>RUN --mount=...</c> value parsed as BuildKit's <c>instructions/commands_runmount.go</c> does: CSV fields
/// (<see cref="MountFlag.Fields"/>, checked once already when the Dockerfile was parsed), case-insensitive keys, <c>type=bind</c> by default. Livrable runs <c>bind</c>,
/// <c>tmpfs</c>, <c>cache</c> (without <c>from</c>) and <c>secret</c>; <c>ssh</c> is refused (LIV5012).
/// </summary>
internal sealed record RunMountSpec(string Type, string Target)
{
    public string? Source { get; init; }
    public string? From { get; init; }
    public bool ReadOnly { get; init; }
    public long? Size { get; init; }

    /// <summary>A cache's id (default: the target), sharing (shared, private, locked), and the mode and owner it is created with.</summary>
    public string? Id { get; init; }
    public string Sharing { get; init; } = "shared";
    public int Mode { get; init; } = 0b111_101_101;
    public long Uid { get; init; }
    public long Gid { get; init; }

    /// <summary>A secret's environment variable (<c>env=</c>) and whether it must exist (<c>required</c>).</summary>
    public string? Env { get; init; }
    public bool Required { get; init; }

    /// <summary>
    /// Parses <paramref name="raw"/>: each field's value goes through <paramref name="expand"/> (the stage's ARG and
    /// ENV, as BuildKit expands a RUN's mounts when it dispatches it); a relative target is joined with
    /// <paramref name="workingDirectory"/>.
    /// </summary>
    public static RunMountSpec Parse(string raw, string workingDirectory, SourceSpan span, Func<string, string> expand)
    {
        var fields = MountFlag.Fields(raw, span).Select(field =>
        {
            int eq = field.IndexOf('=');
            return eq < 0 ? field : field[..(eq + 1)] + expand(field[(eq + 1)..]);
        }).ToList();
        string type = "bind";
        foreach (string field in fields)
        {
            int eq = field.IndexOf('=');
            if (eq > 0 && field[..eq].Trim().Equals("type", StringComparison.OrdinalIgnoreCase)) type = field[(eq + 1)..].ToLowerInvariant();
        }
        if (type is not ("bind" or "cache" or "tmpfs" or "secret" or "ssh"))
            throw Invalid($"unsupported mount type \"{type}\"");
        if (type is "ssh")
            throw new LivrableException(DiagnosticCodes.RunMountNotSupported,
                $"RUN --mount=type={type} is not supported yet: Livrable runs bind and tmpfs mounts.", span);

        string? target = null, source = null, from = null;
        bool? readOnly = null;
        long? size = null;
        string? id = null, sharing = null;
        int mode = type == "secret" ? 0b100_000_000 : 0b111_101_101;
        long uid = 0, gid = 0;
        string? env = null;
        bool required = false;
        foreach (string field in fields)
        {
            int eq = field.IndexOf('=');
            string key = (eq < 0 ? field : field[..eq]).Trim().ToLowerInvariant();
            string? value = eq < 0 ? null : field[(eq + 1)..];
            if (value is null && key is not ("ro" or "readonly" or "rw" or "readwrite" or "required"))
                throw Invalid($"invalid field '{field}' must be a key=value pair");
            switch (key)
            {
                case "type": break;
                case "target" or "dst" or "destination": target = value; break;
                case "source" or "src" when type is "bind" or "cache": source = value; break;
                case "from" when type is "bind" or "cache": from = value; break;
                case "id" when type is "cache" or "secret": id = value; break;
                case "env" when type == "secret": env = value; break;
                case "required" when type == "secret": required = Bool(value, field); break;
                case "sharing" when type == "cache":
                    sharing = value!.ToLowerInvariant();
                    if (sharing is not ("shared" or "private" or "locked")) throw Invalid($"unrecognized sharing {value}");
                    break;
                case "mode" when type is "cache" or "secret":
                    try { mode = Convert.ToInt32(value, 8); } catch (FormatException) { throw Invalid($"invalid mode {value}"); }
                    break;
                case "uid" when type is "cache" or "secret": uid = Id(value!, "uid"); break;
                case "gid" when type is "cache" or "secret": gid = Id(value!, "gid"); break;
                case "ro" or "readonly": readOnly = Bool(value, field); break;
                case "rw" or "readwrite": readOnly = !Bool(value, field); break;
                case "size" when type == "tmpfs": size = ParseSize(value!, span); break;
                case "mode" or "uid" or "gid" or "id" or "sharing" or "required" or "env" or "size" or "source" or "src" or "from":
                    throw Invalid($"unexpected key '{key}' for mount type '{type}'");
                default:
                    throw Invalid($"unexpected key '{key}' in '{field}'");
            }
        }
        if (type == "secret")
        {
            // BuildKit: the id defaults to the target's base name, the target to /run/secrets/<id> unless env is given.
            if (string.IsNullOrEmpty(id) && string.IsNullOrEmpty(target)) throw Invalid("one of id or target is required for a secret");
            if (string.IsNullOrEmpty(id)) id = target!.TrimEnd('/')[(target!.TrimEnd('/').LastIndexOf('/') + 1)..];
            if (string.IsNullOrEmpty(target) && env is null) target = "/run/secrets/" + id;
            string? secretTarget = string.IsNullOrEmpty(target) ? null
                : "/" + string.Join('/', (target.StartsWith('/') ? target : PathRules.Join(workingDirectory, target)).Split('/', StringSplitOptions.RemoveEmptyEntries));
            return new RunMountSpec(type, secretTarget ?? "") { Id = id, Env = env, Required = required, Mode = mode, Uid = uid, Gid = gid, ReadOnly = true };
        }
        if (string.IsNullOrEmpty(target)) throw Invalid("mount destination (target) not specified");
        target = target.StartsWith('/') ? target : PathRules.Join(workingDirectory, target);
        target = "/" + string.Join('/', target.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != "."));
        if (target == "/") throw Invalid("invalid mount target \"/\"");
        if (type == "cache" && from is not null)
            throw new LivrableException(DiagnosticCodes.RunMountNotSupported, $"--mount={raw}: a cache mount from another stage or image is not supported yet.", span);
        return new RunMountSpec(type, target)
        {
            Source = source, From = from, ReadOnly = type == "bind" ? readOnly ?? true : readOnly ?? false, Size = size,
            Id = type == "cache" ? string.IsNullOrEmpty(id) ? target : id : null, Sharing = sharing ?? "shared", Mode = mode, Uid = uid, Gid = gid,
        };

        LivrableException Invalid(string message) => new(DiagnosticCodes.InvalidRunMount, $"--mount={raw}: {message}", span);
        long Id(string value, string key)
            => uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out uint n) ? n : throw Invalid($"invalid {key} {value}");
        bool Bool(string? value, string field)
            => value is null ? true : bool.TryParse(value, out bool b) ? b : throw Invalid($"invalid value for {field}");
    }

    /// <summary>The <c>from=</c> of a mount value, for the stage graph; null when there is none or the value does not parse.</summary>
    public static string? FromOf(string raw)
    {
        try
        {
            foreach (string field in MountFlag.Fields(raw, null))
            {
                int eq = field.IndexOf('=');
                if (eq > 0 && field[..eq].Trim().Equals("from", StringComparison.OrdinalIgnoreCase)) return field[(eq + 1)..];
            }
        }
        catch (LivrableException)
        {
            // Reported with its span when the RUN runs.
        }
        return null;
    }

    /// <summary>docker/go-units' <c>RAMInBytes</c>: a number and an optional unit (k, m, g, t, p, binary), b optional.</summary>
    private static long ParseSize(string value, SourceSpan span)
    {
        string v = value.Trim().ToLowerInvariant();
        if (v.EndsWith('b')) v = v[..^1];
        long multiplier = 1;
        if (v.Length > 0 && "kmgtp".IndexOf(v[^1]) is int unit and >= 0)
        {
            multiplier = 1L << (10 * (unit + 1));
            v = v[..^1];
        }
        if (!double.TryParse(v, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number) || number < 0)
            throw new LivrableException(DiagnosticCodes.InvalidRunMount, $"invalid size: '{value}'", span);
        return (long)(number * multiplier);
    }
}
