using Livrable.Dockerfile;
using Xunit;

namespace Livrable.Tests.Dockerfile;

/// <summary>Checklist 1.7: here-documents of RUN, COPY and ADD (and of ONBUILD RUN/COPY/ADD).</summary>
public class DockerfileHeredocTests
{
    [Theory]
    [InlineData("RUN <<EOF\necho hi\nEOF", "EOF", "echo hi\n", true, false)]
    [InlineData("RUN << EOF\necho hi\nEOF", "EOF", "echo hi\n", true, false)]
    [InlineData("RUN 3<<EOF\necho hi\nEOF", "EOF", "echo hi\n", true, false)]
    [InlineData("RUN <<'EOF'\necho $HOME\nEOF", "EOF", "echo $HOME\n", false, false)]
    [InlineData("RUN <<\"EOF\"\necho $HOME\nEOF", "EOF", "echo $HOME\n", false, false)]
    [InlineData("RUN <<E\"O\"F\nx\nEOF", "EOF", "x\n", false, false)]
    [InlineData("RUN <<eo'f'\nx\neof", "eof", "x\n", false, false)]
    [InlineData("RUN <<eo\\'f\nx\neo'f", "eo'f", "x\n", true, false)]
    [InlineData("RUN <<'one two'\nx\none two", "one two", "x\n", false, false)]
    // <<- strips leading tabs from the body and the terminator, not spaces.
    [InlineData("RUN <<-EOF\n\techo a\n\t\techo b\n  c\n\tEOF", "EOF", "echo a\necho b\n  c\n", true, true)]
    [InlineData("RUN <<-'EOF'\n\tdon't expand $NAME\nEOF", "EOF", "don't expand $NAME\n", false, true)]
    // Without <<- a tab-indented terminator is body.
    [InlineData("RUN <<EOF\n\tEOF\nEOF", "EOF", "\tEOF\n", true, false)]
    // The body is raw: comments, blank lines, backslashes and the escape character stay.
    [InlineData("RUN <<EOF\n# a comment\n\necho a \\\nEOF", "EOF", "# a comment\n\necho a \\\n", true, false)]
    [InlineData("RUN <<EMPTY\nEMPTY", "EMPTY", "", true, false)]
    // A CRLF file keeps its CRs in the body, as BuildKit does; the terminator is found without them.
    [InlineData("RUN <<EOF\r\necho hi\r\nEOF\r\n", "EOF", "echo hi\r\n", true, false)]
    [InlineData("RUN --mount=type=cache,target=/x <<EOF\necho hi\nEOF", "EOF", "echo hi\n", true, false)]
    public void Run_heredoc(string body, string name, string content, bool expand, bool chomp)
    {
        var run = Df.One<RunInstruction>(body);

        Assert.Equal(new Heredoc(name, content, expand, chomp), Assert.Single(run.Heredocs));
        Assert.False(run.Command.IsExecForm);
    }

    [Fact]
    public void Run_heredoc_followed_by_arguments()
    {
        var run = Df.One<RunInstruction>("RUN <<EOF sh -x\necho hi\nEOF");

        Assert.Equal("<<EOF sh -x", run.Command.ShellText);
        Assert.Equal("EOF", Assert.Single(run.Heredocs).Name);
    }

    [Fact]
    public void Several_heredocs_on_one_line_read_their_bodies_in_order()
    {
        var run = Df.One<RunInstruction>("RUN cat <<A - <<B | tr a-z A-Z\nfirst\nA\nsecond\nB");

        Assert.Equal([new Heredoc("A", "first\n", true, false), new Heredoc("B", "second\n", true, false)], run.Heredocs);
        Assert.Equal("cat <<A - <<B | tr a-z A-Z", run.Command.ShellText);
    }

    [Fact]
    public void Copy_heredocs_are_sources_matched_by_name()
    {
        var copy = Df.One<CopyInstruction>("COPY <<X <<Y /dest/\nY\nX\nX\nY");

        Assert.Equal(
            [new SourceArgument(null, new Heredoc("X", "Y\n", true, false)), new SourceArgument(null, new Heredoc("Y", "X\n", true, false))],
            copy.Sources);
        Assert.Equal("/dest/", copy.Destination);
    }

