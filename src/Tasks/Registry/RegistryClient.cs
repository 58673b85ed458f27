using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using Livrable.Diagnostics;
using Livrable.Network;
using Livrable.Registry.Credentials;
using Livrable.Store;
using Livrable.Threading;

namespace Livrable.Registry;

/// <summary>
/// A client of the OCI distribution API (https://github.com/opencontainers/distribution-spec/blob/main/spec.md):
/// manifests and blobs, pulled and pushed, with the registries' authentication. One client per build: it owns the
/// one <see cref="HttpClient"/>, the token cache and the credentials already found.
/// </summary>
/// <remarks>
/// Redirects are followed here rather than by the handler, so that the <c>Authorization</c> header is dropped when a
/// redirect leaves the registry (blob GETs are commonly sent on to a storage bucket with a signed URL, which must not
/// see the registry token). Connection errors, 408, 429 and 5xx are retried as <see cref="RetryPolicy"/> says.
/// Every call names its action, which ends up in error messages.
/// </remarks>
public sealed partial class RegistryClient : IDisposable
{
    private const int MaxRedirects = 10;

    private readonly HttpClient _http;
    private readonly RegistryAuthenticator _auth;
    private readonly ILogger _logger;
    private readonly RegistryOptions _options;
    private readonly RedirectGuard _guard;

