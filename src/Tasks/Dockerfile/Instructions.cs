using Livrable.Diagnostics;

namespace Livrable.Dockerfile;

// The checked instructions of a Dockerfile: what the parser's second phase produces from the raw lines, and what the
// build consumes. Values are RAW (not yet variable-expanded): expansion needs the build-time environment, which only
// the build knows (https://docs.docker.com/reference/dockerfile/#environment-replacement). Every record carries the
// span of its instruction so that any later error still points at the right line and column.

/// <summary>A whole Dockerfile: its directives, the ARGs before the first FROM, and its stages in order.</summary>
public sealed record DockerfileDocument(string Path, ParserDirectives Directives, IReadOnlyList<ArgInstruction> GlobalArgs, IReadOnlyList<Stage> Stages);

/// <summary>The parser directives at the top of the file (<c># syntax=</c>, <c># escape=</c>, <c># check=</c>).</summary>
public sealed record ParserDirectives(string? Syntax = null, char Escape = '\\', string? Check = null);

/// <summary>A build stage: its FROM, and the instructions up to the next FROM. <see cref="Name"/> is lowercased.</summary>
public sealed record Stage(int Index, FromInstruction From, IReadOnlyList<Instruction> Instructions)
{
    public string? Name => From.StageName;
}

/// <summary>Any instruction. <see cref="Text"/> is the instruction as written (continuations joined), for messages.</summary>
public abstract record Instruction(SourceSpan Span, string Text)
{
    /// <summary>The keyword in capitals: FROM, RUN, COPY...</summary>
    public abstract string Keyword { get; }
}

/// <summary>
/// A command in exec form (a JSON array: <see cref="Arguments"/> as written) or shell form (one string in
/// <see cref="Arguments"/>, to be wrapped by the SHELL in force).
/// </summary>
public sealed record CommandLine(IReadOnlyList<string> Arguments, bool IsExecForm)
{
    /// <summary>The shell-form text (exec form: the arguments joined by spaces).</summary>
    public string ShellText => string.Join(' ', Arguments);
}

/// <summary>
/// A here-document: <c>&lt;&lt;NAME</c> and its body. <see cref="Expand"/> is false when any part of the delimiter
/// was quoted; <see cref="Chomp"/> for <c>&lt;&lt;-</c> (leading tabs already stripped from <see cref="Content"/>).
/// </summary>
public sealed record Heredoc(string Name, string Content, bool Expand, bool Chomp);

/// <summary>A key and its value as written (quotes still in place: the expander removes them).</summary>
public sealed record KeyValue(string Key, string Value);

/// <summary>A COPY or ADD source: a path (raw, may hold wildcards and variables) or a here-document.</summary>
public sealed record SourceArgument(string? Path, Heredoc? Heredoc);

/// <summary><c>FROM [--platform=p] image [AS name]</c>.</summary>
public sealed record FromInstruction(SourceSpan Span, string Text, string Image, string? StageName, string? Platform) : Instruction(Span, Text)
{
    public override string Keyword => "FROM";
}

/// <summary><c>RUN [--mount=...] [--network=...] [--security=...] command</c>; heredoc bodies are never expanded by the builder.</summary>
public sealed record RunInstruction(SourceSpan Span, string Text, CommandLine Command, IReadOnlyList<Heredoc> Heredocs,
    IReadOnlyList<string> Mounts, string? Network, string? Security) : Instruction(Span, Text)
{
    public override string Keyword => "RUN";
}

public sealed record CmdInstruction(SourceSpan Span, string Text, CommandLine Command) : Instruction(Span, Text)
{
    public override string Keyword => "CMD";
}

public sealed record EntrypointInstruction(SourceSpan Span, string Text, CommandLine Command) : Instruction(Span, Text)
{
    public override string Keyword => "ENTRYPOINT";
}

/// <summary><c>SHELL ["exe", "args"]</c>: JSON form only, non-empty.</summary>
public sealed record ShellInstruction(SourceSpan Span, string Text, IReadOnlyList<string> Shell) : Instruction(Span, Text)
{
    public override string Keyword => "SHELL";
}

public sealed record LabelInstruction(SourceSpan Span, string Text, IReadOnlyList<KeyValue> Labels) : Instruction(Span, Text)
{
    public override string Keyword => "LABEL";
}

