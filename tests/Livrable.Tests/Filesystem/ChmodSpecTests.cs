using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Filesystem;

/// <summary>Symbolic modes are checked against GNU chmod itself, run on real files and folders under umask 0.</summary>
public sealed class ChmodSpecTests
{
    [Theory]
    [InlineData("755", 0x1ED)]
    [InlineData("0644", 0x1A4)]
    [InlineData("07777", 0xFFF)]
    [InlineData("4755", 0x9ED)]
    [InlineData("0", 0)]
    [InlineData("000000644", 0x1A4)]
    public void Octal_replaces_the_mode(string value, int expected)
    {
        var spec = ChmodSpec.Parse(value, default);
        Assert.Equal(expected, spec.Apply(0x3FF, isDirectory: false));
        Assert.Equal(expected, spec.Apply(0, isDirectory: true));
        Assert.Equal(expected, spec.OctalMode);
    }

    [Theory]
    [InlineData("")]
    [InlineData("8")]
    [InlineData("0x1ff")]
    [InlineData("10000")]
    [InlineData("755 ")]
    [InlineData("u")]
    [InlineData("u=rwx,")]
    [InlineData("x+u")]
    [InlineData("u+q")]
    [InlineData("u=rw;g=r")]
    [InlineData("+ug")]
    public void Invalid_values_are_LIV1083(string value)
    {
        var e = Assert.Throws<LivrableException>(() => ChmodSpec.Parse(value, new SourceSpan("Dockerfile", 2, 7)));
        Assert.Equal(DiagnosticCodes.InvalidChmod, e.Code);
        Assert.Equal(2, e.Span!.Value.Line);
    }

    public static TheoryData<string, string, bool> Symbolic => new()
    {
        { "u=rwX,go=rX", "644", false },
        { "u=rwX,go=rX", "744", false },
        { "u=rwX,go=rX", "700", true },
        { "+x", "644", false },
        { "a-w", "777", false },
        { "g+s", "755", false },
        { "g+s", "755", true },
        { "o=", "777", false },
        { "u+s,g-x", "775", false },
        { "+t", "777", true },
        { "o+t", "755", true },
        { "u+t", "755", true },
        { "go=u-w", "750", false },
        { "g=u", "640", false },
        { "a=r,u+w", "000", false },
        { "=", "777", false },
        { "ug+rw,o-rwx", "604", false },
        { "a+X", "644", false },
        { "a+X", "644", true },
        { "a+X", "654", false },
        { "u-x,a+X", "744", false },
        { "a=rX", "2775", true },
        { "a=rX", "2775", false },
        { "u-s", "4755", true },
        { "g-s", "2755", true },
        { "o+s", "755", false },
        { "u+rwx,g=rx,o=", "000", true },
        { "-w+x", "666", false },
        { "a=rw,g+x,o-r", "000", false },
        { "ugo=rwx", "000", false },
    };

    [Theory]
    [MemberData(nameof(Symbolic))]
    public async Task Symbolic_modes_match_GNU_chmod(string spec, string initial, bool directory)
    {
        using var temp = new TempDirectory();
        string path = temp["target"];
        if (directory) Directory.CreateDirectory(path);
        else await System.IO.File.WriteAllTextAsync(path, "x");
        // umask 0: a build has no umask, so no "who" means all of u, g and o. "--" keeps "-w" from being an option.
        string script = $"umask 0 && chmod {initial} \"$1\" && chmod -- '{spec}' \"$1\" && stat -c %a \"$1\"";
        var result = (await Tools.RunAsync("sh", ["-c", script, "sh", path])).EnsureSuccess();
        int expected = Convert.ToInt32(result.Stdout.Trim(), 8);
        int start = Convert.ToInt32(initial, 8);

        int actual = ChmodSpec.Parse(spec, default).Apply(start, directory);
        Assert.True(expected == actual,
            $"chmod {spec} on a {(directory ? "directory" : "file")} of mode {initial}: GNU gives {Convert.ToString(expected, 8)}, Livrable {Convert.ToString(actual, 8)}.");
    }

    [Fact]
    public void The_text_is_kept()
        => Assert.Equal("u=rwX,go=rX", ChmodSpec.Parse("u=rwX,go=rX", default).Text);
}
