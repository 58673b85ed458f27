using Livrable.Registry.Credentials;

namespace Livrable.Registry;

/// <summary>How a <see cref="RegistryClient"/> reaches registries: which may use plain http, where credentials come from.</summary>
public sealed record RegistryOptions
{
    /// <summary>
    /// Registries (<c>host[:port]</c>) spoken to over plain http besides loopback ones; from
    /// <c>ContainerInsecureRegistries</c> and <c>LIVRABLE_INSECURE_REGISTRIES</c> (see <see cref="RegistryEndpoint.ParseList"/>).
    /// </summary>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];

    /// <summary>Where credentials come from; null for the environment and Docker config (<see cref="CredentialResolver"/>).</summary>
    public ICredentialProvider? Credentials { get; init; }

    /// <summary>When and how long to wait before trying a failed request again (tests use tiny delays).</summary>
    public RetryPolicy Retry { get; init; } = RetryPolicy.Default;

    /// <summary>
    /// Blobs moved at once: uploads of one push (the config and layers), downloads of one pulled image's layers. Enough
    /// to fill a link, few enough not to be throttled.
    /// </summary>
    public int MaxConcurrentBlobs { get; init; } = 4;

    /// <summary>
    /// How long a request may go without a byte moving (its body being sent, the answer's headers awaited, each read
    /// of its body) before it is given up as a connection fault and retried (<see cref="IdleTimeoutHandler"/>); from
    /// <c>ContainerRegistryTimeout</c>. <see cref="Timeout.InfiniteTimeSpan"/> (or zero) waits forever.
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = DefaultIdleTimeout;

    /// <summary>
    /// 60 s: longer than any registry takes to start answering a request it is working on (committing a large blob
    /// to its storage included), short enough that a silent connection does not hold a build for long.
    /// </summary>
    public static TimeSpan DefaultIdleTimeout { get; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Whether the manifests, indexes and configs of the images <see cref="RegistryClient.GetImageAsync"/> pulls are kept
    /// in the blob store, so that the next build of the same tag costs one HEAD (issue 14): a build's client keeps them,
    /// a plan's (which writes nothing) and a verification's do not, though they read what is there.
    /// </summary>
    public bool KeepDocuments { get; init; }

    /// <summary>Resolves host names for the <see cref="Network.RedirectGuard"/>; DNS when null (tests give a fake).</summary>
    internal Func<string, CancellationToken, Task<System.Net.IPAddress[]>>? Resolve { get; init; }

    /// <summary>Replaces the network, for tests (a fault-injecting handler); the client disposes it.</summary>
    internal HttpMessageHandler? Handler { get; init; }

    /// <summary>The largest blob chunk sent in one PATCH when a registry refuses monolithic uploads.</summary>
    internal int ChunkSize { get; init; } = 8 * 1024 * 1024;

    /// <summary>For tests: always upload in chunks, to exercise that path against a registry that accepts both.</summary>
    internal bool ForceChunkedUploads { get; init; }
}
