using Livrable.Diagnostics;
using Livrable.Images;
using Xunit;

namespace Livrable.Tests.Images;

/// <summary>Cases from distribution/reference's reference_test.go and normalize_test.go, plus Livrable's messages.</summary>
public sealed class ImageReferenceTests
{
    private const string Sha256 = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    private static readonly string Sha512 = "sha512:" + new string('f', 128);

    public static TheoryData<string, string, string, string?, string?> Valid => new()
    {
        // input, registry, repository, tag, digest
        { "test_com", "docker.io", "library/test_com", null, null },
        { "test.com:tag", "docker.io", "library/test.com", "tag", null },
        { "test.com:5000", "docker.io", "library/test.com", "5000", null },
        { "test.com/repo:tag", "test.com", "repo", "tag", null },
        { "test:5000/repo", "test:5000", "repo", null, null },
        { "test:5000/repo:tag", "test:5000", "repo", "tag", null },
        { "test:5000/repo@" + Sha256, "test:5000", "repo", null, Sha256 },
        { "test:5000/repo:tag@" + Sha256, "test:5000", "repo", "tag", Sha256 },
        { "lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", null },
        { "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", null, null },
        { "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", null },
        { "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "test.example.com", null },
        { "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", null },
        { "xn--7o8h.com/myimage:xn--7o8h.com@" + Sha512, "xn--7o8h.com", "myimage", "xn--7o8h.com", Sha512 },
        { "foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", null },
        { "foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", null },
        { "192.168.1.1/foo", "192.168.1.1", "foo", null, null },
        { "192.168.1.1:5/foo", "192.168.1.1:5", "foo", null, null },
        { "[2001:db8::1]/foo", "[2001:db8::1]", "foo", null, null },
        { "[2001:db8::1]:5000/foo", "[2001:db8::1]:5000", "foo", null, null },
        { "[2001:db8::]:5000/repo:tag", "[2001:db8::]:5000", "repo", "tag", null },
        { "[::1]:5000/repo", "[::1]:5000", "repo", null, null },
        { "localhost/foo", "localhost", "foo", null, null },
        { "localhost:5000/foo/bar:1", "localhost:5000", "foo/bar", "1", null },
        { "localhost:5000", "docker.io", "library/localhost", "5000", null },
        { "ubuntu", "docker.io", "library/ubuntu", null, null },
        { "ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", null },
        { "library/ubuntu", "docker.io", "library/ubuntu", null, null },
        { "docker.io/ubuntu", "docker.io", "library/ubuntu", null, null },
        { "docker.io/library/ubuntu:latest", "docker.io", "library/ubuntu", "latest", null },
        { "index.docker.io/ubuntu", "docker.io", "library/ubuntu", null, null },
        { "mcr.microsoft.com/dotnet/runtime:8.0", "mcr.microsoft.com", "dotnet/runtime", "8.0", null },
        { "a/a/a/a/a", "docker.io", "a/a/a/a/a", null, null },
        { "foo/bar__baz", "docker.io", "foo/bar__baz", null, null },
        { "foo/bar.baz", "docker.io", "foo/bar.baz", null, null },
        { "foo--bar", "docker.io", "library/foo--bar", null, null },
        { "foo-----bar", "docker.io", "library/foo-----bar", null, null },
        { "foo:" + new string('a', 128), "docker.io", "library/foo", new string('a', 128), null },
        { "foo:_tag", "docker.io", "library/foo", "_tag", null },
        { "foo@" + Sha256, "docker.io", "library/foo", null, Sha256 },
        { new string('a', 64) + "b", "docker.io", "library/" + new string('a', 64) + "b", null, null },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Parses_and_normalizes(string input, string registry, string repository, string? tag, string? digest)
    {
        var r = ImageReference.Parse(input);
        Assert.Equal(registry, r.Registry);
        Assert.Equal(repository, r.Repository);
        Assert.Equal(tag, r.Tag);
        Assert.Equal(digest, r.Digest?.ToString());
        // The familiar form parses back to the same reference.
        Assert.Equal(r, ImageReference.Parse(r.ToString()));
    }

    public static TheoryData<string, string> Invalid => new()
    {
        // input, a part of the message
        { "", "empty" },
        { ":justtag", "repository name is empty" },
        { "@" + Sha256, "repository name is empty" },
        { "repo@sha256:ffffffffffffffffffffffffffffffffff", "not a digest" },
        { "validname@invaliddigest:" + new string('f', 64), "not a digest" },
        { "Uppercase:tag", "repository names must be lowercase" },
        { "Uppercase/lowercase:tag", "repository names must be lowercase" },
        { "test:5000/Uppercase/lowercase:tag", "repository names must be lowercase" },
        { "aa/asdf$$^/aa", "'asdf$$^' is not a valid repository path component" },
        { "-foo", "'-foo'" },
        { "foo-", "'foo-'" },
        { "foo_", "'foo_'" },
        { "foo___bar", "'foo___bar'" },
        { "foo..bar", "'foo..bar'" },
        { "foo/", "empty path component" },
        { "/foo", "empty path component" },
        { "foo//bar", "empty path component" },
        { "foo:", "tag after ':' is empty" },
        { "foo:-tag", "the tag '-tag'" },
        { "foo:.tag", "the tag '.tag'" },
        { "foo:" + new string('a', 129), "is not 1 to 128" },
        { "foo:tag\n", "the tag" },
        { "foo bar", "'foo bar'" },
        { "[fe80::1%eth0]:5000/repo", "not a valid registry host" },
        { "-bad.com/repo", "not a valid registry host" },
        { "test.com:port/repo", "not a valid registry host" },
        { new string('a', 64), "64 hexadecimal digits" },
        { "a/" + new string('a', 250), "longer than 255" },
        { "repo@" + Sha256 + "@" + Sha256, "not a digest" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Refuses_with_LIV2001_naming_the_bad_part(string input, string message)
    {
        var e = Assert.Throws<LivrableException>(() => ImageReference.Parse(input));
        Assert.Equal(DiagnosticCodes.InvalidReference, e.Code);
        Assert.Contains(message, e.Message);
        Assert.False(ImageReference.TryParse(input, out _, out string? error));
        Assert.NotNull(error);
    }

    [Theory]
    [InlineData("ubuntu", "ubuntu")]
    [InlineData("docker.io/library/ubuntu:22.04", "ubuntu:22.04")]
    [InlineData("docker.io/team/app:1", "team/app:1")]
    [InlineData("docker.io/library/a/b", "library/a/b")]
    [InlineData("localhost:5000/app@" + Sha256, "localhost:5000/app@" + Sha256)]
    [InlineData("ghcr.io/o/app:v1@" + Sha256, "ghcr.io/o/app:v1@" + Sha256)]
    public void ToString_is_the_familiar_form(string input, string familiar)
        => Assert.Equal(familiar, ImageReference.Parse(input).ToString());

    [Fact]
    public void FullName_and_ManifestReference()
    {
        var r = ImageReference.Parse("ubuntu");
        Assert.Equal("docker.io/library/ubuntu", r.FullName);
        Assert.Equal("latest", r.ManifestReference);
        Assert.Equal("22.04", ImageReference.Parse("ubuntu:22.04").ManifestReference);
        Assert.Equal(Sha256, ImageReference.Parse("ubuntu:22.04@" + Sha256).ManifestReference);
    }

    [Fact]
    public void WithTag_sets_the_tag_and_keeps_the_digest()
    {
        var r = ImageReference.Parse("ghcr.io/o/app@" + Sha256).WithTag("v2");
        Assert.Equal("v2", r.Tag);
        Assert.Equal(Sha256, r.Digest?.ToString());
        Assert.Equal("app:x", ImageReference.Parse("app:old").WithTag("x").ToString());
        Assert.Equal(DiagnosticCodes.InvalidTag, Assert.Throws<LivrableException>(() => ImageReference.Parse("app").WithTag("a b")).Code);
    }

    [Theory]
    [InlineData("latest")]
    [InlineData("1.0.0-rc.1")]
    [InlineData("_x")]
    [InlineData("UPPER_lower")]
    public void ValidateTag_accepts(string tag) => ImageReference.ValidateTag(tag);

    [Theory]
    [InlineData("")]
    [InlineData(".x")]
    [InlineData("-x")]
    [InlineData("a:b")]
    [InlineData("a/b")]
    [InlineData("é")]
    [InlineData("x\n")]
    public void ValidateTag_refuses_with_LIV2002(string tag)
        => Assert.Equal(DiagnosticCodes.InvalidTag, Assert.Throws<LivrableException>(() => ImageReference.ValidateTag(tag)).Code);

    [Fact]
    public void ValidateTag_allows_128_characters_and_no_more()
    {
        ImageReference.ValidateTag(new string('a', 128));
        Assert.Throws<LivrableException>(() => ImageReference.ValidateTag(new string('a', 129)));
    }

    [Theory]
    [InlineData("app")]
    [InlineData("team/app")]
    [InlineData("a.b/c_d/e-f")]
    public void ValidateRepository_accepts(string repository) => ImageReference.ValidateRepository(repository);

    [Theory]
    [InlineData("", "empty")]
    [InlineData("MyApp", "must be lowercase")]
    [InlineData("team//app", "empty path component")]
    [InlineData("app:1.0", "'app:1.0'")]
    [InlineData("-app", "'-app'")]
    public void ValidateRepository_refuses_with_LIV2008(string repository, string message)
    {
        var e = Assert.Throws<LivrableException>(() => ImageReference.ValidateRepository(repository));
        Assert.Equal(DiagnosticCodes.InvalidRepository, e.Code);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void ValidateRepository_refuses_more_than_255_characters()
    {
        ImageReference.ValidateRepository(new string('a', 255));
        Assert.Contains("longer than 255", Assert.Throws<LivrableException>(() => ImageReference.ValidateRepository(new string('a', 256))).Message);
    }
}
