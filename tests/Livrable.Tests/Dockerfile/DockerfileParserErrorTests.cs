using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Xunit;

namespace Livrable.Tests.Dockerfile;

/// <summary>
/// Every error path of the parser: the code, the message BuildKit gives (or its gist), and the line and column the
/// error points at (the instruction's keyword, or the argument or flag at fault).
/// </summary>
public class DockerfileParserErrorTests
{
    [Theory]
    // Lexical (checklist 1.1-1.4)
    [InlineData("# escape=\\\n# escape=`\nFROM a", "LIV1002", 2, 1, "only one escape parser directive can be used")]
    [InlineData("# syntax=a\n# SYNTAX=b\nFROM a", "LIV1002", 2, 1, "only one syntax parser directive")]
    [InlineData("# escape=x\nFROM a", "LIV1003", 1, 10, "invalid escape token 'x' does not match ` or \\")]
    [InlineData("  # escape=ab\nFROM a", "LIV1003", 1, 12, "invalid escape token 'ab'")]
    [InlineData("", "LIV1004", 1, 1, "file with no instructions")]
    [InlineData("# just a comment\n\n# and another", "LIV1004", 3, 1, "file with no instructions")]
    [InlineData("# syntax=docker/dockerfile:1\n", "LIV1004", 1, 1, "file with no instructions")]
    // Heredocs (1.7)
    [InlineData("FROM a\nRUN <<EOF\nhello\n", "LIV1005", 2, 5, "unterminated heredoc EOF")]
    [InlineData("FROM a\nCOPY <<EOF <<EOF2 /d\nx\nEOF\ny\n", "LIV1005", 2, 12, "unterminated heredoc EOF2")]
    [InlineData("FROM a\nRUN <<-EOF\n\tx\n  EOF\n", "LIV1005", 2, 5, "unterminated heredoc")]
    [InlineData("FROM a\nRUN cat <<'EOF\nx\nEOF", "LIV1006", 2, 9, "unbalanced quote in heredoc delimiter")]
    [InlineData("FROM a\nCOPY x <<EOF\nEOF\n", "LIV1006", 2, 8, "COPY cannot accept a heredoc as a destination")]
    [InlineData("FROM a\nADD x <<-EOF\nEOF\n", "LIV1006", 2, 7, "ADD cannot accept a heredoc as a destination")]
    // JSON (1.6)
    [InlineData("FROM a\nCMD [\"a\", 1]", "LIV1007", 2, 5, "arrays must be comprised of strings only")]
    [InlineData("FROM a\nRUN  [\"a\", null]", "LIV1007", 2, 6, "strings only")]
    [InlineData("FROM a\nCOPY [\"a\", {}, \"b\"]", "LIV1007", 2, 6, "strings only")]
    [InlineData("FROM a\nENTRYPOINT [[\"a\"]]", "LIV1007", 2, 12, "strings only")]
    // Unknown instructions and flags (1.5)
    [InlineData("FROM a\nFORM b", "LIV1008", 2, 1, "unknown instruction: FORM (did you mean FROM?)")]
    [InlineData("FROM a\n   rum b", "LIV1008", 2, 4, "unknown instruction: rum (did you mean run?)")]
    [InlineData("FROM a\nFOOBARBAZ b", "LIV1008", 2, 1, "unknown instruction: FOOBARBAZ")]
    [InlineData("FROM a\nCoppy a b", "LIV1008", 2, 1, "unknown instruction: Coppy (did you mean copy?)")]
    [InlineData("\uFEFFFORM a", "LIV1008", 1, 1, "did you mean FROM?")]
    [InlineData("FROM a\nCOPY --foo=bar a b", "LIV1009", 2, 6, "unknown flag: --foo")]
    [InlineData("FROM a\nADD --from=x a b", "LIV1009", 2, 5, "unknown flag: --from")]
    [InlineData("FROM a\nADD --parents a b", "LIV1009", 2, 5, "unknown flag: --parents")]
    [InlineData("FROM a\nUSER --x=1 me", "LIV1009", 2, 6, "unknown flag: --x (USER takes no flags)")]
    [InlineData("FROM a\nENTRYPOINT --init a", "LIV1009", 2, 12, "unknown flag: --init")]
    [InlineData("FROM a\nHEALTHCHECK --foo=1 CMD x", "LIV1009", 2, 13, "unknown flag: --foo")]
    [InlineData("FROM a\nONBUILD --x RUN a", "LIV1009", 2, 9, "unknown flag: --x")]
    [InlineData("FROM --plat=x a", "LIV1009", 1, 6, "unknown flag: --plat")]
    [InlineData("FROM a\nCOPY --from a b", "LIV1010", 2, 6, "missing a value on flag: --from")]
    [InlineData("FROM --platform a", "LIV1010", 1, 6, "missing a value on flag: --platform")]
    [InlineData("FROM a\nRUN --mount echo", "LIV1010", 2, 5, "missing a value on flag: --mount")]
    [InlineData("FROM a\nCOPY --link=maybe a b", "LIV1010", 2, 6, "expecting boolean value for flag --link, not: maybe")]
    [InlineData("FROM a\nCOPY --link= a b", "LIV1010", 2, 6, "missing a value on flag: --link")]
    [InlineData("FROM a\nRUN --network=bridge x", "LIV1010", 2, 5, "invalid network mode \"bridge\"")]
    [InlineData("FROM a\nRUN --security=root x", "LIV1010", 2, 5, "security \"root\" is not valid")]
    [InlineData("FROM a\nRUN --mount=x \\\n  --network=bad echo", "LIV1010", 3, 3, "invalid network mode")]
    [InlineData("FROM a\nCOPY --chown=1 --chown=2 a b", "LIV1011", 2, 16, "duplicate flag specified: --chown")]
    [InlineData("FROM a\nRUN --network=none --network=host x", "LIV1011", 2, 20, "duplicate flag specified: --network")]
    [InlineData("FROM a\nCOPY --link --link=false a b", "LIV1011", 2, 13, "duplicate flag")]
    // Argument counts (section 3)
    [InlineData("FROM a\nCOPY a", "LIV1012", 2, 6, "COPY requires at least two arguments, but only one was provided")]
    [InlineData("FROM a\nCOPY", "LIV1012", 2, 1, "COPY requires at least two arguments")]
    [InlineData("FROM a\nADD [\"a\"]", "LIV1012", 2, 5, "ADD requires at least two arguments")]
    [InlineData("FROM a b", "LIV1012", 1, 8, "FROM requires either one or three arguments")]
    [InlineData("FROM a b c", "LIV1012", 1, 8, "FROM requires either one or three arguments")]
    [InlineData("FROM a AS b c", "LIV1012", 1, 8, "FROM requires either one or three arguments")]
    [InlineData("FROM", "LIV1012", 1, 1, "FROM requires either one or three arguments")]
    [InlineData("FROM a\nENV", "LIV1012", 2, 1, "ENV requires at least one argument")]
    [InlineData("FROM a\nLABEL", "LIV1012", 2, 1, "LABEL requires at least one argument")]
    [InlineData("FROM a\nARG", "LIV1012", 2, 1, "ARG requires at least one argument")]
    [InlineData("FROM a\nUSER", "LIV1012", 2, 1, "USER requires exactly one argument")]
    [InlineData("FROM a\nWORKDIR   ", "LIV1012", 2, 1, "WORKDIR requires exactly one argument")]
    [InlineData("FROM a\nSTOPSIGNAL", "LIV1012", 2, 1, "STOPSIGNAL requires exactly one argument")]
    [InlineData("FROM a\nMAINTAINER", "LIV1012", 2, 1, "MAINTAINER requires exactly one argument")]
    [InlineData("FROM a\nEXPOSE", "LIV1012", 2, 1, "EXPOSE requires at least one argument")]
    [InlineData("FROM a\nVOLUME", "LIV1012", 2, 1, "VOLUME requires at least one argument")]
    [InlineData("FROM a\nVOLUME []", "LIV1012", 2, 1, "VOLUME requires at least one argument")]
    [InlineData("FROM a\nSHELL", "LIV1012", 2, 1, "SHELL requires at least one argument")]
    [InlineData("FROM a\nSHELL []", "LIV1012", 2, 1, "SHELL requires at least one argument")]
    [InlineData("FROM a\nHEALTHCHECK", "LIV1012", 2, 1, "HEALTHCHECK requires at least one argument")]
    [InlineData("FROM a\nONBUILD", "LIV1012", 2, 1, "ONBUILD requires at least one argument")]
    [InlineData("FROM a\nONBUILD COPY a", "LIV1012", 2, 14, "COPY requires at least two arguments")]
    // Key/value pairs (1.6)
    [InlineData("FROM a\nENV PATH", "LIV1013", 2, 5, "ENV must have two arguments")]
    [InlineData("FROM a\nLABEL lonely", "LIV1013", 2, 7, "LABEL must have two arguments")]
    [InlineData("FROM a\nENV a=b c", "LIV1013", 2, 9, "Syntax error - can't find = in \"c\". Must be of the form: name=value")]
    [InlineData("FROM a\nLABEL a=b \\\n  \"c d\"", "LIV1013", 3, 3, "can't find = in \"\\\"c d\\\"\"")]
    [InlineData("FROM a\nLABEL =x", "LIV1013", 2, 7, "LABEL names can not be blank")]
    [InlineData("FROM a\nENV a=1 =x", "LIV1013", 2, 9, "ENV names can not be blank")]
    [InlineData("FROM a\nARG ok =x", "LIV1013", 2, 8, "ARG names can not be blank")]
    // Stage names
    [InlineData("FROM a AS 1x", "LIV1014", 1, 11, "invalid name for build stage: \"1x\", name can't start with a number or contain symbols")]
    [InlineData("FROM a AS b$c", "LIV1014", 1, 11, "invalid name for build stage")]
    [InlineData("FROM a AS -b", "LIV1014", 1, 11, "invalid name for build stage")]
    // SHELL, HEALTHCHECK, ONBUILD
    [InlineData("FROM a\nSHELL sh -c", "LIV1015", 2, 7, "SHELL requires the arguments to be in JSON form")]
    [InlineData("FROM a\nSHELL ['sh', '-c']", "LIV1015", 2, 7, "JSON form")]
    [InlineData("FROM a\nSHELL [\"c:\\windows\\cmd.exe\"]", "LIV1015", 2, 7, "without an escaped back-slash")]
    [InlineData("FROM a\nHEALTHCHECK FOO x", "LIV1016", 2, 13, "Unknown type \"FOO\" in HEALTHCHECK (try CMD)")]
    [InlineData("FROM a\nHEALTHCHECK NONE x", "LIV1016", 2, 18, "HEALTHCHECK NONE takes no arguments")]
    [InlineData("FROM a\nHEALTHCHECK CMD", "LIV1016", 2, 13, "Missing command after HEALTHCHECK CMD")]
    [InlineData("FROM a\nHEALTHCHECK --interval=1x CMD a", "LIV1016", 2, 13, "time: unknown unit \"x\" in duration \"1x\"")]
    [InlineData("FROM a\nHEALTHCHECK --timeout=10 CMD a", "LIV1016", 2, 13, "time: missing unit in duration \"10\"")]
    [InlineData("FROM a\nHEALTHCHECK --timeout=abc CMD a", "LIV1016", 2, 13, "time: invalid duration \"abc\"")]
    [InlineData("FROM a\nHEALTHCHECK --start-period=500us CMD a", "LIV1016", 2, 13, "Interval \"start-period\" cannot be less than 1ms")]
    [InlineData("FROM a\nHEALTHCHECK --start-interval=-1s CMD a", "LIV1016", 2, 13, "Interval \"start-interval\" cannot be less than 1ms")]
    [InlineData("FROM a\nHEALTHCHECK --retries=-1 CMD a", "LIV1016", 2, 13, "--retries cannot be negative (-1)")]
    [InlineData("FROM a\nHEALTHCHECK --retries=x CMD a", "LIV1016", 2, 13, "parsing \"x\": invalid syntax")]
    [InlineData("FROM a\nONBUILD ONBUILD RUN x", "LIV1017", 2, 9, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    [InlineData("FROM a\nONBUILD from b", "LIV1017", 2, 9, "FROM isn't allowed as an ONBUILD trigger")]
    [InlineData("FROM a\nONBUILD MAINTAINER me", "LIV1017", 2, 9, "MAINTAINER isn't allowed as an ONBUILD trigger")]
    [InlineData("FROM a\nONBUILD FORM b", "LIV1008", 2, 9, "unknown instruction: FORM")]
    // Structure (1.8)
    [InlineData("RUN x\nFROM a", "LIV1018", 1, 1, "no build stage in current context")]
    [InlineData("ARG a\n  ENV b=c\nFROM a", "LIV1018", 2, 3, "no build stage in current context")]
    [InlineData("ARG a\nARG b", "LIV1019", 1, 1, "dockerfile contains no stages to build")]
    // COPY --from, VOLUME, RUN --device
    [InlineData("FROM a\nCOPY --from=$x a b", "LIV1020", 2, 6, "variable expansion is not supported for --from")]
    [InlineData("FROM a\nCOPY --from=${stage} a b", "LIV1020", 2, 6, "variable expansion is not supported for --from")]
    [InlineData("FROM a\nVOLUME [\"/a\", \" \"]", "LIV1021", 2, 8, "VOLUME specified can not be an empty string")]
    [InlineData("FROM a\nRUN --device=gpu x", "LIV1022", 2, 5, "device feature is only supported in Dockerfile frontend 1.14.0-labs or later")]
    // Positions after continuations, empty continuation lines and heredoc bodies
    [InlineData("FROM a\nRUN echo \\\n\n  ok\nFORM", "LIV1008", 5, 1, "unknown instruction")]
    [InlineData("FROM a\nRUN <<EOF\nx\nEOF\nFORM", "LIV1008", 5, 1, "unknown instruction")]
    [InlineData("FROM a\r\nRUN echo \\\r\n# comment\r\n  x\r\n\tFORM", "LIV1008", 5, 2, "unknown instruction")]
    // check=error=true turns the lint warnings into an error
    [InlineData("# check=error=true\nFROM a\nMAINTAINER me", "LIV1032", 3, 1, "Maintainer instruction is deprecated")]
    public void Error_has_code_message_and_position(string dockerfile, string code, int line, int column, string message)
    {
        var error = Df.Fails(dockerfile);

        Assert.Equal(code, error.Code);
        Assert.Contains(message, error.Message);
        Assert.Equal((line, column), (error.Span!.Value.Line, error.Span.Value.Column));
    }

    [Fact]
    public void Line_longer_than_65535_bytes_fails_at_that_line()
    {
        var error = Df.Fails("FROM a\n" + new string('a', 65536) + "\nRUN x");

        Assert.Equal(DiagnosticCodes.DockerfileLineTooLong, error.Code);
        Assert.Equal(2, error.Span!.Value.Line);
        Assert.Contains("65535", error.Message);
    }

    [Fact]
    public void Line_of_65535_bytes_is_read()
    {
        var document = Df.Parse("FROM a\nLABEL x=" + new string('a', 65535 - 8) + "\n");

        Assert.Single(document.Stages[0].Instructions);
        Assert.Equal(DiagnosticCodes.DockerfileLineTooLong, Df.Fails("FROM a\nLABEL x=" + new string('a', 65536 - 8)).Code);
        // The limit is in UTF-8 bytes: 21843 three-byte characters are more than 65535 bytes.
        Assert.Equal(DiagnosticCodes.DockerfileLineTooLong, Df.Fails("FROM a\nLABEL x=" + new string('€', 21843)).Code);
    }

    [Fact]
    public void Unterminated_heredoc_span_runs_to_the_end_of_the_file()
    {
        var error = Df.Fails("FROM a\nRUN <<EOF\none\ntwo\n");

        Assert.Equal((2, 5, 4), (error.Span!.Value.Line, error.Span.Value.Column, error.Span.Value.EndLine));
    }

    [Fact]
    public void Every_code_the_parser_throws_is_in_its_range_and_in_the_table()
    {
        var parserCodes = typeof(DiagnosticCodes).GetFields()
            .Where(f => f.IsLiteral)
            .Select(f => (string)f.GetRawConstantValue()!)
            .Where(c => string.CompareOrdinal(c, "LIV1001") >= 0 && string.CompareOrdinal(c, "LIV1049") <= 0)
            .ToList();

        Assert.Equal(parserCodes.Count, parserCodes.Distinct().Count());
        Assert.True(parserCodes.Count >= 30);
        Assert.All(parserCodes, c => Assert.True(DiagnosticCodes.IsKnown(c)));
    }
}

/// <summary>Random Dockerfiles made of the language's awkward pieces: the parser either succeeds or throws a LIV1xxx error.</summary>
public class DockerfileParserRobustnessTests
{
    private static readonly string[] Pieces =
    [
        "FROM", "from", "RUN", "COPY", "ADD", "ENV", "LABEL", "ARG", "ONBUILD", "HEALTHCHECK", "SHELL", "CMD", "EXPOSE", "USER",
        "VOLUME", "NONE", "AS", " ", " ", " ", "\t", "\n", "\n", "\r\n", "\\", "\\\n", "`", "#", "# escape=`", "<<", "<<-", "<<EOF",
        "EOF", "'", "\"", "[", "]", "[\"a\"]", "[1]", ",", "=", "a", "b=c", "--", "--from=x", "--link", "--mount=", "--interval=1s",
        "$x", "${", "}", "\uFEFF", "€",
    ];

    [Fact]
    public void Random_input_never_fails_with_anything_but_a_parser_error()
    {
        var random = new Random(20260821);
        for (var i = 0; i < 3000; i++)
        {
            var text = string.Concat(Enumerable.Range(0, random.Next(1, 40)).Select(_ => Pieces[random.Next(Pieces.Length)]));
            Check(() => DockerfileParser.Parse("Dockerfile", text, NullLogger.Instance), text);
            Check(() => DockerfileParser.ParseTrigger(text, new SourceSpan("Dockerfile", 1, 1), NullLogger.Instance), text);
        }
    }

    private static void Check(Action parse, string text)
    {
        try
        {
            parse();
        }
        catch (LivrableException e)
        {
            Assert.StartsWith("LIV10", e.Code);
            Assert.NotNull(e.Span);
            Assert.True(e.Span!.Value.Line >= 1 && e.Span.Value.Column >= 1, $"{e.Span} for {text}");
        }
    }
}
