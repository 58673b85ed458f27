using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Network;
using Livrable.Registry.Credentials;

namespace Livrable.Registry;

/// <summary>
/// Answers registry challenges. For <c>Bearer</c>, the token flow
/// (https://distribution.github.io/distribution/spec/auth/token/): GET the realm with <c>service</c> and one
/// <c>scope</c> per repository, with Basic credentials when we have some; or, with an identity token, the OAuth2 POST
/// (https://distribution.github.io/distribution/spec/auth/oauth/), falling back to the GET where the service lacks it.
/// Token realms on link-local addresses are refused (LIV3102). Tokens are cached per registry and scope set until
/// they expire. For <c>Basic</c>, the credentials themselves. Once a registry has challenged, later requests carry the
/// right header at once instead of taking a 401 each. Credentials are asked for once per registry, and never logged.
/// </summary>
internal sealed class RegistryAuthenticator
{
    private static readonly TimeSpan DefaultTokenLifetime = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ExpiryMargin = TimeSpan.FromSeconds(10);

    private readonly HttpClient _http;
    private readonly ICredentialProvider _credentials;
    private readonly ILogger _logger;
    private readonly RetryPolicy _retry;
    private readonly ConcurrentDictionary<string, AuthenticationChallenge> _challenges = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (AuthenticationHeaderValue Header, DateTimeOffset Expires)> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<RegistryCredential?>>> _credentialsByRegistry = new(StringComparer.Ordinal);

    public RegistryAuthenticator(HttpClient http, ICredentialProvider credentials, RetryPolicy retry, ILogger logger)
    {
        _retry = retry;
        _http = http;
        _credentials = credentials;
        _logger = logger;
    }

    /// <summary>
    /// The header to send with a request needing <paramref name="scopes"/>, when the registry has challenged before;
    /// null when it has not (the request goes anonymous and a 401 tells us what to do).
    /// </summary>
    /// <remarks>Not an async method: a registry that never challenged (a build's first request) costs no state machine here.</remarks>
    public Task<AuthenticationHeaderValue?> GetHeaderAsync(RegistryEndpoint endpoint, IReadOnlyList<string> scopes, CancellationToken cancellationToken)
        => _challenges.TryGetValue(endpoint.Registry, out var challenge)
            ? HeaderForAsync(endpoint, challenge, scopes, refresh: false, cancellationToken)
            : NoHeader;

    private static readonly Task<AuthenticationHeaderValue?> NoHeader = Task.FromResult<AuthenticationHeaderValue?>(null);

