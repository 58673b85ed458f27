using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Xunit;

namespace Livrable.Tests.Dockerfile;

/// <summary>Checklist 1.5 (flags), 1.8 (structure) and section 3: the checked records of each instruction.</summary>
public class DockerfileInstructionTests
{
    [Theory]
    [InlineData("FROM alpine", "alpine", null, null)]
    [InlineData("FROM alpine:3.20@sha256:abc AS build", "alpine:3.20@sha256:abc", "build", null)]
    [InlineData("FROM --platform=$BUILDPLATFORM golang:1 as Build-1.x_y", "golang:1", "build-1.x_y", "$BUILDPLATFORM")]
    [InlineData("from --platform= scratch", "scratch", null, "")]
    [InlineData("FROM ${BASE}:${TAG}", "${BASE}:${TAG}", null, null)]
    public void From_forms(string line, string image, string? stage, string? platform)
    {
        var from = Df.Parse(line).Stages[0].From;

        Assert.Equal((image, stage, platform), (from.Image, from.StageName, from.Platform));
    }

    [Fact]
    public void Stage_name_lint()
    {
        Df.Parse("FROM a AS Build\nFROM b as c\nFROM c AS scratch\nFROM d AS build", out var log);

        Assert.Equal(
            [DiagnosticCodes.StageNameCasing, DiagnosticCodes.FromAsCasing, DiagnosticCodes.ReservedStageName, DiagnosticCodes.DuplicateStageName],
            log.Codes);
        Assert.Equal((1, 11), (log.Warnings[0].Span!.Value.Line, log.Warnings[0].Span!.Value.Column));
    }

    [Theory]
    [InlineData("# check=skip=StageNameCasing,FromAsCasing\nFROM a AS B\nfrom b AS c", 0)]
    [InlineData("# check=skip=all\nFROM a AS B\nMAINTAINER x", 0)]
    [InlineData("# check=skip=MaintainerDeprecated\nFROM a AS B\nMAINTAINER x", 1)]
    [InlineData("# check=error=false\nFROM a\nMAINTAINER x", 1)]
    public void Check_directive_skips_rules(string dockerfile, int warnings)
    {
        Df.Parse(dockerfile, out var log);

        Assert.Equal(warnings, log.Warnings.Count);
    }

    [Theory]
    [InlineData("# check=bogus\nFROM a", "failed to parse check options: invalid check option \"bogus\"")]
    [InlineData("# check=skip=all;colour=red\nFROM a", "failed to parse check options: invalid check option \"colour\"")]
    [InlineData("# check=Skip=all\nFROM a", "failed to parse check options: invalid check option \"Skip\"")]
    [InlineData("# check=skip=all;\nFROM a", "failed to parse check options: invalid check option \"\"")]
    [InlineData("# check=error=maybe\nFROM a", "failed to parse check options: failed to parse check option \"error=maybe\": strconv.ParseBool: parsing \"maybe\": invalid syntax")]
    public void An_invalid_check_directive_fails_as_in_BuildKit(string dockerfile, string message)
    {
        var error = Df.Fails(dockerfile);
        Assert.Equal(DiagnosticCodes.InvalidCheckOptions, error.Code);
        Assert.Equal(message, error.Message);
        Assert.Equal(1, error.Span?.Line);
    }

    [Theory]
    [InlineData("# check=experimental=all;error=1\nFROM a AS b")]
    [InlineData("# check=skip=FromAsCasing ; error=T\nFROM a as b")]
    public void Every_option_BuildKit_takes_parses(string dockerfile) => Df.Parse(dockerfile);

    [Fact]
    public void Run_flags()
    {
        var run = Df.One<RunInstruction>(
            "RUN --mount=type=cache,target=/root/.cache --mount=\"type=secret,id=a b\" --network=none --security=insecure pip install x");

        Assert.Equal(["type=cache,target=/root/.cache", "type=secret,id=a b"], run.Mounts);
        Assert.Equal(("none", "insecure"), (run.Network, run.Security));
        Assert.Equal("pip install x", run.Command.ShellText);
    }

