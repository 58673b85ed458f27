using Livrable.Diagnostics;
using Livrable.Filesystem;
using Xunit;
using static Livrable.Tests.Filesystem.FsTestSupport;

namespace Livrable.Tests.Filesystem;

public sealed class OwnershipTests
{
    private const string Passwd = """
        root:x:0:0:root:/root:/bin/bash
        # a comment line
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

        broken line
        www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
        app:x:1000:1001:App:/home/app:/bin/sh
        """;

    private const string Group = """
        root:x:0:
        daemon:x:1:
        www-data:x:33:
        staff:x:50:app
        appgrp:x:1001:
        """;

    private static readonly FileTree Image = FileTree.Empty.With([File("/etc/passwd", Passwd), File("/etc/group", Group)]);

    private static readonly SourceSpan Span = new("Dockerfile", 3, 1);

    [Theory]
    [InlineData("app", 1000, 1001)]             // a name alone: its primary group from passwd
    [InlineData("app:staff", 1000, 50)]
    [InlineData("app:33", 1000, 33)]
    [InlineData("1234", 1234, 1234)]            // a number alone: gid = uid
    [InlineData("1234:staff", 1234, 50)]
    [InlineData("0:0", 0, 0)]
    [InlineData("www-data:www-data", 33, 33)]
    [InlineData("root", 0, 0)]
    [InlineData("daemon:root", 1, 0)]
    [InlineData("4294967295", 4294967295, 4294967295)]
    public void Names_and_numbers(string chown, long uid, long gid)
        => Assert.Equal((uid, gid), Ownership.Resolve(chown, Image, Span));

    [Fact]
    public void Root_and_numbers_need_no_passwd_file()
    {
        Assert.Equal((0L, 0L), Ownership.Resolve("root", FileTree.Empty, Span));
        Assert.Equal((0L, 0L), Ownership.Resolve("root:root", FileTree.Empty, Span));
        Assert.Equal((5L, 6L), Ownership.Resolve("5:6", FileTree.Empty, Span));
    }

    [Fact]
    public void Symbolic_links_to_the_files_are_followed_inside_the_image()
    {
        var tree = FileTree.Empty.With(
        [
            File("/usr/share/base/passwd.master", Passwd), File("/usr/share/base/group.master", Group),
            Link("/etc/passwd", "../usr/share/base/passwd.master"), Link("/etc/group", "/usr/share/base/group.master"),
        ]);
        Assert.Equal((1000L, 50L), Ownership.Resolve("app:staff", tree, Span));
    }

    [Theory]
    [InlineData("nobody", DiagnosticCodes.UnknownUser)]
    [InlineData("app:nogroup", DiagnosticCodes.UnknownGroup)]
    [InlineData("Root", DiagnosticCodes.UnknownUser)]
    [InlineData(":staff", DiagnosticCodes.InvalidChown)]
    [InlineData("app:", DiagnosticCodes.InvalidChown)]
    [InlineData("", DiagnosticCodes.InvalidChown)]
    [InlineData("4294967296", DiagnosticCodes.InvalidChown)]
    public void Unknown_names_and_malformed_values_fail_at_the_span(string chown, string code)
    {
        var e = Assert.Throws<LivrableException>(() => Ownership.Resolve(chown, Image, Span));
        Assert.Equal(code, e.Code);
        Assert.Equal(Span, e.Span);
    }

    [Fact]
    public void An_image_without_passwd_says_so()
    {
        var e = Assert.Throws<LivrableException>(() => Ownership.Resolve("app", FileTree.Empty, Span));
        Assert.Equal(DiagnosticCodes.UnknownUser, e.Code);
        Assert.Contains("unknown user 'app' in --chown: not in the image's /etc/passwd (the image has no /etc/passwd)", e.Message, StringComparison.OrdinalIgnoreCase);
    }
}
