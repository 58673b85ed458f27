using System.Net;
using System.Text.Json;
using Livrable.Diagnostics;

namespace Livrable.Registry;

/// <summary>
/// Turns a registry's refusal into a <see cref="LivrableException"/> that names the action, the registry, the
/// repository, the HTTP status and the registry's own words: the <c>errors[].message</c> of its error body
/// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes).
/// </summary>
internal static class RegistryErrors
{
    private const int MaxErrorBody = 64 * 1024;

    /// <summary>How to give credentials; part of every LIV3002 message.</summary>
    public const string HowToLogin =
        "Give credentials with 'docker login {0}' (or a credential helper in ~/.docker/config.json), or set the LIVRABLE_REGISTRY_USER and LIVRABLE_REGISTRY_PASSWORD environment variables.";

    /// <summary>
    /// The exception for an unexpected <paramref name="response"/> to <paramref name="action"/>; a 404 becomes
    /// <paramref name="notFoundCode"/> (LIV3004 for a manifest, LIV3006 for a blob the manifest promised). A 401 names
    /// <paramref name="credential"/> when one was sent (never its secret), else says how to give one.
    /// </summary>
    public static async Task<LivrableException> FromResponseAsync(HttpResponseMessage response, RegistryEndpoint endpoint, string repository,
        string action, string notFoundCode, Credentials.RegistryCredential? credential, CancellationToken cancellationToken)
    {
        string details = await ReadErrorsAsync(response, cancellationToken).ConfigureAwait(false);
        string where = $"{endpoint.Registry}/{repository}";
        int status = (int)response.StatusCode;
        string suffix = details.Length > 0 ? $": {details}" : ".";
        // Another host (storage the registry redirected to, an upload location) speaks for itself, not for the
        // registry: its 401 or 403 says nothing of our credentials, which it never got.
        if (response.RequestMessage?.RequestUri is { } answeredBy && !endpoint.IsOrigin(answeredBy))
        {
            string other = answeredBy.GetLeftPart(UriPartial.Authority);
            return new LivrableException(response.StatusCode == HttpStatusCode.NotFound ? notFoundCode : DiagnosticCodes.RegistryProtocol,
                $"{where}: could not {action}: {other}, where the registry sent the request, answered {status} {response.ReasonPhrase}{suffix}");
        }
        return response.StatusCode switch
        {
            HttpStatusCode.Unauthorized when credential is not null => new LivrableException(DiagnosticCodes.Unauthorized,
                $"{where} refused the {credential} to {action} (401 Unauthorized){suffix} Check them, or log in again with 'docker login {endpoint.Registry}'."),
            HttpStatusCode.Unauthorized => new LivrableException(DiagnosticCodes.Unauthorized,
                $"{where} refused to let us {action} (401 Unauthorized){suffix} {string.Format(HowToLogin, endpoint.Registry)}"),
            HttpStatusCode.Forbidden => new LivrableException(DiagnosticCodes.Forbidden,
                $"{where} refused to let us {action} (403 Forbidden){suffix} The credentials are known but lack the right; check the account's permissions on this repository."),
            HttpStatusCode.NotFound => new LivrableException(notFoundCode,
                $"{where}: could not {action}: not found (404){suffix}"),
            _ => new LivrableException(DiagnosticCodes.RegistryProtocol,
                $"{where}: could not {action}: the registry answered {status} {response.ReasonPhrase}{suffix}"),
        };
    }

    /// <summary>
    /// The exception for a registry that cannot be reached at all, or (LIV3012) that went silent on every try for the
    /// idle timeout (<see cref="IdleTimeoutHandler"/>).
    /// </summary>
    public static LivrableException Unreachable(RegistryEndpoint endpoint, string action, Exception e)
        => RegistryClient.Inner<IdleTimeoutException>(e) is { } silent
            ? TimedOut(endpoint, null, action, silent)
            : new(DiagnosticCodes.RegistryUnreachable,
            $"Could not reach {endpoint.Registry} ({endpoint.BaseUri}) to {action}: {Describe(e)}" +
            (endpoint.IsInsecure ? "" : " If this registry speaks only plain http, list it in ContainerInsecureRegistries."), inner: e);

    /// <summary>
    /// LIV3010: <paramref name="host"/>, where the registry sent a request, asked for credentials in a way that cannot be
    /// answered (<paramref name="why"/>, following "which"); the registry's are never sent there.
    /// </summary>
    public static LivrableException ForeignChallenge(RegistryEndpoint endpoint, string action, Uri host, string why, Exception? inner = null)
        => new(DiagnosticCodes.ForeignChallenge,
            $"{endpoint.Registry} sent the request to {action} to {host.GetLeftPart(UriPartial.Authority)}, which {why}; the credentials of {endpoint.Registry} are never sent to another host.",
            inner: inner);

    /// <summary>LIV3012: <paramref name="silent"/>'s host sent nothing for the idle timeout, on the last try as on the others.</summary>
    public static LivrableException TimedOut(RegistryEndpoint endpoint, string? repository, string action, IdleTimeoutException silent)
        => new(DiagnosticCodes.RegistryTimeout,
            $"{silent.Host} sent nothing for {silent.Timeout.TotalSeconds:0.###} s while we tried to {action} on {endpoint.Registry}{(repository is null ? "" : "/" + repository)}, on every try. " +
            "If the registry is only slow, give it longer with ContainerRegistryTimeout (such as 5m).", inner: silent);

    /// <summary>The messages of an error body, joined; the raw text (shortened) when it is not the spec's JSON.</summary>
    internal static async Task<string> ReadErrorsAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        byte[] body;
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            body = await ReadAtMostAsync(stream, MaxErrorBody, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return "";
        }
        if (body.Length == 0) return "";
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
            {
                var messages = errors.EnumerateArray()
                    .Select(e => (Code: Str(e, "code"), Message: Str(e, "message")))
                    .Where(e => e.Code is not null || e.Message is not null)
                    .Select(e => e.Code is null ? e.Message! : e.Message is null ? e.Code : $"{e.Message} ({e.Code})")
                    .ToList();
                if (messages.Count > 0) return string.Join("; ", messages);
            }
        }
        catch (JsonException)
        {
        }
        string text = System.Text.Encoding.UTF8.GetString(body).Trim();
        return text.Length > 300 ? text[..300] + "..." : text;
    }

    internal static async Task<byte[]> ReadAtMostAsync(Stream stream, int max, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int n;
        while (buffer.Length < max && (n = await stream.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, max - buffer.Length)), cancellationToken).ConfigureAwait(false)) > 0)
            buffer.Write(chunk, 0, n);
        return buffer.ToArray();
    }

    private static string? Str(JsonElement e, string name)
        => e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string Describe(Exception e)
    {
        var parts = new List<string>();
        for (var x = e; x is not null; x = x.InnerException)
            if (!parts.Contains(x.Message)) parts.Add(x.Message);
        return string.Join(" ", parts);
    }
}