    [Fact]
    public void Builder_flags_take_the_escape_directive()
    {
        // BuildKit's extractBuilderFlags escapes with the directive's character: backticks go, backslashes stay.
        var run = Df.Parse("# escape=`\nFROM base\nRUN --mount=type=bind,source=C:\\src,target=C:\\build`,ro dir").Stages[0].Instructions.OfType<RunInstruction>().Single();
        Assert.Equal(["type=bind,source=C:\\src,target=C:\\build,ro"], run.Mounts);
        run = Df.One<RunInstruction>("RUN --mount=type=bind,source=a\\b,target=/x dir");
        Assert.Equal(["type=bind,source=ab,target=/x"], run.Mounts);
    }

    [Theory]
    [InlineData("RUN --mount= true", "failed to parse csv mounts: EOF")]
    [InlineData("RUN --mount=type=bind,from=$STAGE,target=/x true", "'from' doesn't support variable expansion, define alias stage instead")]
    [InlineData("RUN --mount=type=bind,source=a\\\"b,target=/x true", "failed to parse csv mounts: parse error on line 1, column 19: bare \" in non-quoted-field")]
    public void Mounts_are_checked_when_the_Dockerfile_is_parsed(string line, string message)
    {
        // Before any step runs, at the RUN's line, as BuildKit's parser does.
        var error = Df.Fails("FROM base\nRUN true\n" + line + "\n");
        Assert.Equal((DiagnosticCodes.InvalidRunMount, 3, message), (error.Code, error.Span?.Line, error.Message));
    }

    [Fact]
    public void A_from_ending_in_a_dollar_is_not_a_variable()
        => Assert.Equal(["type=bind,from=stage$,target=/x"], Df.One<RunInstruction>("RUN --mount=type=bind,from=stage$,target=/x true").Mounts);

    [Fact]
    public void An_escaped_lone_surrogate_keeps_the_exec_form_as_Gos_decoder_does()
    {
        var run = Df.One<RunInstruction>("RUN [\"echo\", \"a\\ud800b\", \"\\udc00\", \"\\ud83d\\ude00\", \"\\ud800\\u0041\"]");
        Assert.True(run.Command.IsExecForm);
        Assert.Equal(["echo", "a\uFFFDb", "\uFFFD", "\U0001F600", "\uFFFDA"], run.Command.Arguments);
    }

    [Fact]
    public void A_continuation_that_runs_to_the_end_of_the_file_ends_on_its_last_line()
    {
        // BuildKit counts the blank and comment lines the continuation consumed.
        var run = Df.Parse("FROM base\nRUN echo \\\n  hi \\\n# comment\n\n").Stages[0].Instructions[0];
        Assert.Equal((2, 5), (run.Span.Line, run.Span.EndLine));
        run = Df.Parse("FROM base\nRUN echo \\\n# comment\n  hi\n\n# after\n").Stages[0].Instructions[0];
        Assert.Equal((2, 4), (run.Span.Line, run.Span.EndLine));
    }

    [Fact]
    public void Run_without_flags_leaves_them_unset()
    {
        var run = Df.One<RunInstruction>("RUN make");

        Assert.Equal((0, null, null), (run.Mounts.Count, run.Network, run.Security));
        Assert.Empty(run.Heredocs);
    }

    [Fact]
    public void Double_dash_ends_the_flags()
    {
        var run = Df.One<RunInstruction>("RUN --network=host -- --not-a-flag x");

        Assert.Equal("host", run.Network);
        Assert.Equal("--not-a-flag x", run.Command.ShellText);
    }

    [Fact]
    public void Copy_flags()
    {
        var copy = Df.One<CopyInstruction>(
            "COPY --from=build --chown=app:app --chmod=u=rwX --link --parents --exclude=*.md --exclude='**/bin' a b /d/");

        Assert.Equal(("build", "app:app", "u=rwX", true, true), (copy.From, copy.Chown, copy.Chmod, copy.Link, copy.Parents));
        Assert.Equal(["*.md", "**/bin"], copy.Excludes);
    }