    /// <summary>
    /// A client with <paramref name="options"/> (insecure registries, credentials), downloading layers into
    /// <paramref name="store"/> and logging to <paramref name="logger"/>. Dispose it at the end of the build.
    /// </summary>
    public RegistryClient(RegistryOptions options, BlobStore store, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        _options = options;
        Store = store;
        _logger = logger ?? NullLogger.Instance;
        var network = options.Handler ?? new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            MaxConnectionsPerServer = 16,
        };
        _http = new HttpClient(new IdleTimeoutHandler(options.IdleTimeout) { InnerHandler = network })
        {
            // Blobs can take long: no timer on a whole request, only on silence (IdleTimeoutHandler), and the caller's
            // cancellation token bounds the build.
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _guard = new RedirectGuard(options.Resolve);
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("Livrable", typeof(RegistryClient).Assembly.GetName().Version?.ToString(3) ?? "0"));
        _auth = new RegistryAuthenticator(_http, options.Credentials ?? new CredentialResolver(logger: _logger), options.Retry, _logger);
    }

    /// <summary>What this client moved so far.</summary>
    public RegistryCounters Counters { get; } = new();

    /// <summary>The blob store pulled layers are downloaded into.</summary>
    public BlobStore Store { get; }

    private int ChunkSize => _options.ChunkSize;

    private RetryPolicy Retry => _options.Retry;

    /// <summary>Blobs moved at once by one push or one pull (<see cref="RegistryOptions.MaxConcurrentBlobs"/>).</summary>
    public int MaxConcurrentBlobs => Math.Max(1, _options.MaxConcurrentBlobs);

    private bool ForceChunkedUploads => _options.ForceChunkedUploads;

    /// <summary>Where <paramref name="registry"/>'s API answers, with this client's insecure list applied.</summary>
    /// <exception cref="LivrableException">LIV2001 or LIV3008, see <see cref="RegistryEndpoint.Resolve"/>.</exception>
    public RegistryEndpoint Resolve(string registry) => RegistryEndpoint.Resolve(registry, _options.InsecureRegistries);

    /// <summary>
    /// Stops the pulls started ahead (they write to the store, so before the build's lease is released) and closes the
    /// HTTP client's connections on the thread pool: nothing waits for that close (about 10 ms at the end of every
    /// build, much of it code compiled at run time for it alone), no request is made after this call, and a process
    /// that ends first closes the sockets with it.
    /// </summary>
    public void Dispose()
    {
        StopStarted();
        _startedCancel.Dispose();
        ThreadPool.UnsafeQueueUserWorkItem(static http => http.Dispose(), _http, preferLocal: false);
    }

    /// <summary>The token scope for <paramref name="repository"/>.</summary>
    internal static string Scope(string repository, bool push) => $"repository:{repository}:{(push ? "pull,push" : "pull")}";

    /// <summary>
    /// Sends the request <paramref name="create"/> makes (a fresh one per try, so bodies can be reopened), with
    /// authentication, following redirects for GET and HEAD, retrying connection errors, 429 and 5xx when
    /// <paramref name="retry"/>. Returns any final response; the caller checks the status.
    /// </summary>
    /// <exception cref="LivrableException">LIV3001 when the registry cannot be reached; LIV3002 from the token service.</exception>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    internal async Task<HttpResponseMessage> SendAsync(RegistryEndpoint endpoint, IReadOnlyList<string> scopes, string action,
        Func<CancellationToken, Task<HttpRequestMessage>> create, bool retry, CancellationToken cancellationToken)
    {
        var waited = TimeSpan.Zero;
        for (int attempt = 1; ; attempt++)
        {
            HttpResponseMessage response;
            try
            {
                // Authenticated here, not in a method of its own: each async method on the path of a build's first request
                // costs a dozen methods compiled at run time (its state machine's builder code), before the request goes out.
                var header = await _auth.GetHeaderAsync(endpoint, scopes, cancellationToken).ConfigureAwait(false);
                response = await SendFollowingRedirectsAsync(endpoint, scopes, action, create, header, cancellationToken).ConfigureAwait(false);
                // Only the registry's own challenge is answered with its credentials: another host's 401 was dealt with (or
                // stands) in SendFollowingRedirectsAsync.
                if (response.StatusCode == HttpStatusCode.Unauthorized && endpoint.IsOrigin(response.RequestMessage!.RequestUri!)
                    && await _auth.AnswerAsync(endpoint, response, scopes, cancellationToken).ConfigureAwait(false) is { } answer)
                {
                    response.Dispose();
                    response = await SendFollowingRedirectsAsync(endpoint, scopes, action, create, answer, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (IsConnectionError(e, cancellationToken))
            {
                if (Inner<LivrableException>(e) is { } livrable) throw livrable;
                var delay = retry ? Retry.NextDelay(attempt, waited) : null;
                if (delay is null) throw RegistryErrors.Unreachable(endpoint, action, e);
                Counters.Retried();
                _logger.Detail($"Retrying to {action} on {endpoint.Registry} in {delay.Value.TotalSeconds:0.##} s after: {e.Message}");
                await Task.Delay(delay.Value, cancellationToken).ConfigureAwait(false);
                waited += delay.Value;
                continue;
            }
            if (retry && RetryPolicy.IsTransient(response.StatusCode)
                && Retry.NextDelay(attempt, waited, RetryPolicy.RetryAfter(response)) is { } wait)
            {
                Counters.Retried();
                _logger.Detail($"Retrying to {action} on {endpoint.Registry} in {wait.TotalSeconds:0.##} s after {(int)response.StatusCode} {response.ReasonPhrase}.");
                response.Dispose();
                await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
                waited += wait;
                continue;
            }
            return response;
        }
    }

    /// <summary>
    /// Sends the request, following redirects of GET and HEAD. <paramref name="authorization"/> goes only to the
    /// registry's own origin (<see cref="RegistryEndpoint.IsOrigin"/>), never to a host it redirects to or names as an
    /// upload location (storage, a CDN); such a host is first checked by the <see cref="RedirectGuard"/> (LIV3011),
    /// and when it challenges, it gets an anonymous token of its own (<see cref="RegistryAuthenticator.AnswerForeignAsync"/>),
    /// used for that host only.
    /// </summary>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    private async Task<HttpResponseMessage> SendFollowingRedirectsAsync(RegistryEndpoint endpoint, IReadOnlyList<string> scopes, string action,
        Func<CancellationToken, Task<HttpRequestMessage>> create, AuthenticationHeaderValue? authorization, CancellationToken cancellationToken)
    {
        Uri? target = null;
        (Uri Host, AuthenticationHeaderValue Header)? foreign = null;
        for (int hop = 0; ; hop++)
        {
            var request = await create(cancellationToken).ConfigureAwait(false);
            if (target is not null) request.RequestUri = target;
            var uri = request.RequestUri!;
            bool own = endpoint.IsOrigin(uri);
            if (!own && await _guard.RefusalAsync(endpoint.BaseUri, uri, cancellationToken).ConfigureAwait(false) is { } refusal)
            {
                request.Dispose();
                throw new LivrableException(DiagnosticCodes.RedirectRefused,
                    $"{endpoint.Registry} sent the request to {action} to {uri.GetLeftPart(UriPartial.Authority)}, {refusal}; refusing to follow.");
            }
            if (own && authorization is not null) request.Headers.Authorization = authorization;
            else if (!own && foreign is { } f && SameOrigin(f.Host, uri)) request.Headers.Authorization = f.Header;
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                request.Dispose();
                throw;
            }
            // The body was sent (or refused): release it now, not at the next GC; a layer body holds a file open.
            request.Content?.Dispose();
            if (response.StatusCode == HttpStatusCode.Unauthorized && !own)
            {
                // Another host's challenge: once, an anonymous token of its own; never the registry's credentials.
                if (foreign is { } tried && SameOrigin(tried.Host, uri))
                {
                    response.Dispose();
                    request.Dispose();
                    throw RegistryErrors.ForeignChallenge(endpoint, action, uri, "refused its own anonymous token");
                }
                AuthenticationHeaderValue header;
                try
                {
                    header = await _auth.AnswerForeignAsync(endpoint, uri, response, scopes, action, _guard, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    response.Dispose();
                    request.Dispose();
                }
                foreign = (uri, header);
                target = uri;
                continue;
            }
            bool redirect = response.StatusCode is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther
                or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;
            if (!redirect || response.Headers.Location is null || (request.Method != HttpMethod.Get && request.Method != HttpMethod.Head))
                return response;
            if (hop >= MaxRedirects)
            {
                response.Dispose();
                throw new LivrableException(DiagnosticCodes.RegistryProtocol, $"{endpoint.Registry} redirected more than {MaxRedirects} times.");
            }
            target = new Uri(uri, response.Headers.Location);
            response.Dispose();
            request.Dispose();
        }
    }

    /// <summary>The error for an unexpected response, naming the credentials sent if any (see <see cref="RegistryErrors"/>).</summary>
    internal Task<LivrableException> FailureAsync(HttpResponseMessage response, RegistryEndpoint endpoint, string repository, string action,
        string notFoundCode, CancellationToken cancellationToken)
        => RegistryErrors.FromResponseAsync(response, endpoint, repository, action, notFoundCode, _auth.KnownCredential(endpoint), cancellationToken);

    private static bool SameOrigin(Uri a, Uri b)
        => a.Scheme == b.Scheme && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    /// <summary>Whether <paramref name="e"/> is the network failing (not the caller cancelling, not a Livrable error).</summary>
    internal static bool IsConnectionError(Exception e, CancellationToken cancellationToken)
        => e is HttpRequestException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    /// <summary>
    /// The Livrable error inside an exception HttpClient wrapped, such as a digest mismatch raised by the stream an
    /// upload was reading.
    /// </summary>
    internal static T? Inner<T>(Exception e) where T : Exception
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is T t) return t;
        return null;
    }

    /// <summary>The path of a repository's API: <c>/v2/&lt;name&gt;/&lt;rest&gt;</c>.</summary>
    internal static string ApiPath(string repository, string rest) => $"/v2/{repository}/{rest}";
}
