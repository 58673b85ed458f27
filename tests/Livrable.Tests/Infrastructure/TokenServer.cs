using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Livrable.Tests.Infrastructure;

/// <summary>
/// A token service of the Docker token flow (https://distribution.github.io/distribution/spec/auth/token/) on
/// 127.0.0.1, for a real <c>docker-registry</c> configured with <c>auth: token</c>: it signs JWTs (RS256, its
/// self-signed certificate in the <c>x5c</c> header, the same certificate the registry trusts) granting what the
/// caller may have. With the right Basic credentials (GET) or refresh token (OAuth2 POST) every action asked is granted;
/// anonymous callers get <c>pull</c> only. Every request is recorded (method, scopes, whether it was authenticated).
/// </summary>
public sealed class TokenServer : IDisposable
{
    /// <summary>The service name the registry and the tokens agree on.</summary>
    public const string Service = "livrable-registry";

    /// <summary>The issuer the registry trusts.</summary>
    public const string Issuer = "livrable-token-issuer";

    private readonly HttpListener _listener = new();
    private readonly RSA _key = RSA.Create(2048);
    private readonly X509Certificate2 _certificate;

    /// <summary>A token server for <paramref name="user"/>/<paramref name="password"/> and the OAuth2 <paramref name="refreshToken"/>.</summary>
    public TokenServer(string user, string password, string refreshToken)
    {
        User = user;
        Password = password;
        RefreshToken = refreshToken;
        var request = new CertificateRequest("CN=livrable-token-issuer", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        Port = RegistryFixture.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _ = Task.Run(AcceptAsync);
    }

    public string User { get; }
    public string Password { get; }
    public string RefreshToken { get; }
    public int Port { get; }

    /// <summary>The realm the registry names in its challenges.</summary>
    public string Realm => $"http://127.0.0.1:{Port}/token";

    /// <summary>The certificate, PEM, for the registry's <c>rootcertbundle</c>.</summary>
    public string CertificatePem => _certificate.ExportCertificatePem();

    /// <summary>Token lifetime in seconds, as <c>expires_in</c>.</summary>
    public int ExpiresIn { get; set; } = 300;

    /// <summary>Whether the OAuth2 POST is served; when false it answers 404, as registries without it do.</summary>
    public bool OAuthPost { get; set; } = true;

    /// <summary>When set, every token GET is answered <c>307</c> to this URL (its query kept): a realm that redirects.</summary>
    public string? RedirectTo { get; set; }

    /// <summary>Every token request: method, scopes asked, who (the user, "refresh-token", or null for anonymous).</summary>
    public ConcurrentQueue<(string Method, IReadOnlyList<string> Scopes, string? Who)> Requests { get; } = new();

    private async Task AcceptAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (!_listener.IsListening)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            try
            {
                await AnswerAsync(context);
            }
            catch (Exception)
            {
                context.Response.Abort();
            }
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        if (RedirectTo is { } elsewhere && request.HttpMethod == "GET")
        {
            Requests.Enqueue(("GET", [], null));
            response.StatusCode = 307;
            response.RedirectLocation = elsewhere + request.Url!.Query;
            response.Close();
            return;
        }
        List<string> scopes;
        string? who = null;
        bool refused = false;
        if (request.HttpMethod == "POST")
        {
            if (!OAuthPost)
            {
                Requests.Enqueue(("POST", [], null));
                response.StatusCode = 404;
                response.Close();
                return;
            }
            using var reader = new StreamReader(request.InputStream);
            var form = System.Web.HttpUtility.ParseQueryString(await reader.ReadToEndAsync());
            scopes = (form["scope"] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
            if (form["grant_type"] == "refresh_token" && form["refresh_token"] == RefreshToken) who = "refresh-token";
            else if (form["grant_type"] == "password" && form["username"] == User && form["password"] == Password) who = User;
            else refused = true;
        }
        else
        {
            scopes = request.QueryString.GetValues("scope")?.SelectMany(s => s.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList() ?? [];
            if (request.Headers["Authorization"] is { } authorization)
            {
                string? decoded = authorization.StartsWith("Basic ", StringComparison.Ordinal)
                    ? Encoding.UTF8.GetString(Convert.FromBase64String(authorization[6..])) : null;
                if (decoded == $"{User}:{Password}") who = User;
                else refused = true;
            }
        }
        Requests.Enqueue((request.HttpMethod, scopes, who));
        if (refused)
        {
            response.StatusCode = 401;
            byte[] error = Encoding.UTF8.GetBytes("""{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}""");
            response.ContentType = "application/json";
            response.ContentLength64 = error.Length;
            await response.OutputStream.WriteAsync(error);
            response.Close();
            return;
        }
        string token = Sign(scopes, who);
        byte[] body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["token"] = token,
            ["access_token"] = token,
            ["expires_in"] = ExpiresIn,
            ["issued_at"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
        });
        response.StatusCode = 200;
        response.ContentType = "application/json";
        response.ContentLength64 = body.Length;
        await response.OutputStream.WriteAsync(body);
        response.Close();
    }

    /// <summary>A JWT granting <paramref name="scopes"/> (all their actions to a known caller, pull only to anonymous ones).</summary>
    private string Sign(IReadOnlyList<string> scopes, string? who)
    {
        var access = scopes.Select(scope =>
        {
            // repository:name:actions, where a name may hold a port's colon: the actions follow the last colon.
            int last = scope.LastIndexOf(':');
            int first = scope.IndexOf(':', StringComparison.Ordinal);
            var actions = scope[(last + 1)..].Split(',').Where(a => who is not null || a == "pull").ToArray();
            return new Dictionary<string, object> { ["type"] = scope[..first], ["name"] = scope[(first + 1)..last], ["actions"] = actions };
        }).ToList();
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new Dictionary<string, object>
        {
            ["typ"] = "JWT",
            ["alg"] = "RS256",
            ["x5c"] = new[] { Convert.ToBase64String(_certificate.RawData) },
        };
        var claims = new Dictionary<string, object>
        {
            ["iss"] = Issuer,
            ["sub"] = who ?? "",
            ["aud"] = Service,
            ["exp"] = now + ExpiresIn,
            ["nbf"] = now - 60,
            ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"),
            ["access"] = access,
        };
        string signingInput = Base64Url(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims));
        byte[] signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + Base64Url(signature);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose()
    {
        _listener.Close();
        _certificate.Dispose();
        _key.Dispose();
    }
}

/// <summary>
/// The registry behind a <see cref="TokenServer"/> (Bearer token flow): user <c>livrable</c>, password
/// <c>t0ken-canary-pass</c>, refresh token <c>refresh-canary-token</c>.
/// </summary>
public sealed class TokenRegistryFixture : RegistryFixture
{
    /// <summary>The token service the registry sends clients to.</summary>
    public TokenServer Tokens { get; } = new("livrable", "t0ken-canary-pass", "refresh-canary-token");

    protected override async Task<string> AuthConfigAsync()
    {
        string bundle = Path.Combine(Root, "token.crt");
        await File.WriteAllTextAsync(bundle, Tokens.CertificatePem);
        return $"auth:\n  token:\n    realm: {Tokens.Realm}\n    service: {TokenServer.Service}\n    issuer: {TokenServer.Issuer}\n    rootcertbundle: {bundle}\n";
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Tokens.Dispose();
    }
}
