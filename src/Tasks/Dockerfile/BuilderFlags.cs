using Livrable.Diagnostics;

namespace Livrable.Dockerfile;

/// <summary>
/// The <c>--flags</c> of one instruction, checked against the flags it declares (BuildKit's
/// <c>instructions/bflag.go</c>, checklist 1.5): string flags need <c>=</c> (<c>--from=</c> is an empty string), bool
/// flags take <c>--f</c>, <c>--f=true</c> or <c>--f=false</c> (any case), single-value flags may not repeat,
/// multi-value flags (<c>--mount</c>, <c>--exclude</c>) may.
/// </summary>
internal sealed class BuilderFlags
{
    private enum Kind { Bool, String, Strings }

    private sealed class Flag(Kind kind)
    {
        public Kind Kind { get; } = kind;
        public bool Used { get; set; }
        public string? Value { get; set; }
        public List<string> Values { get; } = [];
        public int Offset { get; set; }
    }

    private readonly RawInstruction _node;
    private readonly Dictionary<string, Flag> _flags = new(StringComparer.Ordinal);

    public BuilderFlags(RawInstruction node) => _node = node;

    public void AddBool(string name) => _flags[name] = new Flag(Kind.Bool);

    public void AddString(string name) => _flags[name] = new Flag(Kind.String);

    public void AddStrings(string name) => _flags[name] = new Flag(Kind.Strings);

    /// <summary>Checks every flag written on the instruction; throws at the first bad one.</summary>
    public void Parse()
    {
        foreach (var token in _node.Flags)
        {
            var arg = token.Value;
            var span = _node.Line.SpanAt(token.Offset, arg.Length);
            if (!arg.StartsWith("--", StringComparison.Ordinal))
                throw new LivrableException(DiagnosticCodes.InvalidInstructionFlag, $"Arg should start with -- : {arg}", span);
            if (arg == "--")
                return;
            var name = arg[2..];
            string value = "";
            var eq = name.IndexOf('=');
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            if (!_flags.TryGetValue(name, out var flag))
                throw new LivrableException(DiagnosticCodes.UnknownInstructionFlag,
                    $"unknown flag: --{name} ({Keyword} takes {Describe()})", span);
            if (flag.Used && flag.Kind != Kind.Strings)
                throw new LivrableException(DiagnosticCodes.DuplicateInstructionFlag, $"duplicate flag specified: --{name}", span);
            flag.Used = true;
            flag.Offset = token.Offset;
            switch (flag.Kind)
            {
                case Kind.Bool:
                    if (eq >= 0 && value.Length == 0)
                        throw new LivrableException(DiagnosticCodes.InvalidInstructionFlag, $"missing a value on flag: --{name}", span);
                    var lower = value.ToLowerInvariant();
                    flag.Value = lower switch
                    {
                        "" => "true",
                        "true" or "false" => lower,
                        _ => throw new LivrableException(DiagnosticCodes.InvalidInstructionFlag,
                            $"expecting boolean value for flag --{name}, not: {value}", span),
                    };
                    break;
                case Kind.String:
                    if (eq < 0)
                        throw new LivrableException(DiagnosticCodes.InvalidInstructionFlag,
                            $"missing a value on flag: --{name} (write --{name}=<value>)", span);
                    flag.Value = value;
                    break;
                case Kind.Strings:
                    if (eq < 0)
                        throw new LivrableException(DiagnosticCodes.InvalidInstructionFlag,
                            $"missing a value on flag: --{name} (write --{name}=<value>)", span);
                    flag.Values.Add(value);
                    break;
            }
        }
    }

    /// <summary>A string flag's value; null when it was not given.</summary>
    public string? String(string name) => _flags[name].Used ? _flags[name].Value : null;

    /// <summary>A bool flag's value; null when it was not given.</summary>
    public bool? Bool(string name) => _flags[name].Used ? _flags[name].Value == "true" : null;

    /// <summary>Every value of a repeatable flag, in order.</summary>
    public IReadOnlyList<string> Strings(string name) => _flags[name].Values;

    /// <summary>The span of a flag as written (the last occurrence for a repeatable one).</summary>
    public SourceSpan SpanOf(string name) => _node.Line.SpanAt(_flags[name].Offset);

    private string Keyword => _node.Keyword.ToUpperInvariant();

    private string Describe() => _flags.Count == 0
        ? "no flags"
        : string.Join(", ", _flags.Keys.Order(StringComparer.Ordinal).Select(k => "--" + k));
}
