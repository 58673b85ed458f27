using System.Net;
using System.Net.Sockets;

namespace Livrable.Network;

/// <summary>
/// Where an IP address lies: link-local (where clouds serve instance metadata and credentials) or private (this
/// machine, the local network), as RFC 6890's special-purpose registries list them.
/// </summary>
public static class NetworkAddresses
{
    /// <summary>
    /// Whether <paramref name="address"/> is link-local: 169.254.0.0/16 (RFC 3927) or fe80::/10 (RFC 4291), or either
    /// mapped to IPv6. 169.254.169.254 and fd00:ec2::254 are the cloud metadata services; the latter is private.
    /// </summary>
    public static bool IsLinkLocal(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var bytes = address.GetAddressBytes();
            return bytes[0] == 169 && bytes[1] == 254;
        }
        return address.IsIPv6LinkLocal;
    }

    /// <summary>
    /// Whether <paramref name="address"/> is not on the public internet: loopback (127.0.0.0/8, ::1), unspecified
    /// (0.0.0.0/8, ::), RFC 1918 (10/8, 172.16/12, 192.168/16), shared address space (100.64.0.0/10, RFC 6598),
    /// unique local (fc00::/7, RFC 4193) and site-local (fec0::/10); link-local ones too.
    /// </summary>
    public static bool IsPrivate(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || IsLinkLocal(address)) return true;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b[0] is 0 or 10
                || (b[0] == 172 && b[1] is >= 16 and <= 31)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 100 && b[1] is >= 64 and <= 127);
        }
        if (address.Equals(IPAddress.IPv6None) || address.Equals(IPAddress.IPv6Any)) return true;
        var v6 = address.GetAddressBytes();
        return (v6[0] & 0xFE) == 0xFC || address.IsIPv6SiteLocal;
    }

    /// <summary>
    /// The addresses <paramref name="host"/> stands for: itself when it is a literal (brackets allowed), else what DNS
    /// says; empty when it does not resolve (the request itself will then fail as unreachable).
    /// </summary>
    public static async Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal)) return [literal];
        try
        {
            return await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ArgumentException)
        {
            return [];
        }
    }
}
