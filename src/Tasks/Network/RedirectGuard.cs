using System.Collections.Concurrent;
using System.Net;

namespace Livrable.Network;

/// <summary>
/// Decides whether a request may leave the host it was made to for another one a server named (a redirect's
/// <c>Location</c>, a registry's upload location, a token realm): never to a link-local address, where clouds serve
/// instance credentials (169.254.169.254); never to a private or loopback address when the origin is public, which
/// would let a server on the internet reach into the build machine's network. A target on the origin's own host, or
/// any target of a private origin (a registry on the local network sending to its storage there), is followed.
/// </summary>
/// <remarks>
/// Names are resolved here, and again by the connection that follows; a name that resolves differently the second
/// time (DNS rebinding) is not caught. Literal addresses, the form the metadata services are reached by, always are.
/// One guard per client: what each host resolved to is kept for its lifetime (a build).
/// </remarks>
public sealed class RedirectGuard
{
    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve;
    private readonly ConcurrentDictionary<string, Task<IPAddress[]>> _resolved = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>A guard resolving names with <paramref name="resolve"/> (DNS, by <see cref="NetworkAddresses.ResolveAsync"/>, when null).</summary>
    public RedirectGuard(Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null)
        => _resolve = resolve ?? NetworkAddresses.ResolveAsync;

    /// <summary>
    /// Why going from <paramref name="origin"/> to <paramref name="target"/> is refused, in words that follow "it
    /// points at" (<c>a link-local address (169.254.169.254), where clouds serve instance credentials</c>); null
    /// when it may be followed.
    /// </summary>
    public async Task<string?> RefusalAsync(Uri origin, Uri target, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(origin);
        ArgumentNullException.ThrowIfNull(target);
        if (string.Equals(origin.IdnHost, target.IdnHost, StringComparison.OrdinalIgnoreCase)) return null;
        var targets = await ResolveAsync(target.IdnHost, cancellationToken).ConfigureAwait(false);
        if (targets.FirstOrDefault(NetworkAddresses.IsLinkLocal) is { } linkLocal)
            return $"a link-local address ({linkLocal}), where clouds serve instance credentials";
        if (targets.FirstOrDefault(NetworkAddresses.IsPrivate) is not { } inside) return null;
        var origins = await ResolveAsync(origin.IdnHost, cancellationToken).ConfigureAwait(false);
        // An origin that does not resolve cannot have answered: treat it as public, the safe side.
        if (origins.Any(NetworkAddresses.IsPrivate)) return null;
        return $"a private address ({inside}) while {origin.Host} is public";
    }

    private Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        // Shared by every request to the host, so not cancelled by one of them; each waits as long as its own token lets it.
        var task = _resolved.GetOrAdd(host, h => _resolve(h, CancellationToken.None));
        // A failed resolution is not kept: the next request asks again.
        if (task.IsFaulted || task.IsCanceled) _resolved.TryRemove(host, out _);
        return task.WaitAsync(cancellationToken);
    }
}
