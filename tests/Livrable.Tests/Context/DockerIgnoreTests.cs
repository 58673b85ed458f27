using Livrable.Context;
using Livrable.Diagnostics;
using Xunit;

namespace Livrable.Tests.Context;

/// <summary>
/// .dockerignore reading and matching against moby/patternmatcher's rules (ignorefile.ReadAll, New,
/// MatchesOrParentMatches). Vectors in the style of patternmatcher_test.go, expected values worked out from its code.
/// </summary>
public sealed class DockerIgnoreTests
{
    [Theory]
    // the checklist's examples (dockerfile.md section 6)
    [InlineData("*\n!src", "src/a/b.cs", false)]
    [InlineData("*\n!src", "other", true)]
    [InlineData("*\n!src", "other/deep/file", true)]
    [InlineData("*/temp*", "somedir/temp", true)]
    [InlineData("*/temp*", "somedir/temporary.txt", true)]
    [InlineData("*/temp*", "temp", false)]
    [InlineData("*/*/temp*", "a/b/temp.x", true)]
    [InlineData("temp?", "tempa", true)]
    [InlineData("temp?", "temp", false)]
    [InlineData("dir/**", "dir", false)]
    [InlineData("dir/**", "dir/file", true)]
    [InlineData("dir/**", "dir/dir2/file", true)]
    [InlineData("*.txt", "a/b.txt", false)]
    [InlineData("*.txt", "b.txt", true)]
    [InlineData("foo/bar", "foo/bar/baz", true)]
    [InlineData("foo/bar", "foo/barbaz", false)]
    // ** forms
    [InlineData("**", "file", true)]
    [InlineData("**", "dir/file", true)]
    [InlineData("**/", "file", true)]
    [InlineData("**/**", "dir/file", true)]
    [InlineData("**/dir", "dir", true)]
    [InlineData("**/dir", "dir/file", true)]
    [InlineData("**/dir", "xdir", false)]
    [InlineData("**/dir2/*", "dir/dir2/file", true)]
    [InlineData("**/dir2/**", "dir/dir2/dir3/file", true)]
    [InlineData("**file", "file", true)]
    [InlineData("**file", "dir/dir/file", true)]
    [InlineData("**/file*.txt", "dir/dir/file.txt", true)]
    [InlineData("**/**/*.txt", "dir/dir/file.txt", true)]
    [InlineData("**/**/*.txt2", "dir/dir/file.txt", false)]
    [InlineData("**/*.txt", "file.txt", true)]
    [InlineData("a**/*.txt", "a/dir/dir/file.txt", true)]
    [InlineData("a/*.txt**", "a/file.txt", true)]
    [InlineData("**/foo/bar", "dir/dir2/foo/bar", true)]
    [InlineData("**/.foo", ".foo", true)]
    [InlineData("**/.foo", "bar.foo", false)]
    // single-segment wildcards, classes, escapes, regex characters taken literally
    [InlineData("a/*.txt", "a/dir/file.txt", false)]
    [InlineData("a?b", "a/b", false)]
    [InlineData("a*b", "a/b", false)]
    [InlineData("a?b", "a☺b", true)]
    [InlineData("a?b", "a🚀b", true)]
    [InlineData("a[b-d]e", "ace", true)]
    [InlineData("a[b-d]e", "aae", false)]
    [InlineData("a[^b-d]e", "aze", true)]
    [InlineData(".*", ".foo", true)]
    [InlineData(".*", "foo", false)]
    [InlineData("abc.def", "abcZdef", false)]
    [InlineData("abc?def", "abcZdef", true)]
    [InlineData("a(b)c/def", "a(b)c/def", true)]
    [InlineData("a.|)$(}+{bc", "a.|)$(}+{bc", true)]
    [InlineData("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true)]
    [InlineData("a\\*b", "a*b", true)]
    [InlineData("a\\*b", "axb", false)]
    [InlineData("a\\\\", "a\\", true)]
    [InlineData("FOO", "foo", false)]
    // exceptions: the last match wins, a subdirectory can come back
    [InlineData("**\n!util/docker/web", "util/docker/web/foo", false)]
    [InlineData("**\n!util/docker/web\nutil/docker/web/foo", "util/docker/web/foo", true)]
    [InlineData("docs\n!docs/README.md", "docs/README.md", false)]
    [InlineData("docs\n!docs/README.md", "docs/other.md", true)]
    [InlineData("docs/\n!docs/README.md", "docs/README.md", false)]
    [InlineData("docs/*\n!docs/README.md", "docs/README.md", false)]
    [InlineData("*.go\n!fileutils.go", "fileutils.go", false)]
    [InlineData("!fileutils.go\n*.go", "fileutils.go", true)]
    [InlineData("dir\n!dir/keep\ndir/keep/tmp", "dir/keep/a", false)]
    [InlineData("dir\n!dir/keep\ndir/keep/tmp", "dir/keep/tmp/x", true)]
    [InlineData("dir\n!dir/keep\ndir/keep/tmp", "dir/other", true)]
    // reading: comments in column 0 only, trimming, BOM, CRLF, leading / and ./, cleaning
    [InlineData("# foo\nbar", "# foo", false)]
    [InlineData(" # foo\nbar", "# foo", true)]
    [InlineData("\uFEFFfoo", "foo", true)]
    [InlineData("\uFEFF#foo", "#foo", false)]
    [InlineData("foo\r\nbar\r\n", "bar", true)]
    [InlineData("  spaced  \n\n\t\n", "spaced", true)]
    [InlineData("/foo", "foo", true)]
    [InlineData("./foo", "foo", true)]
    [InlineData("foo/../bar", "bar", true)]
    [InlineData("foo//bar/", "foo/bar", true)]
    [InlineData("*\n! /keep", "keep", false)]
    [InlineData("*\n!./keep", "keep", false)]
    public void Matches_as_patternmatcher_does(string text, string path, bool excluded)
    {
        Assert.Equal(excluded, DockerIgnore.Parse(text).IsExcluded(path));
    }

    [Fact]
    public void Reading_keeps_the_patterns_as_ignorefile_does()
    {
        const string content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n";
        Assert.Equal(["test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path"], DockerIgnore.Parse(content).Patterns);
        Assert.Empty(DockerIgnore.Parse("# only\n\n   \n").Patterns);
        Assert.False(DockerIgnore.Parse("# only").HasExceptions);
        Assert.True(DockerIgnore.Parse("a\n!a/b").HasExceptions);
    }

    [Theory]
    [InlineData("!")]
    [InlineData("foo\n!")]
    [InlineData("! ")]
    [InlineData("[")]
    [InlineData("a[")]
    [InlineData("[^bc")]
    [InlineData("[]a]")]
    [InlineData("[x-]")]
    [InlineData("[a-b-c]")]
    [InlineData("!a\\")]
    public void Malformed_patterns_are_LIV1062(string text)
    {
        var error = Assert.Throws<LivrableException>(() => DockerIgnore.Parse(text));
        Assert.Equal(DiagnosticCodes.InvalidIgnorePattern, error.Code);
    }

    [Fact]
    public void The_root_is_never_excluded_and_paths_are_cleaned()
    {
        var ignore = DockerIgnore.Parse("*\n**");
        Assert.False(ignore.IsExcluded("."));
        Assert.False(ignore.IsExcluded(""));
        Assert.True(ignore.IsExcluded("./a"));
        Assert.True(ignore.IsExcluded("/a/b"));
        Assert.False(DockerIgnore.Empty.IsExcluded("anything"));
    }

    [Fact]
    public void Exclude_patterns_given_one_by_one_keep_their_leading_slash()
    {
        // COPY --exclude goes through patternmatcher.New only: no comment, no leading-/ removal.
        Assert.True(DockerIgnore.FromPatterns(["#x"]).IsExcluded("#x"));
        Assert.False(DockerIgnore.FromPatterns(["/x"]).IsExcluded("x"));
        Assert.True(DockerIgnore.FromPatterns([" *.tmp ", "", "!keep.tmp"]).IsExcluded("a.tmp"));
        Assert.False(DockerIgnore.FromPatterns(["*.tmp", "!keep.tmp"]).IsExcluded("keep.tmp"));
    }
}
