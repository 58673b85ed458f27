using Livrable.Registry;
using Xunit;

namespace Livrable.Tests.Registry;

public sealed class AuthenticationChallengeTests
{
    [Fact]
    public void Bearer_with_quoted_commas_and_several_scopes()
    {
        var c = Assert.Single(AuthenticationChallenge.Parse(
            "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/alpine:pull,push repository:x:pull\""));
        Assert.True(c.IsBearer);
        Assert.Equal("https://auth.docker.io/token", c.Realm);
        Assert.Equal("registry.docker.io", c.Service);
        Assert.Equal("repository:library/alpine:pull,push repository:x:pull", c.Scope);
    }

    [Fact]
    public void Several_challenges_and_unquoted_values()
    {
        var cs = AuthenticationChallenge.Parse("Basic realm=\"Registry Realm\", Bearer realm=https://x/token, service=x, error=\"invalid_token\"");
        Assert.Equal(2, cs.Count);
        Assert.True(cs[0].IsBasic);
        Assert.Equal("Registry Realm", cs[0].Realm);
        Assert.Equal("https://x/token", cs[1].Realm);
        Assert.Equal("x", cs[1].Service);
        Assert.Equal("invalid_token", cs[1].Parameters["ERROR"]);
        Assert.Empty(AuthenticationChallenge.Parse(""));
    }
}
