namespace Livrable.Dockerfile;

/// <summary>A piece of an instruction line (a flag or an argument) and where it starts in the logical line.</summary>
internal readonly record struct Token(string Value, int Offset);

/// <summary>
/// A here-document as the first phase reads it (BuildKit's <c>parser.Heredoc</c>): <see cref="Content"/> is the body
/// exactly as written, line endings included and leading tabs not yet stripped for <c>&lt;&lt;-</c>.
/// </summary>
internal sealed record RawHeredoc(string Name, string Content, bool Expand, bool Chomp, int FileDescriptor, int Offset)
{
    /// <summary>The checked form: for <c>&lt;&lt;-</c>, leading tabs removed from every body line.</summary>
    public Heredoc ToHeredoc() => new(Name, Chomp ? HeredocLexer.ChompContent(Content) : Content, Expand, Chomp);
}

/// <summary>
/// One instruction after the first phase (BuildKit's <c>parser.Node</c>): the keyword, the leading <c>--flags</c>,
/// the arguments split the way this keyword splits them, and any heredoc bodies. Nothing is checked yet beyond what
/// the line syntax itself requires.
/// </summary>
internal sealed class RawInstruction
{
    public required LogicalLine Line { get; init; }

    /// <summary>The keyword in lower case (BuildKit compares keywords case-insensitively).</summary>
    public required string Keyword { get; init; }

    /// <summary>The keyword as written (for the casing lint).</summary>
    public required string KeywordAsWritten { get; init; }

    public required int KeywordOffset { get; init; }

    /// <summary>The text this node was made from: the whole logical line, or for an ONBUILD trigger the rest after ONBUILD.</summary>
    public required string Original { get; init; }

    /// <summary>The leading <c>--flags</c>, quotes removed and escapes applied.</summary>
    public List<Token> Flags { get; init; } = [];

    /// <summary>Where the text after the flags starts (for errors about the arguments as a whole).</summary>
    public int ArgumentsOffset { get; init; }

    public List<Token> Arguments { get; set; } = [];

    /// <summary>Whether the arguments were a JSON array (exec form).</summary>
    public bool IsJson { get; set; }

    /// <summary>ENV or LABEL written as <c>KEY value</c>.</summary>
    public bool IsLegacyKeyValue { get; set; }

    /// <summary>The instruction an ONBUILD wraps.</summary>
    public RawInstruction? Trigger { get; set; }

    /// <summary>Heredoc bodies read after this line (for ONBUILD, those of its trigger).</summary>
    public List<RawHeredoc> Heredocs { get; } = [];

    /// <summary>RUN, COPY and ADD in shell form take heredocs, and ONBUILD when its trigger does.</summary>
    public bool CanContainHeredoc
    {
        get
        {
            var node = Keyword == "onbuild" && Trigger is not null ? Trigger : this;
            return node.Keyword is "run" or "copy" or "add" && !node.IsJson;
        }
    }
}