/// <summary>Deprecated; sets the image's <c>author</c>.</summary>
public sealed record MaintainerInstruction(SourceSpan Span, string Text, string Maintainer) : Instruction(Span, Text)
{
    public override string Keyword => "MAINTAINER";
}

/// <summary><c>EXPOSE</c> with its raw words (expanded and word-split at build time).</summary>
public sealed record ExposeInstruction(SourceSpan Span, string Text, IReadOnlyList<string> Ports) : Instruction(Span, Text)
{
    public override string Keyword => "EXPOSE";
}

public sealed record EnvInstruction(SourceSpan Span, string Text, IReadOnlyList<KeyValue> Variables) : Instruction(Span, Text)
{
    public override string Keyword => "ENV";
}

/// <summary>What COPY and ADD share.</summary>
public abstract record FileInstruction(SourceSpan Span, string Text, IReadOnlyList<SourceArgument> Sources, string Destination,
    string? Chown, string? Chmod, bool Link, IReadOnlyList<string> Excludes) : Instruction(Span, Text);

/// <summary><c>COPY [--from] [--chown] [--chmod] [--link] [--parents] [--exclude]... src... dest</c>.</summary>
public sealed record CopyInstruction(SourceSpan Span, string Text, IReadOnlyList<SourceArgument> Sources, string Destination,
    string? Chown, string? Chmod, bool Link, IReadOnlyList<string> Excludes, string? From, bool Parents)
    : FileInstruction(Span, Text, Sources, Destination, Chown, Chmod, Link, Excludes)
{
    public override string Keyword => "COPY";
}

/// <summary><c>ADD [--chown] [--chmod] [--link] [--keep-git-dir] [--checksum] [--unpack] [--exclude]... src... dest</c>.</summary>
public sealed record AddInstruction(SourceSpan Span, string Text, IReadOnlyList<SourceArgument> Sources, string Destination,
    string? Chown, string? Chmod, bool Link, IReadOnlyList<string> Excludes, bool KeepGitDir, string? Checksum, bool? Unpack)
    : FileInstruction(Span, Text, Sources, Destination, Chown, Chmod, Link, Excludes)
{
    public override string Keyword => "ADD";
}

public sealed record VolumeInstruction(SourceSpan Span, string Text, IReadOnlyList<string> Paths) : Instruction(Span, Text)
{
    public override string Keyword => "VOLUME";
}

public sealed record UserInstruction(SourceSpan Span, string Text, string User) : Instruction(Span, Text)
{
    public override string Keyword => "USER";
}

public sealed record WorkdirInstruction(SourceSpan Span, string Text, string Path) : Instruction(Span, Text)
{
    public override string Keyword => "WORKDIR";
}

/// <summary>One <c>name[=default]</c> of an ARG; <see cref="DefaultValue"/> is raw (expanded at build time).</summary>
public sealed record ArgDeclaration(string Name, string? DefaultValue);

public sealed record ArgInstruction(SourceSpan Span, string Text, IReadOnlyList<ArgDeclaration> Args) : Instruction(Span, Text)
{
    public override string Keyword => "ARG";
}

/// <summary>
/// <c>ONBUILD trigger</c>: <see cref="Trigger"/> is the trigger instruction as written (stored raw in the config's
/// OnBuild, heredoc bodies included), already checked to parse; <see cref="Parsed"/> is its checked form.
/// </summary>
public sealed record OnbuildInstruction(SourceSpan Span, string Text, string Trigger, Instruction Parsed) : Instruction(Span, Text)
{
    public override string Keyword => "ONBUILD";
}

public sealed record StopsignalInstruction(SourceSpan Span, string Text, string Signal) : Instruction(Span, Text)
{
    public override string Keyword => "STOPSIGNAL";
}

/// <summary>
/// <c>HEALTHCHECK NONE</c> (<see cref="Test"/> = ["NONE"]) or <c>HEALTHCHECK [flags] CMD ...</c> (["CMD", args...] for
/// exec form, ["CMD-SHELL", text] for shell form). Unset durations and retries are null (written as 0).
/// </summary>
public sealed record HealthcheckInstruction(SourceSpan Span, string Text, IReadOnlyList<string> Test,
    TimeSpan? Interval, TimeSpan? Timeout, TimeSpan? StartPeriod, TimeSpan? StartInterval, int? Retries) : Instruction(Span, Text)
{
    public override string Keyword => "HEALTHCHECK";
}