    [Theory]
    [InlineData("COPY a b", false)]
    [InlineData("COPY --link a b", true)]
    [InlineData("COPY --link=TRUE a b", true)]
    [InlineData("COPY --link=false a b", false)]
    [InlineData("COPY --link=False a b", false)]
    public void Bool_flag_forms(string body, bool link)
    {
        Assert.Equal(link, Df.One<CopyInstruction>(body).Link);
    }

    [Fact]
    public void Copy_from_may_be_empty_or_a_stage_index()
    {
        Assert.Equal("", Df.One<CopyInstruction>("COPY --from= a b").From);
        Assert.Equal("0", Df.One<CopyInstruction>("COPY --from=0 a b").From);
        Assert.Null(Df.One<CopyInstruction>("COPY a b").From);
    }

    [Fact]
    public void Add_flags()
    {
        var add = Df.One<AddInstruction>(
            "ADD --checksum=sha256:abc --keep-git-dir --unpack=false --chmod=644 --chown=1:2 --exclude=x https://example.com/a.git /d");

        Assert.Equal(("sha256:abc", true, false, "644", "1:2"), (add.Checksum, add.KeepGitDir, add.Unpack, add.Chmod, add.Chown));
        Assert.Equal(["x"], add.Excludes);
        Assert.Null(Df.One<AddInstruction>("ADD a b").Unpack);
    }

