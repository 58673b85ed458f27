using Livrable.Diagnostics;
using Livrable.Go;

namespace Livrable.Dockerfile;

/// <summary>
/// The parser's lint-like warnings, named after BuildKit's build checks (checklist section 9), and the
/// <c># check=skip=Rule,Rule|all;error=true</c> directive that controls them
/// (https://docs.docker.com/reference/build-checks/). Warnings are held until the parse ends so that a directive can
/// still skip them, then logged in order; with <c>error=true</c> the first one is thrown instead.
/// </summary>
internal sealed class DockerfileWarnings
{
    private readonly List<(string Code, string Rule, string Message, SourceSpan Span)> _pending = [];
    private readonly HashSet<string> _skipped = new(StringComparer.OrdinalIgnoreCase);
    private bool _skipAll;
    private bool _error;

    /// <summary>Adds a warning of the build check <paramref name="rule"/>.</summary>
    public void Add(string code, string rule, string message, SourceSpan span) => _pending.Add((code, rule, message, span));

    /// <summary>
    /// Reads the value of a <c># check=</c> directive as BuildKit's <c>linter.ParseLintOptions</c> does: at most three
    /// <c>;</c>-separated <c>key=value</c> parts, keys <c>skip</c> (rules, or <c>all</c>), <c>error</c> (Go's
    /// <c>strconv.ParseBool</c>) and <c>experimental</c> (accepted; Livrable has no experimental checks).
    /// </summary>
    /// <exception cref="LivrableException">LIV1023 for anything else, with BuildKit's message.</exception>
    public void Configure(string value, SourceSpan span)
    {
        value = value.Trim();
        if (value.Length == 0) return;
        foreach (var part in value.Split(';', 3))
        {
            var eq = part.IndexOf('=');
            if (eq < 0) throw Invalid($"invalid check option {GoFormat.Quote(part)}");
            var key = part[..eq].Trim();
            var setting = part[(eq + 1)..].Trim();
            switch (key)
            {
                case "skip" when setting == "all":
                    _skipAll = true;
                    break;
                case "skip":
                    foreach (var rule in setting.Split(','))
                        _skipped.Add(rule.Trim());
                    break;
                case "experimental":
                    break;
                case "error":
                    _error = setting switch
                    {
                        "1" or "t" or "T" or "TRUE" or "true" or "True" => true,
                        "0" or "f" or "F" or "FALSE" or "false" or "False" => false,
                        _ => throw Invalid($"failed to parse check option {GoFormat.Quote(part)}: strconv.ParseBool: parsing {GoFormat.Quote(setting)}: invalid syntax"),
                    };
                    break;
                default:
                    throw Invalid($"invalid check option {GoFormat.Quote(key)}");
            }
        }

        LivrableException Invalid(string message)
            => new(DiagnosticCodes.InvalidCheckOptions, "failed to parse check options: " + message, span);
    }

    /// <summary>Logs what is left after skipping, or throws the first warning when <c>error=true</c>.</summary>
    public void Flush(ILogger logger)
    {
        if (_pending.Count == 0) return; // the usual case: no LINQ over the value tuples (compiled at run time) for nothing
        var kept = _pending.Where(w => !_skipAll && !_skipped.Contains(w.Rule)).ToList();
        _pending.Clear();
        if (_error && kept.Count > 0)
        {
            var first = kept[0];
            throw new LivrableException(first.Code, $"{first.Message} (build check {first.Rule}, and # check=error=true)", first.Span);
        }
        foreach (var w in kept)
            logger.Warning(w.Code, $"{w.Message} ({w.Rule})", w.Span);
    }
}
