using Livrable.Diagnostics;

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
    private (string Code, string Message, SourceSpan Span)? _invalidDirective;

    /// <summary>Adds a warning of the build check <paramref name="rule"/>.</summary>
    public void Add(string code, string rule, string message, SourceSpan span) => _pending.Add((code, rule, message, span));

    /// <summary>Reads the value of a <c># check=</c> directive; what does not parse is reported and ignored.</summary>
    public void Configure(string value, SourceSpan span)
    {
        foreach (var part in value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            var key = eq < 0 ? part : part[..eq].Trim();
            var setting = eq < 0 ? "" : part[(eq + 1)..].Trim();
            if (key.Equals("skip", StringComparison.OrdinalIgnoreCase) && eq >= 0)
            {
                foreach (var rule in setting.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (rule.Equals("all", StringComparison.OrdinalIgnoreCase))
                        _skipAll = true;
                    else
                        _skipped.Add(rule);
                }
            }
            else if (key.Equals("error", StringComparison.OrdinalIgnoreCase) && bool.TryParse(setting, out var error))
            {
                _error = error;
            }
            else
            {
                _invalidDirective ??= (DiagnosticCodes.InvalidCheckDirective,
                    $"invalid check directive \"{part}\": expected skip=<rules|all> or error=<true|false>", span);
            }
        }
    }

    /// <summary>Logs what is left after skipping, or throws the first warning when <c>error=true</c>.</summary>
    public void Flush(ILogger logger)
    {
        if (_invalidDirective is { } invalid)
            logger.Warning(invalid.Code, invalid.Message, invalid.Span);
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
