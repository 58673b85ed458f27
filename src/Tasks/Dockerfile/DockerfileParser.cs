using Livrable.Diagnostics;

namespace Livrable.Dockerfile;

/// <summary>
/// Reads a Dockerfile into checked instructions, in BuildKit's two phases (frontend/dockerfile/parser, then
/// frontend/dockerfile/instructions): text to lines (BOM, directives, comments, continuations, heredocs), then each line
/// to a record of <c>Instructions.cs</c>. Values stay raw; the build expands them. Reference:
/// https://docs.docker.com/reference/dockerfile/ and <c>../shared/reference/dockerfile.md</c> sections 1 and 3.
/// </summary>
public static class DockerfileParser
{
    /// <summary>
    /// Parses and checks a whole Dockerfile. Errors: <see cref="LivrableException"/> with a LIV1001-1049 code and the
    /// span (line and column of the instruction or of the argument at fault). Warnings (the <c>syntax</c> directive, empty
    /// continuation lines, MAINTAINER, legacy <c>ENV key value</c>, stage name lint...) go to <paramref name="logger"/>
    /// with their span.
    /// </summary>
    /// <param name="path">The file's path as it should appear in messages.</param>
    /// <param name="text">The file's content (a leading byte order mark is ignored).</param>
    /// <param name="logger">Where warnings go.</param>
    /// <exception cref="LivrableException">The Dockerfile does not parse or check.</exception>
    public static DockerfileDocument Parse(string path, string text, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(logger);

        var spans = SpanMapper.ForFile(path);
        var warnings = new DockerfileWarnings();
        var lexer = new DockerfileLexer(spans, warnings);
        var nodes = lexer.Lex(text);
        var directives = lexer.Directives;
        if (lexer.SyntaxSpan is { } syntaxSpan)
            logger.Warning(DiagnosticCodes.SyntaxDirectiveIgnored,
                $"the syntax directive \"{directives.Syntax}\" names an external Dockerfile frontend, which Livrable does not run; the built-in frontend (BuildKit's Dockerfile syntax) is used",
                syntaxSpan);
        if (nodes.Count == 0)
            throw new LivrableException(DiagnosticCodes.DockerfileWithoutInstructions, "file with no instructions",
                spans.At(Math.Max(1, lexer.LineCount), 1));

        var globalArgs = new List<ArgInstruction>();
        var stages = new List<(FromInstruction From, List<Instruction> Instructions)>();
        var stageNames = new Dictionary<string, SourceSpan>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            var instruction = InstructionChecker.Check(node, warnings);
            if (instruction is FromInstruction from)
            {
                if (from.StageName is { } name && !stageNames.TryAdd(name, from.Span))
                    warnings.Add(DiagnosticCodes.DuplicateStageName, "DuplicateStageName",
                        $"Duplicate stage name \"{name}\", stage names should be unique (first at line {stageNames[name].Line})", from.Span);
                stages.Add((from, []));
            }
            else if (stages.Count == 0)
            {
                if (instruction is not ArgInstruction arg)
                    throw new LivrableException(DiagnosticCodes.InstructionBeforeFrom,
                        $"no build stage in current context: {instruction.Keyword} comes before the first FROM (only ARG may)", instruction.Span);
                globalArgs.Add(arg);
            }
            else
            {
                WarnSecretNames(instruction, warnings);
                stages[^1].Instructions.Add(instruction);
            }
        }
        if (stages.Count == 0)
            throw new LivrableException(DiagnosticCodes.NoBuildStage, "dockerfile contains no stages to build: there is no FROM",
                spans.At(1, 1));

        warnings.Flush(logger);
        var numbered = new List<Stage>(stages.Count);
        for (int i = 0; i < stages.Count; i++) numbered.Add(new Stage(i, stages[i].From, stages[i].Instructions));
        return new DockerfileDocument(path, directives, globalArgs, numbered);
    }

    /// <summary>
    /// BuildKit's <c>SecretsUsedInArgOrEnv</c> for the ARG and ENV of stages (BuildKit checks them as it dispatches a
    /// stage's ARG and ENV; the ARGs before the first FROM are not checked), at the instruction.
    /// </summary>
    private static void WarnSecretNames(Instruction instruction, DockerfileWarnings warnings)
    {
        var (keyword, names) = instruction switch
        {
            ArgInstruction arg => ("ARG", arg.Args.Select(a => a.Name)),
            EnvInstruction env => ("ENV", env.Variables.Select(v => v.Key)),
            _ => ("", []),
        };
        foreach (var name in names)
            if (SecretNames.LookLikeSecret(name))
                warnings.Add(DiagnosticCodes.SecretsUsedInArgOrEnv, SecretNames.Rule, SecretNames.Message(keyword, name), instruction.Span);
    }

    /// <summary>
    /// Parses one ONBUILD trigger (as stored in an image config's <c>OnBuild</c>, heredoc bodies included) the way a
    /// downstream build runs it: as a one-instruction Dockerfile with the default escape character. Every error and the
    /// instruction's own span are <paramref name="span"/> (the trigger has no place in the file being built; the caller
    /// passes the FROM that inherited it).
    /// </summary>
    /// <exception cref="LivrableException">The trigger is not exactly one valid instruction, or is FROM, ONBUILD or MAINTAINER.</exception>
    public static Instruction ParseTrigger(string trigger, SourceSpan span, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        ArgumentNullException.ThrowIfNull(logger);

        var warnings = new DockerfileWarnings();
        var nodes = new DockerfileLexer(SpanMapper.Fixed(span), warnings).Lex(trigger);
        if (nodes.Count != 1)
            throw new LivrableException(DiagnosticCodes.InvalidOnbuildTrigger,
                $"ONBUILD trigger \"{trigger}\" should be a single instruction, not {nodes.Count}", span);
        var keyword = nodes[0].Keyword.ToUpperInvariant();
        switch (keyword)
        {
            case "ONBUILD":
                throw new LivrableException(DiagnosticCodes.InvalidOnbuildTrigger, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", span);
            case "MAINTAINER" or "FROM":
                throw new LivrableException(DiagnosticCodes.InvalidOnbuildTrigger, $"{keyword} isn't allowed as an ONBUILD trigger", span);
        }
        var instruction = InstructionChecker.Check(nodes[0], warnings);
        warnings.Flush(logger);
        return instruction;
    }
}
