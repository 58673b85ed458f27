using Livrable.Diagnostics;
using Livrable.Layers;
using Xunit;

namespace Livrable.Tests.Layers;

public sealed class LayerPathTests
{
    [Fact]
    public void Tar_names_sort_in_utf8_byte_order_not_utf16_order()
    {
        string fullwidth = "\uFF01";    // U+FF01: UTF-8 EF BC 81
        string emoji = "\U0001F600";    // U+1F600: UTF-8 F0 9F 98 80, but UTF-16 D83D DE00 sorts before FF01
        Assert.True(string.CompareOrdinal(emoji, fullwidth) < 0);
        Assert.True(TarNameComparer.Instance.Compare(fullwidth, emoji) < 0);
        Assert.True(TarNameComparer.Instance.Compare("a-b", "a/") < 0);
        Assert.True(TarNameComparer.Instance.Compare("a/", "a/b") < 0);
        Assert.Equal(0, TarNameComparer.Instance.Compare("é", "é"));
    }

    [Theory]
    [InlineData("/app/hello.dll", "app/hello.dll")]
    [InlineData("//app/./x//y/", "app/x/y")]
    [InlineData("/", "")]
    public void Image_paths_become_clean_relative_tar_names(string path, string expected)
        => Assert.Equal(expected, LayerPath.FromImagePath(path, "test"));

    [Theory]
    [InlineData("app")]
    [InlineData("")]
    [InlineData("/app/../etc")]
    public void Relative_or_climbing_image_paths_are_LIV4011(string path)
        => Assert.Equal(DiagnosticCodes.InvalidLayerPath, Assert.Throws<LivrableException>(() => LayerPath.FromImagePath(path, "test")).Code);

    [Theory]
    [InlineData("./usr//bin/", true, "usr/bin")]
    [InlineData("a/../b", true, "b")]
    [InlineData("./", true, "")]
    [InlineData("../evil", false, "")]
    [InlineData("a/../../evil", false, "")]
    [InlineData("/abs/path", true, "abs/path")]
    public void Archive_names_are_cleaned_and_escapes_detected(string name, bool ok, string expected)
    {
        Assert.Equal(ok, LayerPath.TryCleanArchiveName(name, out string cleaned));
        if (ok) Assert.Equal(expected, cleaned);
    }
}