    [Fact]
    public void Copy_mixes_paths_and_heredocs()
    {
        var copy = Df.One<CopyInstruction>("COPY --chmod=755 a <<-'EOF' /app/\n\t#!/bin/sh\n\techo $x\n\tEOF");

        Assert.Equal(new SourceArgument("a", null), copy.Sources[0]);
        Assert.Equal(new Heredoc("EOF", "#!/bin/sh\necho $x\n", false, true), copy.Sources[1].Heredoc);
        Assert.Equal("755", copy.Chmod);
    }

    [Fact]
    public void Add_heredoc_source()
    {
        var add = Df.One<AddInstruction>("ADD <<EOF /etc/motd\nhello\nEOF");

        Assert.Equal(new Heredoc("EOF", "hello\n", true, false), Assert.Single(add.Sources).Heredoc);
    }

    [Theory]
    // Other instructions do not take heredocs: the "body" lines are instructions.
    [InlineData("USER <<EOF\nRUN x\nEOF2 y")]
    // Nor does the exec form, nor a quoted << (it is not a shell heredoc word).
    [InlineData("RUN [\"cat\", \"<<EOF\"]\nRUN x\nEOF2 y")]
    [InlineData("RUN \"<<EOF\"\nRUN x\nEOF2 y")]
    [InlineData("RUN echo '<<EOF'\nRUN x\nEOF2 y")]
    [InlineData("RUN cat<<EOF\nRUN x\nEOF2 y")]
    [InlineData("RUN cat <<\nRUN x\nEOF2 y")]
    public void Not_a_heredoc(string body)
    {
        var error = Assert.Throws<Livrable.Diagnostics.LivrableException>(() => Df.Body(body));

        // Proof that the lines after were read as instructions: EOF2 is an unknown one, on line 4.
        Assert.Contains("unknown instruction: EOF2", error.Message);
        Assert.Equal(4, error.Span!.Value.Line);
    }

    [Fact]
    public void Instruction_span_covers_its_heredoc_bodies()
    {
        var instructions = Df.Body("COPY <<A <<B /d\na\nA\nb\nB\nRUN next");

        Assert.Equal((2, 6, 2), (instructions[0].Span.Line, instructions[0].Span.EndLine, instructions[0].Span.EndColumn));
        Assert.Equal(7, instructions[1].Span.Line);
    }

    [Fact]
    public void Onbuild_trigger_keeps_its_heredoc_bodies_as_buildkit_stores_them()
    {
        var onbuild = Df.One<OnbuildInstruction>("ONBUILD RUN <<EOF\necho hi\nEOF");

        Assert.Equal("RUN <<EOF\necho hi\nEOF", onbuild.Trigger);
        var run = Assert.IsType<RunInstruction>(onbuild.Parsed);
        Assert.Equal(new Heredoc("EOF", "echo hi\n", true, false), Assert.Single(run.Heredocs));
    }

    [Fact]
    public void Onbuild_copy_heredoc_round_trips_through_parse_trigger()
    {
        var onbuild = Df.One<OnbuildInstruction>("ONBUILD COPY <<-A <<B /d/\n\ta\n\tA\nb\nB");
        var span = new Livrable.Diagnostics.SourceSpan("child/Dockerfile", 1, 1);

        var downstream = Assert.IsType<CopyInstruction>(DockerfileParser.ParseTrigger(onbuild.Trigger, span, new WarningLog()));

        // Each body is re-attached as "\n" + body + name: the terminator's tabs are not kept.
        Assert.Equal("COPY <<-A <<B /d/\n\ta\nA\nb\nB", onbuild.Trigger);
        Assert.Equal(((CopyInstruction)onbuild.Parsed).Sources, downstream.Sources);
        Assert.Equal("a\n", downstream.Sources[0].Heredoc!.Content);
        Assert.Equal(span, downstream.Span);
    }
}
