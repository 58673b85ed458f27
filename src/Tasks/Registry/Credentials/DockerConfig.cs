using System.Text;
using System.Text.Json;
using Livrable.Diagnostics;

namespace Livrable.Registry.Credentials;

/// <summary>
/// The credential parts of the Docker CLI's <c>config.json</c>
/// (https://docs.docker.com/reference/cli/docker/#credential-store-options): <c>credHelpers</c> (a helper per
/// registry), <c>credsStore</c> (the helper for every other registry) and <c>auths</c> (inline base64
/// <c>user:password</c>, or <c>username</c>/<c>password</c>, or an <c>identitytoken</c>). Keys are written many ways
/// (<c>ghcr.io</c>, <c>https://ghcr.io</c>, <c>https://index.docker.io/v1/</c>); they are compared by host.
/// </summary>
public sealed class DockerConfig
{
    private readonly Dictionary<string, (string Key, string Helper)> _helpers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Key, JsonElement Entry)> _auths = new(StringComparer.Ordinal);

    private DockerConfig(string path) => Path = path;

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>The default helper (<c>credsStore</c>), such as <c>desktop</c> or <c>pass</c>; null when none.</summary>
    public string? CredentialsStore { get; private set; }

    /// <summary>
    /// Reads <paramref name="path"/>; null when the file does not exist. A file that is not JSON is LIV3007: the user
    /// must fix it, and guessing would mean pushing anonymously.
    /// </summary>
    public static DockerConfig? Load(string path)
    {
        if (!File.Exists(path)) return null;
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses config bytes; <paramref name="path"/> names the file in errors.</summary>
    public static DockerConfig Parse(byte[] bytes, string path)
    {
        var config = new DockerConfig(path);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new LivrableException(DiagnosticCodes.CredentialHelper, $"The Docker config '{path}' is not valid JSON: {e.Message}");
        }
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return config;
        if (root.TryGetProperty("credsStore", out var store) && store.ValueKind == JsonValueKind.String && store.GetString() is { Length: > 0 } s)
            config.CredentialsStore = s;
        if (root.TryGetProperty("credHelpers", out var helpers) && helpers.ValueKind == JsonValueKind.Object)
            foreach (var p in helpers.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.String && p.Value.GetString() is { Length: > 0 } h)
                    config._helpers[HostOfKey(p.Name)] = (p.Name, h);
        if (root.TryGetProperty("auths", out var auths) && auths.ValueKind == JsonValueKind.Object)
            foreach (var p in auths.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Object)
                    config._auths[HostOfKey(p.Name)] = (p.Name, p.Value.Clone());
        return config;
    }

    /// <summary>The helper named in <c>credHelpers</c> for <paramref name="registry"/>, and the key it was listed under.</summary>
    public (string Helper, string ServerUrl)? HelperFor(string registry)
        => _helpers.TryGetValue(registry, out var h) ? (h.Helper, h.Key) : null;

    /// <summary>The inline credential of <c>auths</c> for <paramref name="registry"/>, or null when none is usable.</summary>
    /// <exception cref="LivrableException">LIV3007 when the <c>auth</c> field is not base64 of <c>user:password</c>.</exception>
    public RegistryCredential? AuthFor(string registry)
    {
        if (!_auths.TryGetValue(registry, out var found)) return null;
        var e = found.Entry;
        string source = $"'auths' of {Path}";
        if (Str(e, "identitytoken") is { Length: > 0 } identity)
            return RegistryCredential.FromIdentityToken(identity, Str(e, "username")) with { Source = source };
        if (Str(e, "auth") is { Length: > 0 } auth)
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth));
            }
            catch (FormatException)
            {
                throw new LivrableException(DiagnosticCodes.CredentialHelper, $"The 'auth' of '{found.Key}' in {Path} is not base64.");
            }
            int colon = decoded.IndexOf(':');
            if (colon <= 0)
                throw new LivrableException(DiagnosticCodes.CredentialHelper, $"The 'auth' of '{found.Key}' in {Path} is not base64 of user:password.");
            return RegistryCredential.FromPassword(decoded[..colon], decoded[(colon + 1)..]) with { Source = source };
        }
        if (Str(e, "username") is { Length: > 0 } user && Str(e, "password") is { } password)
            return RegistryCredential.FromPassword(user, password) with { Source = source };
        return null;
    }

    /// <summary>
    /// The registry a config key names: the host of a URL, lowercase, with Docker Hub's many names made <c>docker.io</c>.
    /// </summary>
    internal static string HostOfKey(string key)
    {
        string k = key.Trim();
        int scheme = k.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) k = k[(scheme + 3)..];
        int slash = k.IndexOf('/');
        if (slash >= 0) k = k[..slash];
        k = k.ToLowerInvariant();
        return k is "index.docker.io" or "registry-1.docker.io" or "registry.hub.docker.com" ? RegistryEndpoint.DockerHub : k;
    }

    private static string? Str(JsonElement e, string name)
    {
        foreach (var p in e.EnumerateObject())
            if (p.Name.Equals(name, StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.String)
                return p.Value.GetString();
        return null;
    }
}
