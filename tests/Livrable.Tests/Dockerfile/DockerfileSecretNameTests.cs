using Livrable.Diagnostics;
using Xunit;

namespace Livrable.Tests.Dockerfile;

/// <summary>
/// Issue 10 item 13: BuildKit's build check <c>SecretsUsedInArgOrEnv</c> (LIV1039), with BuildKit's name rules: a
/// stage's ARG or ENV whose name looks like a secret is warned about at the instruction, since its value stays in the
/// image's history or config; <c># check=skip=SecretsUsedInArgOrEnv</c> silences it as in BuildKit.
/// </summary>
public sealed class DockerfileSecretNameTests
{
    [Theory]
    // BuildKit's own examples and its test cases' names.
    [InlineData("api_key", true)]
    [InlineData("DATABASE_PASSWORD", true)]
    [InlineData("GITHUB_TOKEN", true)]
    [InlineData("secret_MESSAGE", true)]
    [InlineData("AUTH", true)]
    [InlineData("AWS_CREDENTIALS", true)]
    [InlineData("db_passwd", true)]
    [InlineData("APIKEY", true)]
    [InlineData("my_pword", true)]
    [InlineData("SSH_KEY_DATA", true)] // any word between underscores
    [InlineData("PUBLIC_KEY", false)]
    [InlineData("TOKEN_FILE", false)]
    [InlineData("SECRET_VERSION", false)]
    [InlineData("KEYRING", false)]
    [InlineData("MONKEY", false)]
    [InlineData("AUTHOR", false)]
    [InlineData("PATH", false)]
    public void Names_look_like_secrets_as_BuildKit_says(string name, bool warns)
    {
        var document = Df.Parse($"FROM base\nARG {name}\n", out var log);
        Assert.Single(document.Stages[0].Instructions);
        Assert.Equal(warns, log.Codes.Contains(DiagnosticCodes.SecretsUsedInArgOrEnv));
    }

    [Fact]
    public void ARG_and_ENV_of_a_stage_warn_at_their_line_and_the_ARGs_before_FROM_do_not()
    {
        Df.Parse("ARG BASE_TOKEN=x\nFROM scratch\nARG VERSION NPM_TOKEN\n\nENV A=1 \\\n    DB_PASSWORD=hunter2\n", out var log);

        var warnings = log.Warnings.Where(w => w.Code == DiagnosticCodes.SecretsUsedInArgOrEnv).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Equal((Df.Path, 3, 1), (warnings[0].Span?.File, warnings[0].Span?.Line, warnings[0].Span?.Column));
        Assert.Contains("(ARG \"NPM_TOKEN\")", warnings[0].Message);
        Assert.Contains("SecretsUsedInArgOrEnv", warnings[0].Message);
        Assert.Equal(5, warnings[1].Span?.Line);
        Assert.Contains("(ENV \"DB_PASSWORD\")", warnings[1].Message);
        Assert.DoesNotContain("hunter2", warnings[1].Message);
    }

    [Fact]
    public void The_check_directive_skips_it()
    {
        Df.Parse("# check=skip=SecretsUsedInArgOrEnv\nFROM scratch\nARG NPM_TOKEN\n", out var log);
        Assert.Empty(log.Warnings);
    }
}
