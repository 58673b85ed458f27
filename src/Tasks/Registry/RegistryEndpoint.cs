using System.Net;
using Livrable.Diagnostics;

namespace Livrable.Registry;

/// <summary>
/// Where a registry's API answers: the registry as users write it (<c>host[:port]</c>) and the base URI of its
/// <c>/v2/</c> API. Docker Hub is written <c>docker.io</c> but answers at <c>registry-1.docker.io</c>; loopback
/// registries and those the user listed as insecure are spoken to over plain http, every other one over https.
/// </summary>
public sealed record RegistryEndpoint
{
    /// <summary>The name Docker Hub has in references and credentials.</summary>
    public const string DockerHub = "docker.io";

    /// <summary>The key Docker Hub credentials have in <c>config.json</c> (a historical URL, kept by the Docker CLI).</summary>
    public const string DockerHubCredentialKey = "https://index.docker.io/v1/";

    private RegistryEndpoint(string registry, Uri baseUri)
    {
        Registry = registry;
        BaseUri = baseUri;
    }

    /// <summary>The registry as references name it, lowercase: <c>docker.io</c>, <c>ghcr.io</c>, <c>localhost:5000</c>.</summary>
    public string Registry { get; }

    /// <summary>The scheme, host and port requests go to, such as <c>https://registry-1.docker.io</c>.</summary>
    public Uri BaseUri { get; }

    /// <summary>Whether requests go over plain http.</summary>
    public bool IsInsecure => BaseUri.Scheme == Uri.UriSchemeHttp;

    /// <summary>Whether this is Docker Hub, whose one-part repositories live under <c>library/</c>.</summary>
    public bool IsDockerHub => Registry == DockerHub;

    /// <summary>
    /// Resolves <paramref name="registry"/> (<c>host[:port]</c>, optionally with an <c>http://</c> or <c>https://</c>
    /// prefix). Plain http is used for loopback hosts and for hosts in <paramref name="insecureRegistries"/>; an explicit
    /// <c>http://</c> for any other host is refused (LIV3008) rather than silently sending credentials in clear.
    /// </summary>
    /// <exception cref="LivrableException">LIV2001 when the registry is not a host name; LIV3008 as above.</exception>
    public static RegistryEndpoint Resolve(string registry, IEnumerable<string>? insecureRegistries = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        string value = registry.Trim();
        bool explicitHttp = false;
        if (value.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            explicitHttp = true;
            value = value["http://".Length..];
        }
        else if (value.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            value = value["https://".Length..];
        }
        value = value.TrimEnd('/').ToLowerInvariant();
        if (value.Length == 0 || value.Contains('/') || Uri.CheckHostName(HostOf(value)) == UriHostNameType.Unknown)
            throw new LivrableException(DiagnosticCodes.InvalidReference, $"'{registry}' is not a registry: expected host[:port], such as ghcr.io or localhost:5000.");

        string name = value is "index.docker.io" or "registry-1.docker.io" or "registry.hub.docker.com" ? DockerHub : value;
        string apiHost = name == DockerHub ? "registry-1.docker.io" : name;
        bool insecure = IsLoopback(name) || (insecureRegistries ?? []).Any(h => string.Equals(Normalize(h), name, StringComparison.Ordinal));
        if (explicitHttp && !insecure)
            throw new LivrableException(DiagnosticCodes.InsecureRegistryRefused,
                $"'{registry}' asks for plain http, but {name} is neither a loopback address nor listed in ContainerInsecureRegistries (or LIVRABLE_INSECURE_REGISTRIES).");
        return new RegistryEndpoint(name, new Uri($"{(insecure ? "http" : "https")}://{apiHost}/"));
    }

    /// <summary>
    /// The repository as the registry knows it: Docker Hub puts one-part names under <c>library/</c>
    /// (<c>docker.io/alpine</c> is <c>library/alpine</c>).
    /// </summary>
    public string NormalizeRepository(string repository)
        => IsDockerHub && !repository.Contains('/') ? "library/" + repository : repository;

    /// <summary>The absolute URI of an API path such as <c>/v2/team/app/manifests/1.0</c>.</summary>
    public Uri Api(string pathAndQuery) => new(BaseUri, pathAndQuery);

    /// <summary>
    /// Whether <paramref name="uri"/> is on this registry's origin (scheme, host and port of <see cref="BaseUri"/>): the
    /// only place its credentials and tokens are sent. A redirect or an upload location elsewhere (a storage bucket,
    /// a CDN) is another origin, even on the same host with another port.
    /// </summary>
    public bool IsOrigin(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        return uri.IsAbsoluteUri && uri.Scheme == BaseUri.Scheme && uri.Port == BaseUri.Port
            && string.Equals(uri.IdnHost, BaseUri.IdnHost, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Splits a list of registries as <c>ContainerInsecureRegistries</c> and <c>LIVRABLE_INSECURE_REGISTRIES</c> give it,
    /// separated by <c>;</c> or <c>,</c>; blanks are dropped.
    /// </summary>
    public static IReadOnlyList<string> ParseList(string? value)
        => string.IsNullOrWhiteSpace(value)
            ? []
            : value.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Normalize).Distinct().ToList();

    /// <summary>Whether <paramref name="registry"/> (<c>host[:port]</c>) is this machine: <c>localhost</c>, 127.0.0.0/8 or ::1.</summary>
    public static bool IsLoopback(string registry)
    {
        string host = HostOf(registry.ToLowerInvariant());
        if (host == "localhost" || host.EndsWith(".localhost", StringComparison.Ordinal)) return true;
        return IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }

    /// <summary>The host part of <c>host[:port]</c>, brackets kept for IPv6.</summary>
    private static string HostOf(string hostAndPort)
    {
        if (hostAndPort.StartsWith('['))
        {
            int close = hostAndPort.IndexOf(']');
            return close < 0 ? hostAndPort : hostAndPort[..(close + 1)];
        }
        int colon = hostAndPort.IndexOf(':');
        // More than one colon without brackets is a bare IPv6 address, which has no port.
        return colon < 0 || hostAndPort.IndexOf(':', colon + 1) >= 0 ? hostAndPort : hostAndPort[..colon];
    }

    private static string Normalize(string host)
    {
        string h = host.Trim();
        foreach (var prefix in new[] { "http://", "https://" })
            if (h.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) h = h[prefix.Length..];
        h = h.TrimEnd('/').ToLowerInvariant();
        return h is "index.docker.io" or "registry-1.docker.io" ? DockerHub : h;
    }

    public override string ToString() => Registry;
}