    /// <summary>
    /// Answers a 401: reads its <c>WWW-Authenticate</c>, gets a fresh token or the Basic credentials, and returns the
    /// header to retry with; null when there is nothing better to send (the 401 stands, and becomes LIV3002).
    /// </summary>
    public async Task<AuthenticationHeaderValue?> AnswerAsync(RegistryEndpoint endpoint, HttpResponseMessage unauthorized, IReadOnlyList<string> scopes, CancellationToken cancellationToken)
    {
        var challenges = unauthorized.Headers.WwwAuthenticate.SelectMany(h => AuthenticationChallenge.Parse(h.ToString())).ToList();
        var challenge = challenges.FirstOrDefault(c => c.IsBearer && c.Realm is not null) ?? challenges.FirstOrDefault(c => c.IsBasic);
        if (challenge is null) return null;
        _challenges[endpoint.Registry] = challenge;
        var all = scopes.ToList();
        // The registry may need more than we guessed (a scope for another repository); ask for both. A scope ours
        // already covers (its "pull" when we ask "pull,push") is not added: the token would be the same, and the
        // cache key would differ from the next request's, costing a token per request.
        foreach (var s in (challenge.Scope ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
            if (!all.Any(ours => Covers(ours, s))) all.Add(s);
        return await HeaderForAsync(endpoint, challenge, all, refresh: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Answers a 401 from <paramref name="host"/>, a host other than the registry's that the registry sent a request to
    /// (a redirect, an upload location): never with the registry's credentials or token. A <c>Bearer</c> challenge
    /// gets an anonymous token from that host's own realm, for that one request (nothing is cached or kept as the
    /// registry's challenge); anything else, or a realm that refuses anonymous callers, is LIV3010. This is the rule
    /// go-containerregistry settled on (its pull request 2360): credentials stay with the origin they were given for.
    /// </summary>
    /// <exception cref="LivrableException">LIV3010 as above; LIV3011 or LIV3102 for a realm on a refused address.</exception>
    public async Task<AuthenticationHeaderValue> AnswerForeignAsync(RegistryEndpoint endpoint, Uri host, HttpResponseMessage unauthorized,
        IReadOnlyList<string> scopes, string action, RedirectGuard guard, CancellationToken cancellationToken)
    {
        string where = host.GetLeftPart(UriPartial.Authority);
        var challenges = unauthorized.Headers.WwwAuthenticate.SelectMany(h => AuthenticationChallenge.Parse(h.ToString())).ToList();
        var challenge = challenges.FirstOrDefault(c => c.IsBearer && c.Realm is not null);
        if (challenge is null)
            throw RegistryErrors.ForeignChallenge(endpoint, action, host,
                $"asks for credentials ({(challenges.Count > 0 ? challenges[0].Scheme : "no WWW-Authenticate")})");
        if (Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm) && await guard.RefusalAsync(host, realm, cancellationToken).ConfigureAwait(false) is { } refusal)
            throw new LivrableException(DiagnosticCodes.RedirectRefused,
                $"{where}, where {endpoint.Registry} sent the request to {action}, asked for a token from {realm.GetLeftPart(UriPartial.Authority)}, {refusal}; refusing.");
        var asked = (challenge.Scope ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        _logger.Detail($"{where} (where {endpoint.Registry} sent the request to {action}) has its own token service; asking it anonymously.");
        try
        {
            var (header, _) = await FetchTokenAsync(endpoint, challenge, asked.Length > 0 ? asked : scopes, credential: null, cancellationToken).ConfigureAwait(false);
            return header;
        }
        catch (LivrableException e) when (e.Code is DiagnosticCodes.Unauthorized or DiagnosticCodes.Forbidden)
        {
            throw RegistryErrors.ForeignChallenge(endpoint, action, host, "has a token service that refused an anonymous token", e);
        }
    }

    /// <summary>Whether credentials were used with <paramref name="endpoint"/> (for the wording of LIV3002).</summary>
    public RegistryCredential? KnownCredential(RegistryEndpoint endpoint)
        => _credentialsByRegistry.TryGetValue(endpoint.Registry, out var lazy) && lazy.Value.IsCompletedSuccessfully ? lazy.Value.Result : null;

    private async Task<AuthenticationHeaderValue?> HeaderForAsync(RegistryEndpoint endpoint, AuthenticationChallenge challenge, IReadOnlyList<string> scopes, bool refresh, CancellationToken cancellationToken)
    {
        if (challenge.IsBasic)
        {
            var credential = await GetCredentialAsync(endpoint, cancellationToken).ConfigureAwait(false);
            if (credential is null || !credential.HasPassword) return null;
            return Basic(credential);
        }
        string key = endpoint.Registry + " " + string.Join(" ", scopes.Order(StringComparer.Ordinal));
        if (!refresh && _tokens.TryGetValue(key, out var cached) && cached.Expires > DateTimeOffset.UtcNow) return cached.Header;
        var known = await GetCredentialAsync(endpoint, cancellationToken).ConfigureAwait(false);
        var (header, expires) = await FetchTokenAsync(endpoint, challenge, scopes, known, cancellationToken).ConfigureAwait(false);
        _tokens[key] = (header, expires);
        return header;
    }

    private Task<RegistryCredential?> GetCredentialAsync(RegistryEndpoint endpoint, CancellationToken cancellationToken)
        => _credentialsByRegistry.GetOrAdd(endpoint.Registry,
            _ => new Lazy<Task<RegistryCredential?>>(() => _credentials.GetCredentialAsync(endpoint, cancellationToken))).Value;

    private async Task<(AuthenticationHeaderValue, DateTimeOffset)> FetchTokenAsync(RegistryEndpoint endpoint, AuthenticationChallenge challenge,
        IReadOnlyList<string> scopes, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm) || realm.Scheme is not ("https" or "http"))
            throw new LivrableException(DiagnosticCodes.RegistryProtocol, $"{endpoint.Registry} asked for a token from '{challenge.Realm}', which is not an http(s) URL.");
        await RefuseLinkLocalAsync(endpoint, realm, cancellationToken).ConfigureAwait(false);
        if (realm.Scheme == "http" && !endpoint.IsInsecure)
            throw new LivrableException(DiagnosticCodes.InsecureRegistryRefused, $"{endpoint.Registry} asked for a token from the plain-http URL {realm}; refusing to send credentials in clear.");

        bool oauth = credential?.IdentityToken is not null;

        HttpRequestMessage CreateRequest()
        {
            if (oauth && credential?.IdentityToken is { } refreshToken)
            {
                var form = new List<KeyValuePair<string, string>>
                {
                    new("grant_type", "refresh_token"),
                    new("client_id", "livrable"),
                    new("refresh_token", refreshToken),
                    new("scope", string.Join(" ", scopes)),
                };
                if (challenge.Service is { } service) form.Add(new("service", service));
                return new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) };
            }
            var query = new StringBuilder(realm.Query.Length > 1 ? realm.Query[1..] : "");
            if (challenge.Service is { } s) Append(query, "service", s);
            foreach (var scope in scopes) Append(query, "scope", scope);
            var request = new HttpRequestMessage(HttpMethod.Get, new UriBuilder(realm) { Query = query.ToString() }.Uri);
            if (credential is { HasPassword: true }) request.Headers.Authorization = Basic(credential);
            return request;
        }

        _logger.Detail($"Getting a token from {realm.GetLeftPart(UriPartial.Path)} for {string.Join(" ", scopes)}{(credential is null ? " (anonymous)" : $" with the {credential}")}.");
        var response = await SendTokenRequestAsync(endpoint, CreateRequest, cancellationToken).ConfigureAwait(false);
        if (oauth && response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
        {
            // A token service without the OAuth2 endpoint (https://distribution.github.io/distribution/spec/auth/oauth/):
            // the plain GET, as docker falls back to.
            _logger.Detail($"{realm.GetLeftPart(UriPartial.Path)} has no OAuth2 token endpoint ({(int)response.StatusCode}); asking with a GET.");
            response.Dispose();
            oauth = false;
            response = await SendTokenRequestAsync(endpoint, CreateRequest, cancellationToken).ConfigureAwait(false);
        }
        using var ownedResponse = response;
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            string details = await RegistryErrors.ReadErrorsAsync(response, cancellationToken).ConfigureAwait(false);
            string why = details.Length > 0 ? $" ({details})" : "";
            throw new LivrableException(DiagnosticCodes.Unauthorized, credential is null
                ? $"{endpoint.Registry} needs credentials for {string.Join(" ", scopes)}{why}. {string.Format(RegistryErrors.HowToLogin, endpoint.Registry)}"
                : $"{endpoint.Registry} refused the {credential} for {string.Join(" ", scopes)}{why}. Check them, or log in again with 'docker login {endpoint.Registry}'.");
        }
        if (response.StatusCode != HttpStatusCode.OK)
            throw await RegistryErrors.FromResponseAsync(response, endpoint, "(token)", "get an access token", DiagnosticCodes.RegistryProtocol, credential, cancellationToken).ConfigureAwait(false);

        byte[] body = await RegistryErrors.ReadAtMostAsync(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), 1 << 20, cancellationToken).ConfigureAwait(false);
        string? token = null;
        var lifetime = DefaultTokenLifetime;
        DateTimeOffset issued = DateTimeOffset.UtcNow;
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                // Docker's flow answers 'token'; OAuth2 answers 'access_token'; many send both, the same.
                token = Str(root, "token") ?? Str(root, "access_token");
                if (root.TryGetProperty("expires_in", out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int seconds) && seconds > 0)
                    lifetime = TimeSpan.FromSeconds(seconds);
                if (Str(root, "issued_at") is { } at && DateTimeOffset.TryParse(at, out var parsed) && parsed <= issued)
                    issued = parsed;
            }
        }
        catch (JsonException)
        {
        }
        if (string.IsNullOrEmpty(token))
            throw new LivrableException(DiagnosticCodes.RegistryProtocol, $"The token service of {endpoint.Registry} ({realm.GetLeftPart(UriPartial.Path)}) answered with no token.");
        var expires = issued + lifetime - (lifetime > ExpiryMargin * 2 ? ExpiryMargin : TimeSpan.Zero);
        return (new AuthenticationHeaderValue("Bearer", token), expires);
    }

    private async Task<HttpResponseMessage> SendTokenRequestAsync(RegistryEndpoint endpoint, Func<HttpRequestMessage> create, CancellationToken cancellationToken)
    {
        var waited = TimeSpan.Zero;
        for (int attempt = 1; ; attempt++)
        {
            TimeSpan? delay;
            try
            {
                using var request = create();
                var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                delay = RetryPolicy.IsTransient(response.StatusCode) ? _retry.NextDelay(attempt, waited, RetryPolicy.RetryAfter(response)) : null;
                if (delay is null) return response;
                response.Dispose();
            }
            catch (Exception e) when (RegistryClient.IsConnectionError(e, cancellationToken))
            {
                delay = _retry.NextDelay(attempt, waited);
                if (delay is null) throw RegistryErrors.Unreachable(endpoint, "get an access token", e);
            }
            await Task.Delay(delay.Value, cancellationToken).ConfigureAwait(false);
            waited += delay.Value;
        }
    }

    /// <summary>
    /// Refuses a token realm on a link-local address (169.254.0.0/16, fe80::/10), by literal or by what its name
    /// resolves to: that is where clouds serve instance metadata and credentials, and a hostile registry naming it
    /// as its realm would have the build fetch them (and send our credentials there).
    /// </summary>
    private static async Task RefuseLinkLocalAsync(RegistryEndpoint endpoint, Uri realm, CancellationToken cancellationToken)
    {
        foreach (var address in await NetworkAddresses.ResolveAsync(realm.IdnHost, cancellationToken).ConfigureAwait(false))
            if (NetworkAddresses.IsLinkLocal(address))
                throw new LivrableException(DiagnosticCodes.TokenRealmRefused,
                    $"{endpoint.Registry} asked for a token from {realm.GetLeftPart(UriPartial.Authority)}, a link-local address ({address}) where clouds serve instance credentials; refusing.");
    }

    /// <summary>
    /// Whether the scope <paramref name="ours"/> grants everything <paramref name="theirs"/> asks
    /// (<c>type:name:actions</c>, the same resource and a superset of actions).
    /// </summary>
    internal static bool Covers(string ours, string theirs)
    {
        if (ours == theirs) return true;
        int a = ours.LastIndexOf(':'), b = theirs.LastIndexOf(':');
        if (a < 0 || b < 0 || ours[..a] != theirs[..b]) return false;
        var actions = ours[(a + 1)..].Split(',');
        return theirs[(b + 1)..].Split(',').All(actions.Contains);
    }

    private static AuthenticationHeaderValue Basic(RegistryCredential credential)
        => new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Password}")));

    private static void Append(StringBuilder query, string name, string value)
    {
        if (query.Length > 0) query.Append('&');
        query.Append(Uri.EscapeDataString(name)).Append('=').Append(Uri.EscapeDataString(value));
    }

    private static string? Str(JsonElement e, string name)
        => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
