using Livrable.Go;
using Xunit;

namespace Livrable.Tests.Go;

/// <summary>
/// Livrable's one copy of Go's rules (src/Tasks/Go) against Go's own test tables, transcribed as data:
/// <c>path/filepath/match_test.go</c> (matchTests), <c>path/path_test.go</c> (cleantests, splittests, jointests),
/// <c>strconv/quote_test.go</c> (quotetests, quoterunetests), <c>time/time_test.go</c> (parseDurationTests,
/// parseDurationErrorTests, durationTests). Vectors whose input is invalid UTF-8 are left out: a .NET string cannot
/// hold those bytes.
/// </summary>
public sealed class GoVectorTests
{
    // matchTests: pattern, name, match, bad pattern (ErrBadPattern).
    public static TheoryData<string, string, bool, bool> MatchTests => new()
    {
        { "abc", "abc", true, false },
        { "*", "abc", true, false },
        { "*c", "abc", true, false },
        { "a*", "a", true, false },
        { "a*", "abc", true, false },
        { "a*", "ab/c", false, false },
        { "a*/b", "abc/b", true, false },
        { "a*/b", "a/c/b", false, false },
        { "a*b*c*d*e*/f", "axbxcxdxe/f", true, false },
        { "a*b*c*d*e*/f", "axbxcxdxexxx/f", true, false },
        { "a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false, false },
        { "a*b*c*d*e*/f", "axbxcxdxexxx/fff", false, false },
        { "a*b?c*x", "abxbbxdbxebxczzx", true, false },
        { "a*b?c*x", "abxbbxdbxebxczzy", false, false },
        { "ab[c]", "abc", true, false },
        { "ab[b-d]", "abc", true, false },
        { "ab[e-g]", "abc", false, false },
        { "ab[^c]", "abc", false, false },
        { "ab[^b-d]", "abc", false, false },
        { "ab[^e-g]", "abc", true, false },
        { "a\\*b", "a*b", true, false },
        { "a\\*b", "ab", false, false },
        { "a?b", "a\u263ab", true, false },
        { "a[^a]b", "a\u263ab", true, false },
        { "a???b", "a\u263ab", false, false },
        { "a[^a][^a][^a]b", "a\u263ab", false, false },
        { "[a-\u03b6]*", "\u03b1", true, false },
        { "*[a-\u03b6]", "A", false, false },
        { "a?b", "a/b", false, false },
        { "a*b", "a/b", false, false },
        { "[\\]a]", "]", true, false },
        { "[\\-]", "-", true, false },
        { "[x\\-]", "x", true, false },
        { "[x\\-]", "-", true, false },
        { "[x\\-]", "z", false, false },
        { "[\\-x]", "x", true, false },
        { "[\\-x]", "-", true, false },
        { "[\\-x]", "a", false, false },
        { "[]a]", "]", false, true },
        { "[-]", "-", false, true },
        { "[x-]", "x", false, true },
        { "[x-]", "-", false, true },
        { "[x-]", "z", false, true },
        { "[-x]", "x", false, true },
        { "[-x]", "-", false, true },
        { "[-x]", "a", false, true },
        { "\\", "a", false, true },
        { "[a-b-c]", "a", false, true },
        { "[", "a", false, true },
        { "[^", "a", false, true },
        { "[^bc", "a", false, true },
        { "a[", "a", false, true },
        { "a[", "ab", false, true },
        { "a[", "x", false, true },
        { "a/b[", "x", false, true },
        { "*x", "xxx", true, false },
        // Livrable's own, from issue 13: ? is one rune, also outside the BMP (a surrogate pair in .NET).
        { "a?b", "a\U0001F600b", true, false },
        { "a??b", "a\U0001F600b", false, false },
    };

    [Theory]
    [MemberData(nameof(MatchTests))]
    public void Match_is_Gos_filepath_Match(string pattern, string name, bool match, bool bad)
    {
        if (bad)
        {
            Assert.Throws<GoPath.BadPatternException>(() => GoPath.Match(pattern, name));
            return;
        }
        Assert.Equal(match, GoPath.Match(pattern, name));
    }

    // cleantests: each result is clean too (Go checks Clean(result) == result).
    [Theory]
    [InlineData("", ".")]
    [InlineData("abc", "abc")]
    [InlineData("abc/def", "abc/def")]
    [InlineData("a/b/c", "a/b/c")]
    [InlineData(".", ".")]
    [InlineData("..", "..")]
    [InlineData("../..", "../..")]
    [InlineData("../../abc", "../../abc")]
    [InlineData("/abc", "/abc")]
    [InlineData("/", "/")]
    [InlineData("abc/", "abc")]
    [InlineData("abc/def/", "abc/def")]
    [InlineData("a/b/c/", "a/b/c")]
    [InlineData("./", ".")]
    [InlineData("../", "..")]
    [InlineData("../../", "../..")]
    [InlineData("/abc/", "/abc")]
    [InlineData("abc//def//ghi", "abc/def/ghi")]
    [InlineData("//abc", "/abc")]
    [InlineData("///abc", "/abc")]
    [InlineData("//abc//", "/abc")]
    [InlineData("abc//", "abc")]
    [InlineData("abc/./def", "abc/def")]
    [InlineData("/./abc/def", "/abc/def")]
    [InlineData("abc/.", "abc")]
    [InlineData("abc/def/ghi/../jkl", "abc/def/jkl")]
    [InlineData("abc/def/../ghi/../jkl", "abc/jkl")]
    [InlineData("abc/def/..", "abc")]
    [InlineData("abc/def/../..", ".")]
    [InlineData("/abc/def/../..", "/")]
    [InlineData("abc/def/../../..", "..")]
    [InlineData("/abc/def/../../..", "/")]
    [InlineData("abc/def/../../../ghi/jkl/../../../mno", "../../mno")]
    [InlineData("abc/./../def", "def")]
    [InlineData("abc//./../def", "def")]
    [InlineData("abc/../../././../def", "../../def")]
    public void Clean_is_Gos_path_Clean(string path, string expected)
    {
        Assert.Equal(expected, GoPath.Clean(path));
        Assert.Equal(expected, GoPath.Clean(expected));
    }

    [Theory]
    [InlineData("a/b", "a/", "b")]
    [InlineData("a/b/", "a/b/", "")]
    [InlineData("a/", "a/", "")]
    [InlineData("a", "", "a")]
    [InlineData("/", "/", "")]
    public void Split_is_Gos_path_Split(string path, string directory, string file)
        => Assert.Equal((directory, file), GoPath.Split(path));

    public static TheoryData<string[], string> JoinTests => new()
    {
        { [], "" },
        { [""], "" },
        { ["a"], "a" },
        { ["a", "b"], "a/b" },
        { ["a", ""], "a" },
        { ["", "b"], "b" },
        { ["/", "a"], "/a" },
        { ["/", ""], "/" },
        { ["a/", "b"], "a/b" },
        { ["a/", ""], "a" },
        { ["", ""], "" },
    };

    [Theory]
    [MemberData(nameof(JoinTests))]
    public void Join_is_Gos_path_Join(string[] elements, string expected) => Assert.Equal(expected, GoPath.Join(elements));

    // quotetests (the Quote column) and quoterunetests (as one-rune strings, double-quoted).
    [Theory]
    [InlineData("\a\b\f\r\n\t\v", "\"\\a\\b\\f\\r\\n\\t\\v\"")]
    [InlineData("\\", "\"\\\\\"")]
    [InlineData("\u263a", "\"\u263a\"")]
    [InlineData("\U0010ffff", "\"\\U0010ffff\"")]
    [InlineData("\x04", "\"\\x04\"")]
    [InlineData("!\u00a0!\u2000!\u3000!", "\"!\\u00a0!\\u2000!\\u3000!\"")]
    [InlineData("a", "\"a\"")]
    [InlineData("\u00ff", "\"\u00ff\"")]
    [InlineData("\ufffd", "\"\ufffd\"")]
    [InlineData("\u00a0", "\"\\u00a0\"")]
    public void Quote_is_Gos_strconv_Quote(string value, string expected) => Assert.Equal(expected, GoFormat.Quote(value));

    [Fact]
    public void A_list_is_Gos_percent_q_and_percent_v_of_a_slice()
    {
        Assert.Equal("""["a" "b c" "q\"uote" "tab\t" "\x01" "é"]""", GoFormat.QuoteList(["a", "b c", "q\"uote", "tab\t", "\u0001", "é"]));
        Assert.Equal("[]", GoFormat.QuoteList([]));
        Assert.Equal("[a b c]", GoFormat.List(["a", "b c"]));
        // A lone surrogate has no UTF-8 form; Go would have decoded the bytes as U+FFFD.
        Assert.Equal("\"a\\ufffdb\"", GoFormat.Quote("a\ud800b"));
    }

    private const long Nanosecond = 1, Microsecond = 1_000, Millisecond = 1_000_000, Second = 1_000_000_000,
        Minute = 60 * Second, Hour = 60 * Minute;

    public static TheoryData<string, long> ParseDurationTests => new()
    {
        { "0", 0 },
        { "5s", 5 * Second },
        { "30s", 30 * Second },
        { "1478s", 1478 * Second },
        { "-5s", -5 * Second },
        { "+5s", 5 * Second },
        { "-0", 0 },
        { "+0", 0 },
        { "5.0s", 5 * Second },
        { "5.6s", 5 * Second + 600 * Millisecond },
        { "5.s", 5 * Second },
        { ".5s", 500 * Millisecond },
        { "1.0s", 1 * Second },
        { "1.00s", 1 * Second },
        { "1.004s", 1 * Second + 4 * Millisecond },
        { "1.0040s", 1 * Second + 4 * Millisecond },
        { "100.00100s", 100 * Second + 1 * Millisecond },
        { "10ns", 10 * Nanosecond },
        { "11us", 11 * Microsecond },
        { "12\u00b5s", 12 * Microsecond },
        { "12\u03bcs", 12 * Microsecond },
        { "13ms", 13 * Millisecond },
        { "14s", 14 * Second },
        { "15m", 15 * Minute },
        { "16h", 16 * Hour },
        { "3h30m", 3 * Hour + 30 * Minute },
        { "10.5s4m", 4 * Minute + 10 * Second + 500 * Millisecond },
        { "-2m3.4s", -(2 * Minute + 3 * Second + 400 * Millisecond) },
        { "1h2m3s4ms5us6ns", 1 * Hour + 2 * Minute + 3 * Second + 4 * Millisecond + 5 * Microsecond + 6 * Nanosecond },
        { "39h9m14.425s", 39 * Hour + 9 * Minute + 14 * Second + 425 * Millisecond },
        { "52763797000ns", 52763797000 * Nanosecond },
        { "0.3333333333333333333h", 20 * Minute },
        { "9007199254740993ns", (1L << 53) + 1 },
        { "9223372036854775807ns", long.MaxValue },
        { "9223372036854775.807us", long.MaxValue },
        { "9223372036s854ms775us807ns", long.MaxValue },
        { "-9223372036854775808ns", long.MinValue },
        { "-9223372036854775.808us", long.MinValue },
        { "-9223372036s854ms775us808ns", long.MinValue },
        { "-2562047h47m16.854775808s", long.MinValue },
        { "0.100000000000000000000h", 6 * Minute },
        { "0.830103483285477580700h", 49 * Minute + 48 * Second + 372539827 * Nanosecond },
    };

    [Theory]
    [MemberData(nameof(ParseDurationTests))]
    public void ParseDuration_is_Gos_time_ParseDuration(string text, long nanoseconds)
    {
        Assert.Equal(nanoseconds, GoDuration.TryParse(text, out string? error));
        Assert.Null(error);
    }

    [Theory]
    [InlineData("", "\"\"")]
    [InlineData("3", "\"3\"")]
    [InlineData("-", "\"-\"")]
    [InlineData("s", "\"s\"")]
    [InlineData(".", "\".\"")]
    [InlineData("-.", "\"-.\"")]
    [InlineData(".s", "\".s\"")]
    [InlineData("+.s", "\"+.s\"")]
    [InlineData("1d", "\"1d\"")]
    [InlineData("\uFFFD", "\"\\xef\\xbf\\xbd\"")]
    [InlineData("\uFFFD hello \uFFFD world", "\"\\xef\\xbf\\xbd hello \\xef\\xbf\\xbd world\"")]
    [InlineData("9223372036854775810ns", "\"9223372036854775810ns\"")]
    [InlineData("9223372036854775808ns", "\"9223372036854775808ns\"")]
    [InlineData("-9223372036854775809ns", "\"-9223372036854775809ns\"")]
    [InlineData("9223372036854776us", "\"9223372036854776us\"")]
    [InlineData("3000000h", "\"3000000h\"")]
    [InlineData("9223372036854775.808us", "\"9223372036854775.808us\"")]
    [InlineData("9223372036854ms775us808ns", "\"9223372036854ms775us808ns\"")]
    public void ParseDuration_errors_are_Gos(string text, string quoted)
    {
        Assert.Null(GoDuration.TryParse(text, out string? error));
        Assert.Contains(quoted, error);
    }

    [Theory]
    [InlineData("0s", 0)]
    [InlineData("1ns", 1 * Nanosecond)]
    [InlineData("1.1\u00b5s", 1100 * Nanosecond)]
    [InlineData("2.2ms", 2200 * Microsecond)]
    [InlineData("3.3s", 3300 * Millisecond)]
    [InlineData("4m5s", 4 * Minute + 5 * Second)]
    [InlineData("4m5.001s", 4 * Minute + 5001 * Millisecond)]
    [InlineData("5h6m7.001s", 5 * Hour + 6 * Minute + 7001 * Millisecond)]
    [InlineData("8m0.000000001s", 8 * Minute + 1 * Nanosecond)]
    [InlineData("2562047h47m16.854775807s", long.MaxValue)]
    [InlineData("-2562047h47m16.854775808s", long.MinValue)]
    public void A_duration_prints_as_Gos_Duration_String(string text, long nanoseconds)
    {
        Assert.Equal(text, GoDuration.Format(nanoseconds));
        Assert.Equal(nanoseconds, GoDuration.TryParse(text, out _));
    }
}
