using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Livrable.Go;
using Xunit;

namespace Livrable.Tests.Dockerfile;

/// <summary>
/// Vectors in the style of BuildKit's <c>frontend/dockerfile/shell/envVarTest</c>, <c>wordsTest</c> and
/// <c>lex_test.go</c>, with the expected values worked out from lex.go (not copied).
/// </summary>
public sealed class ShellExpanderTests
{
    private static readonly SourceSpan Span = new("Dockerfile", 7, 3, 7, 20);

    private static readonly Dictionary<string, string> Env = new(StringComparer.Ordinal)
    {
        ["PWD"] = "/home",
        ["SHELL"] = "bash",
        ["KOREAN"] = "한국어",
        ["NULL"] = "",
        ["VERSION"] = "1.2.3",
        ["IMAGE"] = "busybox:latest",
        ["STARS"] = "a***yy*",
        ["SPEC"] = @"()[]{}^$.*?|\x",
        ["PATHS"] = "/tmp/tmp/bar.txt",
        ["URL"] = "http://google.de",
        ["GLOB"] = "/foo*/*/*.txt",
        ["NEEDLE"] = @"\*/",
        ["WS"] = "a  b",
        ["PORTS"] = "80/tcp 443",
        ["lower"] = "small",
    };

    [Theory]
    // plain text, quotes and escapes
    [InlineData("hello", "hello")]
    [InlineData("he'll'o", "hello")]
    [InlineData(@"he\'llo", "he'llo")]
    [InlineData(@"abc\tdef", "abctdef")]
    [InlineData(@"""abc\tdef""", @"abc\tdef")]
    [InlineData(@"""abc\\tdef""", @"abc\tdef")]
    [InlineData(@"'abc\tdef'", @"abc\tdef")]
    [InlineData(@"hello\", "hello")]
    [InlineData(@"hello\\", @"hello\")]
    [InlineData(@"""hel'lo""", "hel'lo")]
    [InlineData(@"'hello\'", @"hello\")]
    [InlineData(@"""''""", "''")]
    [InlineData(@"'""hello""'", @"""hello""")]
    [InlineData(@"""a\""b""", @"a""b")]
    [InlineData(@"""a\$b""", "a$b")]
    [InlineData(@"""a\\b""", @"a\b")]
    [InlineData(@"""a\xb""", @"a\xb")]
    // $name and ${name}
    [InlineData("$.", "$.")]
    [InlineData("a$", "a$")]
    [InlineData("$1", "")]
    [InlineData("he$1x", "hex")]
    [InlineData("he$.x", "he$.x")]
    [InlineData("he$pwd.", "he.")]
    [InlineData("he$PWD", "he/home")]
    [InlineData("$lower$PWD", "small/home")]
    [InlineData(@"he\$PWD", "he$PWD")]
    [InlineData(@"he\\$PWD", @"he\/home")]
    [InlineData(@"he\${}", "he${}")]
    [InlineData("he${hi}xx", "hexx")]
    [InlineData("he${PWD}", "he/home")]
    [InlineData("$999aaa", "aaa")]
    [InlineData("$001x", "x")]
    [InlineData("a$@$*$#$?$-$$$!$0b", "ab")]
    [InlineData("${1:-x}", "x")]
    [InlineData("${@:-x}", "x")]
    [InlineData("안녕$KOREAN", "안녕한국어")]
    [InlineData("$KOREAN안녕", "")]
    [InlineData("${KOREAN}안녕", "한국어안녕")]
    // - and +, with and without the colon
    [InlineData("he${XXX:-000}xx", "he000xx")]
    [InlineData("he${PWD:-000}xx", "he/homexx")]
    [InlineData("he${XXX:-$PWD}xx", "he/homexx")]
    [InlineData("he${XXX:-${PWD:-yyy}}xx", "he/homexx")]
    [InlineData("he${XXX:-${YYY:-yyy}}xx", "heyyyxx")]
    [InlineData("he${XXX:+${PWD}}xx", "hexx")]
    [InlineData("he${PWD:+${XXX}}xx", "hexx")]
    [InlineData("he${PWD:+${SHELL}}xx", "hebashxx")]
    [InlineData("he${PWD:+000}xx", "he000xx")]
    [InlineData("he${PWD:+${PWD}:}xx", "he/home:xx")]
    [InlineData(@"he${XXX:-\$PWD:}xx", "he$PWD:xx")]
    [InlineData(@"he${XXX:-\${PWD}z}xx", "he${PWDz}xx")]
    [InlineData(@"${XXX:-a\}b}", "a}b")]
    [InlineData("${XXX:-'x}y'}", "x}y")]
    [InlineData(@"${XXX:-""$PWD""}", "/home")]
    [InlineData("${NULL-x}", "")]
    [InlineData("${NULL:-x}", "x")]
    [InlineData("${NULL+x}", "x")]
    [InlineData("${NULL:+x}", "")]
    [InlineData("${UNSET-x}", "x")]
    [InlineData("${UNSET+x}", "")]
    [InlineData("${PWD-x}", "/home")]
    [InlineData("${PWD:-}", "/home")]
    [InlineData("${UNSET:-}", "")]
    [InlineData("${NULL?msg}", "")]
    [InlineData("${PWD:?msg}", "/home")]
    [InlineData("${PWD?msg}", "/home")]
    // quotes around and inside
    [InlineData("'he${XX}'", "he${XX}")]
    [InlineData(@"""he${PWD}""", "he/home")]
    [InlineData(@"""he'$PWD'""", "he'/home'")]
    [InlineData(@"""$PWD""", "/home")]
    [InlineData("'$PWD'", "$PWD")]
    [InlineData(@"'\$PWD'", @"\$PWD")]
    [InlineData(@"""he\$PWD""", "he$PWD")]
    [InlineData(@"'he\$PWD'", @"he\$PWD")]
    // # ## % %%
    [InlineData("${VERSION%.*}", "1.2")]
    [InlineData("${VERSION%%.*}", "1")]
    [InlineData("${VERSION#*.}", "2.3")]
    [InlineData("${VERSION##*.}", "3")]
    [InlineData("${IMAGE%:*}:stable", "busybox:stable")]
    [InlineData("${VERSION#}", "1.2.3")]
    [InlineData("${VERSION##}", "1.2.3")]
    [InlineData("${VERSION%}", "1.2.3")]
    [InlineData("${VERSION#*}", "1.2.3")]
    [InlineData("${VERSION##*}", "")]
    [InlineData("${VERSION#?}", ".2.3")]
    [InlineData("${VERSION#$NULL}", "1.2.3")]
    [InlineData("${VERSION#x}", "1.2.3")]
    [InlineData(@"${STARS%%\**\*}", "a")]
    [InlineData(@"${STARS%\*}", "a***yy")]
    [InlineData(@"${SPEC#()[]{\}^$.\*\?|\\}", "x")]
    [InlineData("${KOREAN#한}", "국어")]
    [InlineData("${KOREAN%?}", "한국")]
    [InlineData("${UNSET#x}", "")]
    [InlineData("${ABC:-.}${VERSION%3}${ABC:-.}", ".1.2..")]
    // / and //
    [InlineData("${GLOB/$NEEDLE/.} - ${GLOB//$NEEDLE/.}", "/foo.*/*.txt - /foo..*.txt")]
    [InlineData(@"${PATHS/\/tmp/} - ${PATHS//\/tmp/}", "/tmp/bar.txt - /bar.txt")]
    [InlineData(@"${PATHS//\//\/}", @"\/tmp\/tmp\/bar.txt")]
    [InlineData("${URL/http/https}", "https://google.de")]
    [InlineData("${VERSION//./-}", "1-2-3")]
    [InlineData("${VERSION/./-}", "1-2.3")]
    [InlineData("${VERSION//?/x}", "xxxxx")]
    [InlineData("${VERSION//*/x}", "x")]
    [InlineData("${VERSION/$NULL/ww}", "ww1.2.3")]
    [InlineData("${VERSION///}", "1.2.3")]
    [InlineData("${UNSET///}", "")]
    [InlineData("${NULL//x/y}", "")]
    [InlineData("${VERSION//./'$0$0'}", "1..2..3")]
    [InlineData("${VERSION//./'$$'}", "1$2$3")]
    [InlineData("${VERSION/./'$0'}", "1$02.3")]
    public void Expands_a_word(string word, string expected)
    {
        Assert.Equal(expected, new ShellExpander().ProcessWord(word, Env, Span));
    }

    [Theory]
    [InlineData("he`$PWD", "he$PWD")]
    [InlineData(@"he\$PWD", @"he\/home")]
    [InlineData(@"C:\path\to", @"C:\path\to")]
    [InlineData("he``x", "he`x")]
    [InlineData("\"a`\"b\"", "a\"b")]
    [InlineData(@"""a\""", @"a\")]
    [InlineData("\"a`$PWD\"", "a$PWD")]
    [InlineData("${XXX:-`}}", "}")]
    public void The_escape_character_can_be_a_backtick(string word, string expected)
    {
        Assert.Equal(expected, new ShellExpander('`').ProcessWord(word, Env, Span));
    }

    [Theory]
    [InlineData("he${PWD", DiagnosticCodes.ExpansionSyntax, "syntax error: missing '}'")]
    [InlineData("${", DiagnosticCodes.ExpansionSyntax, "syntax error: missing '}'")]
    [InlineData("he${}", DiagnosticCodes.ExpansionSyntax, "syntax error: bad substitution")]
    [InlineData("he${}xx", DiagnosticCodes.ExpansionSyntax, "syntax error: bad substitution")]
    [InlineData("${{x}", DiagnosticCodes.ExpansionSyntax, "syntax error: bad substitution")]
    [InlineData("${:x}", DiagnosticCodes.ExpansionSyntax, "syntax error: bad substitution")]
    [InlineData("${PWD:-x", DiagnosticCodes.ExpansionSyntax, "syntax error: missing '}'")]
    [InlineData("${PWD:-'x}", DiagnosticCodes.ExpansionSyntax, "syntax error: missing '}'")]
    [InlineData("${PWD//ww}", DiagnosticCodes.ExpansionSyntax, "syntax error: missing '/' in ${}")]
    [InlineData("${PWD//}", DiagnosticCodes.ExpansionSyntax, "syntax error: missing '/' in ${}")]
    [InlineData("${PWD/x/y", DiagnosticCodes.ExpansionSyntax, "syntax error: missing '}'")]
    [InlineData("he'llo", DiagnosticCodes.ExpansionSyntax, "unexpected end of statement while looking for matching single-quote")]
    [InlineData(@"he\\'llo", DiagnosticCodes.ExpansionSyntax, "unexpected end of statement while looking for matching single-quote")]
    [InlineData(@"""hello", DiagnosticCodes.ExpansionSyntax, "unexpected end of statement while looking for matching double-quote")]
    [InlineData(@"""hello\""", DiagnosticCodes.ExpansionSyntax, "unexpected end of statement while looking for matching double-quote")]
    [InlineData("he${PWD:=000}xx", DiagnosticCodes.ExpansionUnsupportedModifier, "unsupported modifier (:=) in substitution")]
    [InlineData("${PWD=x}", DiagnosticCodes.ExpansionUnsupportedModifier, "unsupported modifier (=) in substitution")]
    [InlineData("${PWD:1}", DiagnosticCodes.ExpansionUnsupportedModifier, "unsupported modifier (:1) in substitution")]
    [InlineData("${PWD:1:2}", DiagnosticCodes.ExpansionUnsupportedModifier, "unsupported modifier (:1) in substitution")]
    [InlineData("${#PWD}", DiagnosticCodes.ExpansionUnsupportedModifier, "unsupported modifier (P) in substitution")]
    [InlineData("he${.}", DiagnosticCodes.ExpansionUnsupportedModifier, "unsupported modifier (.) in substitution")]
    [InlineData("he${XXX:YYY}", DiagnosticCodes.ExpansionUnsupportedModifier, "unsupported modifier (:Y) in substitution")]
    [InlineData("${PWD:#x}", DiagnosticCodes.ExpansionUnsupportedModifier, "unsupported modifier (:#) in substitution")]
    [InlineData("${PWD:%x}", DiagnosticCodes.ExpansionUnsupportedModifier, "unsupported modifier (:%) in substitution")]
    [InlineData(@"${PWD#\x}", DiagnosticCodes.ExpansionInvalidPattern, @"invalid pattern (\x) in substitution: invalid escape '\x'")]
    // % works on the reversed pattern (as in BuildKit), so the message shows it reversed.
    [InlineData(@"${PWD%a\b}", DiagnosticCodes.ExpansionInvalidPattern, @"invalid pattern (\ba) in substitution: invalid escape '\b'")]
    [InlineData(@"${PWD/a\x/b}", DiagnosticCodes.ExpansionInvalidPattern, @"invalid pattern (a\x) in substitution: invalid escape '\x'")]
    [InlineData("${UNSET?}", DiagnosticCodes.ExpansionRequiredVariable, "UNSET: is not allowed to be unset")]
    [InlineData("${UNSET:?}", DiagnosticCodes.ExpansionRequiredVariable, "UNSET: is not allowed to be unset")]
    [InlineData("${NULL:?}", DiagnosticCodes.ExpansionRequiredVariable, "NULL: is not allowed to be empty")]
    [InlineData("${UNSET:?custom $PWD}", DiagnosticCodes.ExpansionRequiredVariable, "UNSET: custom /home")]
    [InlineData("${UNSET?message here$SHELL}", DiagnosticCodes.ExpansionRequiredVariable, "UNSET: message herebash")]
    public void Errors_carry_their_code_the_span_and_buildkits_message(string word, string code, string message)
    {
        var error = Assert.Throws<LivrableException>(() => new ShellExpander().ProcessWord(word, Env, Span));
        Assert.Equal(code, error.Code);
        Assert.Equal(Span, error.Span);
        Assert.Equal($"failed to process {GoFormat.Quote(word)}: {message}", error.Message);
    }

    [Fact]
    public void The_message_quotes_the_source_as_go_does()
    {
        Assert.Equal(@"""a\""b\\c""", GoFormat.Quote(@"a""b\c"));
        var error = Assert.Throws<LivrableException>(() => new ShellExpander().ProcessWord(@"""x\", Env, Span));
        Assert.StartsWith(@"failed to process ""\""x\\"": ", error.Message);
    }

    [Theory]
    [InlineData("hello world", new[] { "hello", "world" })]
    [InlineData("  hello   world  ", new[] { "hello", "world" })]
    [InlineData(@"""hello world""", new[] { "hello world" })]
    [InlineData("'a b' c", new[] { "a b", "c" })]
    [InlineData(@"a\ b", new[] { "a b" })]
    [InlineData("$WS", new[] { "a", "b" })]
    [InlineData(@"""$WS""", new[] { "a  b" })]
    [InlineData("x$WS", new[] { "xa", "b" })]
    [InlineData(@""""" a", new[] { "a" })]
    [InlineData(@"""""", new string[0])]
    [InlineData("8080 $PORTS", new[] { "8080", "80/tcp", "443" })]
    [InlineData("${UNSET:-a b}", new[] { "a", "b" })]
    [InlineData("a\tb\nc", new[] { "a", "b", "c" })]
    public void ProcessWords_splits_on_unquoted_blanks(string word, string[] expected)
    {
        Assert.Equal(expected, new ShellExpander().ProcessWords(word, Env, Span));
    }

    [Theory]
    [InlineData(@"echo ""$PWD"" '$PWD'", @"echo ""/home"" '/home'")]
    [InlineData(@"a\$b", "a$b")]
    [InlineData(@"a\nb", "anb")]
    [InlineData("line1\nline2 $SHELL\n", "line1\nline2 bash\n")]
    [InlineData("'unterminated \"too", "'unterminated \"too")]
    [InlineData(@"""${UNSET:-'d'}""", @"""'d'""")]
    [InlineData("x`$PWD", "x`/home")]
    public void ProcessRaw_keeps_quotes_and_always_escapes_with_backslash(string text, string expected)
    {
        Assert.Equal(expected, new ShellExpander().ProcessRaw(text, Env, Span));
        Assert.Equal(expected, new ShellExpander('`').ProcessRaw(text, Env, Span));
    }

    [Fact]
    public void ProcessRaw_still_reports_bad_substitutions()
    {
        var error = Assert.Throws<LivrableException>(() => new ShellExpander().ProcessRaw("a ${x", Env, Span));
        Assert.Equal(DiagnosticCodes.ExpansionSyntax, error.Code);
        Assert.Equal(Span, error.Span);
    }

    [Fact]
    public void Names_are_case_sensitive_with_an_ordinal_environment()
    {
        var expander = new ShellExpander();
        Assert.Equal("", expander.ProcessWord("$Pwd", Env, Span));
        Assert.Equal("/home", expander.ProcessWord("$PWD", Env, Span));
    }

    [Fact]
    public void Unicode_names_and_values_outside_the_basic_plane_work()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal) { ["été"] = "🚀x🖖", ["_x1"] = "y" };
        var expander = new ShellExpander();
        Assert.Equal("🚀x🖖/y", expander.ProcessWord("$été/$_x1", env, Span));
        Assert.Equal("x🖖", expander.ProcessWord("${été#?}", env, Span));
        Assert.Equal("🚀x", expander.ProcessWord("${été%?}", env, Span));
        Assert.Equal("🚀-🖖", expander.ProcessWord("${été/x/-}", env, Span));
    }
}
