using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Xunit;

namespace Livrable.Tests.Dockerfile;

/// <summary>Checklist 1.6: JSON (exec) form detection and each instruction's argument form.</summary>
public class DockerfileArgumentTests
{
    [Theory]
    [InlineData("CMD [\"a\", \"b\"]", true, new[] { "a", "b" })]
    [InlineData("CMD   [ \"a\" ,\"b\" ]  ", true, new[] { "a", "b" })]
    [InlineData("CMD [\"a\\\\b\", \"\\u0041\", \"\\/\"]", true, new[] { "a\\b", "A", "/" })]
    [InlineData("CMD []", true, new string[0])]
    // Not valid JSON: the shell form, silently.
    [InlineData("CMD ['a']", false, new[] { "['a']" })]
    [InlineData("CMD [\"a\"] b", false, new[] { "[\"a\"] b" })]
    [InlineData("CMD [\"a\",]", false, new[] { "[\"a\",]" })]
    [InlineData("CMD [\"a\"", false, new[] { "[\"a\"" })]
    [InlineData("CMD [\"c:\\windows\"]", false, new[] { "[\"c:\\windows\"]" })]
    [InlineData("CMD echo \"a\"  b", false, new[] { "echo \"a\"  b" })]
    [InlineData("CMD", false, new string[0])]
    public void Exec_form_only_when_the_whole_rest_is_a_json_array_of_strings(string body, bool exec, string[] arguments)
    {
        var cmd = Df.One<CmdInstruction>(body);

        Assert.Equal(exec, cmd.Command.IsExecForm);
        Assert.Equal(arguments, cmd.Command.Arguments);
    }

    [Fact]
    public void Entrypoint_and_run_take_both_forms()
    {
        var instructions = Df.Body("ENTRYPOINT [\"/app\", \"--x\"]\nENTRYPOINT /app --x\nRUN [\"echo\", \"hi\"]");

        Assert.Equal(new CommandLine(["/app", "--x"], true).Arguments, ((EntrypointInstruction)instructions[0]).Command.Arguments);
        Assert.Equal("/app --x", ((EntrypointInstruction)instructions[1]).Command.ShellText);
        Assert.True(((RunInstruction)instructions[2]).Command.IsExecForm);
    }

    [Theory]
    // Shell-form COPY/ADD/VOLUME split on blanks WITHOUT quote handling.
    [InlineData("COPY \"a b\" c", new[] { "\"a", "b\"" }, "c")]
    [InlineData("COPY [\"a b\", \"c d\"]", new[] { "a b" }, "c d")]
    [InlineData("COPY  a\tb   /dest/ ", new[] { "a", "b" }, "/dest/")]
    [InlineData("COPY [\"a\"] b", new[] { "[\"a\"]" }, "b")]
    public void Copy_sources_and_destination(string body, string[] sources, string destination)
    {
        var copy = Df.One<CopyInstruction>(body);

        Assert.Equal(sources, copy.Sources.Select(s => s.Path));
        Assert.Equal(destination, copy.Destination);
    }

    [Theory]
    [InlineData("VOLUME /a /b", new[] { "/a", "/b" })]
    [InlineData("VOLUME [\"/a b\", \"/c\"]", new[] { "/a b", "/c" })]
    [InlineData("VOLUME \"/a b\"", new[] { "\"/a", "b\"" })]
    public void Volume_paths(string body, string[] paths)
    {
        Assert.Equal(paths, Df.One<VolumeInstruction>(body).Paths);
    }

    [Theory]
    [InlineData("ENV a=b", new[] { "a", "b" })]
    [InlineData("ENV a=b c=\"d e\" f='g h' i=j\\ k", new[] { "a", "b", "c", "\"d e\"", "f", "'g h'", "i", "j\\ k" })]
    [InlineData("ENV a= b=\"\"", new[] { "a", "", "b", "\"\"" })]
    [InlineData("ENV a=b=c", new[] { "a", "b=c" })]
    [InlineData("ENV a=\"x\\\"y\"", new[] { "a", "\"x\\\"y\"" })]
    // The legacy form: the first word has no '=', so the value is the whole rest.
    [InlineData("ENV ONE TWO= THREE=world", new[] { "ONE", "TWO= THREE=world" })]
    [InlineData("ENV PATH   /a /b  ", new[] { "PATH", "/a /b" })]
    public void Env_pairs_keep_quotes_raw(string body, string[] flat)
    {
        var env = Df.One<EnvInstruction>(body);

        Assert.Equal(flat, env.Variables.SelectMany(v => new[] { v.Key, v.Value }));
    }

    [Fact]
    public void Legacy_key_value_form_warns()
    {
        Df.Parse("FROM a\nENV ONE TWO= THREE=world\nLABEL k v\nENV k=v", out var log);

        Assert.Equal([DiagnosticCodes.LegacyKeyValueFormat, DiagnosticCodes.LegacyKeyValueFormat], log.Codes);
        Assert.Equal([2, 3], log.Warnings.Select(w => w.Span!.Value.Line));
    }

    [Theory]
    [InlineData("LABEL \"my key\"=\"my value\" b=c", new[] { "\"my key\"", "\"my value\"", "b", "c" })]
    [InlineData("LABEL maintainer Jane Doe", new[] { "maintainer", "Jane Doe" })]
    [InlineData("LABEL a=b \\\n      c=d", new[] { "a", "b", "c", "d" })]
    public void Label_pairs(string body, string[] flat)
    {
        var label = Df.One<LabelInstruction>(body);

        Assert.Equal(flat, label.Labels.SelectMany(v => new[] { v.Key, v.Value }));
    }

    [Fact]
    public void Arg_declarations_are_quote_aware_words()
    {
        var arg = Df.One<ArgInstruction>("ARG a b=c d=\"e f\" g=");

        Assert.Equal(
            [new ArgDeclaration("a", null), new ArgDeclaration("b", "c"), new ArgDeclaration("d", "\"e f\""), new ArgDeclaration("g", "")],
            arg.Args);
    }

    [Fact]
    public void Whole_rest_instructions_keep_inner_spaces()
    {
        var instructions = Df.Body("USER  app:app \nWORKDIR /my dir\nMAINTAINER Jane Doe <jane@example.com>\nSTOPSIGNAL SIGKILL");

        Assert.Equal("app:app", ((UserInstruction)instructions[0]).User);
        Assert.Equal("/my dir", ((WorkdirInstruction)instructions[1]).Path);
        Assert.Equal("Jane Doe <jane@example.com>", ((MaintainerInstruction)instructions[2]).Maintainer);
        Assert.Equal("SIGKILL", ((StopsignalInstruction)instructions[3]).Signal);
    }

    [Fact]
    public void Maintainer_is_deprecated()
    {
        Df.Parse("FROM a\nMAINTAINER me", out var log);

        Assert.Equal([DiagnosticCodes.MaintainerDeprecated], log.Codes);
    }

    [Fact]
    public void Expose_keeps_raw_words_in_order()
    {
        Assert.Equal(["8080/tcp", "$PORTS", "53/UDP"], Df.One<ExposeInstruction>("EXPOSE 8080/tcp  $PORTS\t53/UDP").Ports);
    }

    [Fact]
    public void Shell_takes_a_json_array()
    {
        Assert.Equal(["pwsh", "-Command"], Df.One<ShellInstruction>("SHELL [\"pwsh\", \"-Command\"]").Shell);
    }
}
