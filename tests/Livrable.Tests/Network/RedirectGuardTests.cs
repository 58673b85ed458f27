using System.Net;
using Livrable.Network;
using Xunit;

namespace Livrable.Tests.Network;

/// <summary>The address ranges, and the guard's decision with a fake resolver (no DNS).</summary>
public sealed class RedirectGuardTests
{
    private static readonly Dictionary<string, string[]> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["registry.example.com"] = ["93.184.216.34"],
        ["storage.example.net"] = ["151.101.1.1"],
        ["intranet.corp"] = ["10.1.2.3"],
        ["registry.corp"] = ["10.0.0.5"],
        ["rebound.example.org"] = ["151.101.1.2", "192.168.0.7"],
        ["metadata.internal"] = ["169.254.169.254"],
    };

    private static readonly RedirectGuard Guard = new((host, _) =>
        Task.FromResult(IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal]
            : Names.TryGetValue(host, out var addresses) ? addresses.Select(IPAddress.Parse).ToArray() : []));

    [Theory]
    [InlineData("169.254.169.254", true)]
    [InlineData("169.254.0.1", true)]
    [InlineData("fe80::1", true)]
    [InlineData("::ffff:169.254.169.254", true)]
    [InlineData("169.253.255.255", false)]
    [InlineData("10.0.0.1", false)]
    [InlineData("fd00:ec2::254", false)]
    public void Link_local_is_169_254_slash_16_and_fe80_slash_10(string address, bool linkLocal)
        => Assert.Equal(linkLocal, NetworkAddresses.IsLinkLocal(IPAddress.Parse(address)));

    [Theory]
    [InlineData("127.0.0.2", true)]
    [InlineData("::1", true)]
    [InlineData("0.0.0.0", true)]
    [InlineData("10.200.3.4", true)]
    [InlineData("172.16.0.1", true)]
    [InlineData("172.31.255.255", true)]
    [InlineData("172.32.0.1", false)]
    [InlineData("192.168.1.1", true)]
    [InlineData("100.64.0.1", true)]
    [InlineData("100.128.0.1", false)]
    [InlineData("fd00:ec2::254", true)]
    [InlineData("::ffff:10.0.0.1", true)]
    [InlineData("169.254.169.254", true)]
    [InlineData("8.8.8.8", false)]
    [InlineData("2606:4700::1111", false)]
    public void Private_is_loopback_RFC_1918_shared_unique_local_and_link_local(string address, bool isPrivate)
        => Assert.Equal(isPrivate, NetworkAddresses.IsPrivate(IPAddress.Parse(address)));

    [Theory]
    // A public registry: public storage is fine; its own host is fine; the metadata service and the private network are not.
    [InlineData("https://registry.example.com/v2/", "https://storage.example.net/blob", null)]
    [InlineData("https://registry.example.com/v2/", "http://registry.example.com:8080/x", null)]
    [InlineData("https://registry.example.com/v2/", "http://169.254.169.254/latest/meta-data/", "link-local")]
    [InlineData("https://registry.example.com/v2/", "http://[fe80::1]/", "link-local")]
    [InlineData("https://registry.example.com/v2/", "http://metadata.internal/", "link-local")]
    [InlineData("https://registry.example.com/v2/", "http://10.1.2.3/", "private")]
    [InlineData("https://registry.example.com/v2/", "http://intranet.corp/", "private")]
    [InlineData("https://registry.example.com/v2/", "http://127.0.0.1:2375/", "private")]
    [InlineData("https://registry.example.com/v2/", "http://rebound.example.org/", "private")]
    // A registry on the local network or this machine may send to its storage there, but never to link-local.
    [InlineData("http://registry.corp/v2/", "http://intranet.corp/bucket", null)]
    [InlineData("http://127.0.0.1:5000/v2/", "http://127.0.0.2:9000/bucket", null)]
    [InlineData("http://127.0.0.1:5000/v2/", "http://169.254.169.254/", "link-local")]
    // A name that does not resolve is left to fail as unreachable.
    [InlineData("https://registry.example.com/v2/", "https://nowhere.invalid/", null)]
    public async Task The_guard_refuses_link_local_always_and_private_from_a_public_origin(string origin, string target, string? refused)
    {
        string? refusal = await Guard.RefusalAsync(new Uri(origin), new Uri(target), CancellationToken.None);

        if (refused is null) Assert.Null(refusal);
        else Assert.Contains(refused, refusal);
    }
}
