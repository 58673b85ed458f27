using Livrable.Diagnostics;
using Livrable.Registry;
using Xunit;

namespace Livrable.Tests.Registry;

public sealed class RegistryEndpointTests
{
    [Theory]
    [InlineData("docker.io", "docker.io", "https://registry-1.docker.io/")]
    [InlineData("index.docker.io", "docker.io", "https://registry-1.docker.io/")]
    [InlineData("ghcr.io", "ghcr.io", "https://ghcr.io/")]
    [InlineData("GHCR.io", "ghcr.io", "https://ghcr.io/")]
    [InlineData("https://myregistry.example.com:8443", "myregistry.example.com:8443", "https://myregistry.example.com:8443/")]
    [InlineData("localhost:5000", "localhost:5000", "http://localhost:5000/")]
    [InlineData("127.0.0.1:5000", "127.0.0.1:5000", "http://127.0.0.1:5000/")]
    [InlineData("127.1.2.3", "127.1.2.3", "http://127.1.2.3/")]
    [InlineData("[::1]:5000", "[::1]:5000", "http://[::1]:5000/")]
    [InlineData("http://localhost:5000", "localhost:5000", "http://localhost:5000/")]
    public void Resolves_name_and_api(string registry, string name, string api)
    {
        var e = RegistryEndpoint.Resolve(registry);
        Assert.Equal(name, e.Registry);
        Assert.Equal(api, e.BaseUri.ToString());
    }

    [Fact]
    public void Listed_hosts_use_http_others_refuse_an_explicit_http()
    {
        var list = RegistryEndpoint.ParseList(" registry.lan:5000 ; http://other.lan,, ");
        Assert.Equal(["registry.lan:5000", "other.lan"], list);
        Assert.True(RegistryEndpoint.Resolve("registry.lan:5000", list).IsInsecure);
        Assert.True(RegistryEndpoint.Resolve("http://other.lan", list).IsInsecure);
        Assert.False(RegistryEndpoint.Resolve("registry.lan:5001", list).IsInsecure);
        var e = Assert.Throws<LivrableException>(() => RegistryEndpoint.Resolve("http://registry.lan:5001", list));
        Assert.Equal(DiagnosticCodes.InsecureRegistryRefused, e.Code);
        e = Assert.Throws<LivrableException>(() => RegistryEndpoint.Resolve("not a host/x"));
        Assert.Equal(DiagnosticCodes.InvalidReference, e.Code);
    }

    [Fact]
    public void Docker_hub_official_images_live_under_library()
    {
        var hub = RegistryEndpoint.Resolve("docker.io");
        Assert.Equal("library/alpine", hub.NormalizeRepository("alpine"));
        Assert.Equal("team/app", hub.NormalizeRepository("team/app"));
        Assert.Equal("alpine", RegistryEndpoint.Resolve("ghcr.io").NormalizeRepository("alpine"));
    }
}