    [Fact]
    public void Healthcheck_with_flags_in_shell_form()
    {
        var health = Df.One<HealthcheckInstruction>(
            "HEALTHCHECK --interval=1m30s --timeout=1.5s --start-period=0 --start-interval=500ms --retries=0 CMD curl -f http://localhost/");

        Assert.Equal(["CMD-SHELL", "curl -f http://localhost/"], health.Test);
        Assert.Equal(TimeSpan.FromSeconds(90), health.Interval);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), health.Timeout);
        Assert.Equal(TimeSpan.Zero, health.StartPeriod);
        Assert.Equal(TimeSpan.FromMilliseconds(500), health.StartInterval);
        Assert.Equal(0, health.Retries);
    }

    [Theory]
    [InlineData("HEALTHCHECK CMD [\"curl\", \"-f\", \"x\"]", new[] { "CMD", "curl", "-f", "x" })]
    [InlineData("healthcheck cmd echo hi", new[] { "CMD-SHELL", "echo hi" })]
    [InlineData("HEALTHCHECK NONE", new[] { "NONE" })]
    [InlineData("HEALTHCHECK none", new[] { "NONE" })]
    // BuildKit never parses the flags of NONE: they are ignored, even invalid ones.
    [InlineData("HEALTHCHECK --interval=bogus --what=1 NONE", new[] { "NONE" })]
    public void Healthcheck_forms(string body, string[] test)
    {
        var health = Df.One<HealthcheckInstruction>(body);

        Assert.Equal(test, health.Test);
        Assert.Null(health.Interval);
        Assert.Null(health.Retries);
    }

    [Theory]
    [InlineData("1h", 3_600_000)]
    [InlineData("1.5h", 5_400_000)]
    [InlineData("2m3s4ms", 123_004)]
    [InlineData("+1s", 1_000)]
    [InlineData("1000us", 1)]
    [InlineData("1000000ns", 1)]
    [InlineData("1000\u00b5s", 1)]
    [InlineData(".5s", 500)]
    [InlineData("0", 0)]
    [InlineData("0s", 0)]
    public void Healthcheck_durations_parse_like_go(string value, int milliseconds)
    {
        var health = Df.One<HealthcheckInstruction>($"HEALTHCHECK --timeout={value} CMD x");

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), health.Timeout);
    }

    [Fact]
    public void Onbuild_keeps_the_trigger_as_written_and_checks_it()
    {
        var onbuild = Df.One<OnbuildInstruction>("onbuild  copy --from=x a \\\n  /b  ");

        Assert.Equal("copy --from=x a   /b  ", onbuild.Trigger);
        var copy = Assert.IsType<CopyInstruction>(onbuild.Parsed);
        Assert.Equal(("x", "/b"), (copy.From, copy.Destination));
        Assert.Equal((2, 10), (copy.Span.Line, copy.Span.Column));
    }

    [Theory]
    [InlineData("RUN echo hi", typeof(RunInstruction))]
    [InlineData("ENV a=b", typeof(EnvInstruction))]
    [InlineData("HEALTHCHECK NONE", typeof(HealthcheckInstruction))]
    [InlineData("ARG x", typeof(ArgInstruction))]
    public void Parse_trigger_runs_a_stored_trigger(string trigger, Type type)
    {
        var span = new SourceSpan("app/Dockerfile", 3, 1);

        var instruction = DockerfileParser.ParseTrigger(trigger, span, new WarningLog());

        Assert.IsType(type, instruction);
        Assert.Equal(span, instruction.Span);
    }

    [Theory]
    [InlineData("FROM x", "LIV1017", "FROM isn't allowed as an ONBUILD trigger")]
    [InlineData("ONBUILD RUN x", "LIV1017", "Chaining ONBUILD")]
    [InlineData("MAINTAINER me", "LIV1017", "MAINTAINER isn't allowed")]
    [InlineData("RUN a\nRUN b", "LIV1017", "should be a single instruction")]
    [InlineData("", "LIV1017", "should be a single instruction")]
    [InlineData("COPY a", "LIV1012", "COPY requires at least two arguments")]
    [InlineData("RUN <<EOF\nx", "LIV1005", "unterminated heredoc")]
    public void Parse_trigger_errors_point_at_the_given_span(string trigger, string code, string message)
    {
        var span = new SourceSpan("app/Dockerfile", 3, 1);

        var error = Assert.Throws<LivrableException>(() => DockerfileParser.ParseTrigger(trigger, span, new WarningLog()));

        Assert.Equal(code, error.Code);
        Assert.Contains(message, error.Message);
        Assert.Equal(span, error.Span);
    }

    [Fact]
    public void Stages_and_global_args()
    {
        var document = Df.Parse("# comment\nARG BASE=alpine\nARG TAG\nFROM $BASE:$TAG AS build\nRUN make\n\nFROM scratch\nCOPY --from=build /out /\nFROM build");

        Assert.Equal(["BASE", "TAG"], document.GlobalArgs.SelectMany(a => a.Args).Select(a => a.Name));
        Assert.Equal(3, document.Stages.Count);
        Assert.Equal(("build", 0, 1), (document.Stages[0].Name, document.Stages[0].Index, document.Stages[0].Instructions.Count));
        Assert.Null(document.Stages[1].Name);
        Assert.Empty(document.Stages[2].Instructions);
        Assert.Equal(Df.Path, document.Path);
    }

    [Fact]
    public void Arg_inside_a_stage_belongs_to_the_stage()
    {
        var document = Df.Parse("ARG A\nFROM x\nARG A\nARG B=1");

        Assert.Single(document.GlobalArgs);
        Assert.Equal(2, document.Stages[0].Instructions.Count);
    }

    [Fact]
    public void Every_instruction_has_its_keyword()
    {
        var instructions = Df.Body(string.Join('\n',
            "RUN a", "CMD a", "ENTRYPOINT a", "SHELL [\"a\"]", "LABEL a=b", "MAINTAINER a", "EXPOSE 1", "ENV a=b", "COPY a b",
            "ADD a b", "VOLUME /a", "USER a", "WORKDIR /a", "ARG a", "ONBUILD RUN a", "STOPSIGNAL 9", "HEALTHCHECK NONE"));

        Assert.Equal(
            ["RUN", "CMD", "ENTRYPOINT", "SHELL", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "COPY", "ADD", "VOLUME", "USER",
                "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK"],
            instructions.Select(i => i.Keyword));
    }
}
