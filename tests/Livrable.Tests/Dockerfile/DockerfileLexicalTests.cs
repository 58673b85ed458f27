using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Xunit;

namespace Livrable.Tests.Dockerfile;

/// <summary>Checklist section 1.1-1.5: reading the file, directives, comments, continuations, keywords.</summary>
public class DockerfileLexicalTests
{
    [Fact]
    public void Directives_at_the_top_are_recorded()
    {
        var document = Df.Parse("# syntax=docker/dockerfile:1.7\n# escape=`\n# check=skip=all\nFROM a", out var log);

        Assert.Equal(new ParserDirectives("docker/dockerfile:1.7", '`', "skip=all"), document.Directives);
        var warning = Assert.Single(log.Warnings);
        Assert.Equal(DiagnosticCodes.SyntaxDirectiveIgnored, warning.Code);
        Assert.Equal(1, warning.Span!.Value.Line);
    }

    [Theory]
    [InlineData("#escape=`\nFROM a", '`')]
    [InlineData("# ESCAPE = `  \nFROM a", '`')]
    [InlineData("  #  Escape=`\nFROM a", '`')]
    [InlineData("# escape=\\\nFROM a", '\\')]
    // Anything that is not a directive ends the section: the later "directive" is a comment.
    [InlineData("FROM a\n# escape=`", '\\')]
    [InlineData("\n# escape=`\nFROM a", '\\')]
    [InlineData("# a comment\n# escape=`\nFROM a", '\\')]
    [InlineData("# unknown=x\n# escape=`\nFROM a", '\\')]
    [InlineData("# escape=\n# escape=`\nFROM a", '\\')]
    public void Escape_directive_only_counts_at_the_top(string dockerfile, char escape)
    {
        Assert.Equal(escape, Df.Parse(dockerfile).Directives.Escape);
    }

    [Fact]
    public void Unknown_directive_key_is_a_comment_and_does_not_fail_twice()
    {
        var document = Df.Parse("# foo=bar\n# foo=bar\n# syntax=x\n# syntax=y\nFROM a", out _);

        Assert.Null(document.Directives.Syntax);
    }

    [Fact]
    public void Byte_order_mark_and_crlf_are_ignored()
    {
        var document = Df.Parse("\uFEFF# escape=`\r\nFROM a\r\nRUN echo a `\r\n  b\r\n");

        Assert.Equal('`', document.Directives.Escape);
        var run = Assert.IsType<RunInstruction>(Assert.Single(document.Stages[0].Instructions));
        Assert.Equal("echo a   b", run.Command.ShellText);
    }

    [Theory]
    // The escape char and the blanks after it go, the character before stays; continuation lines keep their indent.
    [InlineData("RUN echo hello\\\n  world", "echo hello  world")]
    [InlineData("RUN echo a \\   \n b", "echo a  b")]
    [InlineData("RUN echo a \\\t\n b", "echo a  b")]
    // Comment lines inside a continuation are dropped; the joining goes on.
    [InlineData("RUN echo hello \\\n# comment\nworld", "echo hello world")]
    [InlineData("RUN echo hello \\\n   # indented comment \\\nworld", "echo hello world")]
    // Empty and blank lines inside a continuation are skipped.
    [InlineData("RUN a \\\n\n  \n b", "a  b")]
    // A continuation at the end of the file is fine.
    [InlineData("RUN a \\", "a")]
    [InlineData("RUN a \\\n", "a")]
    // A # after the start of a line is not a comment.
    [InlineData("RUN echo 'a # b'", "echo 'a # b'")]
    public void Continuation_lines_are_joined(string body, string command)
    {
        var run = Df.One<RunInstruction>(body);

        Assert.Equal(command, run.Command.ShellText);
    }

    [Fact]
    public void Escaped_escape_at_end_of_line_is_not_a_continuation()
    {
        var instructions = Df.Body("RUN echo foo\\\\\nRUN echo bar");

        Assert.Equal(2, instructions.Count);
        Assert.Equal("echo foo\\\\", Assert.IsType<RunInstruction>(instructions[0]).Command.ShellText);
    }

    [Fact]
    public void Comment_does_not_continue()
    {
        var instructions = Df.Body("# a comment \\\nRUN x");

        Assert.Equal("x", Assert.IsType<RunInstruction>(Assert.Single(instructions)).Command.ShellText);
    }

    [Fact]
    public void Backtick_escape_continues_lines_and_leaves_backslashes_alone()
    {
        var document = Df.Parse("# escape=`\nFROM mcr.microsoft.com/windows/servercore\nRUN dir c:\\\nCOPY a `\n  b c:\\app\\\nENV x=a`\"b");
        var instructions = document.Stages[0].Instructions;

        Assert.Equal(3, instructions.Count);
        Assert.Equal("dir c:\\", Assert.IsType<RunInstruction>(instructions[0]).Command.ShellText);
        var copy = Assert.IsType<CopyInstruction>(instructions[1]);
        Assert.Equal(["a", "b"], copy.Sources.Select(s => s.Path));
        Assert.Equal("c:\\app\\", copy.Destination);
        Assert.Equal(new KeyValue("x", "a`\"b"), Assert.IsType<EnvInstruction>(instructions[2]).Variables.Single());
    }

    [Fact]
    public void Empty_continuation_line_warns_at_the_instruction()
    {
        Df.Parse("FROM a\nRUN a \\\n\n b", out var log);

        var warning = Assert.Single(log.Warnings);
        Assert.Equal(DiagnosticCodes.EmptyContinuationLine, warning.Code);
        Assert.Contains("Empty continuation line found in: RUN a  b", warning.Message);
        Assert.Equal((2, 1), (warning.Span!.Value.Line, warning.Span.Value.Column));
    }

    [Fact]
    public void Keywords_are_case_insensitive()
    {
        var document = Df.Parse("from a AS b\nrUn x\nCopy y z");

        Assert.Equal("RUN", document.Stages[0].Instructions[0].Keyword);
        Assert.IsType<CopyInstruction>(document.Stages[0].Instructions[1]);
    }

    [Fact]
    public void Instruction_span_is_its_keyword_and_runs_to_its_last_line()
    {
        var document = Df.Parse("FROM a\n\n  RUN one \\\n    two\n\tCMD x");
        var run = document.Stages[0].Instructions[0];
        var cmd = document.Stages[0].Instructions[1];

        Assert.Equal(new SourceSpan(Df.Path, 3, 3, 4, 8), run.Span);
        Assert.Equal((5, 2), (cmd.Span.Line, cmd.Span.Column));
        Assert.Equal("RUN one     two", run.Text);
    }

    [Fact]
    public void Text_is_the_instruction_as_written_with_continuations_joined()
    {
        var copy = Df.One<CopyInstruction>("COPY --chown=1 \\\n  a b   ");

        Assert.Equal("COPY --chown=1   a b", copy.Text);
    }
}
