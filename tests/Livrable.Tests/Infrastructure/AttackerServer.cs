using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace Livrable.Tests.Infrastructure;

/// <summary>
/// A hostile host on another loopback address (127.0.0.2: Linux routes all of 127.0.0.0/8 to the loopback interface),
/// which a registry (or something on its path) sends requests to with a redirect or an upload location. It records
/// every request with all its headers, and challenges as a thief would: with <see cref="Mode.Bearer"/>, a Bearer
/// challenge naming its own token service (<c>/token</c> here, which hands anyone <see cref="Token"/>); with
/// <see cref="Mode.Basic"/>, a Basic challenge; with <see cref="Mode.Forbidden"/>, a 403 whose body speaks of
/// permissions. Once given its own token it serves what <see cref="Serve"/> registered, takes uploads (PATCH 202, PUT
/// 201) and keeps their bodies. <see cref="AssertGotNoSecret"/> is the check every test ends with.
/// </summary>
public sealed class AttackerServer : IDisposable
{
    /// <summary>The token the attacker's own token service hands out (anonymously).</summary>
    public const string Token = "attacker-own-token";

    private readonly TcpListener _listener = new(IPAddress.Parse("127.0.0.2"), 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, (byte[] Bytes, string? ContentType)> _content = new(StringComparer.Ordinal);

    /// <summary>How the attacker answers a request without its own token.</summary>
    public enum Mode
    {
        /// <summary>401 with <c>WWW-Authenticate: Bearer realm="http://127.0.0.2:PORT/token",service="evil"</c>.</summary>
        Bearer,
        /// <summary>401 with <c>WWW-Authenticate: Basic realm="evil"</c>.</summary>
        Basic,
        /// <summary>403 with a distribution-spec error body (<c>DENIED</c>).</summary>
        Forbidden,
    }

    public AttackerServer(Mode mode = Mode.Bearer)
    {
        Challenge = mode;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(AcceptAsync);
    }

    public Mode Challenge { get; }

    public int Port { get; }

    /// <summary>Scheme, host and port: <c>http://127.0.0.2:PORT</c>.</summary>
    public string Origin => $"http://127.0.0.2:{Port}";

    /// <summary>The URL of <paramref name="path"/> here (it must start with /).</summary>
    public string Url(string path) => Origin + path;

    /// <summary>Every request: method, path, all headers, and the body's length.</summary>
    public ConcurrentQueue<(string Method, string Path, IReadOnlyDictionary<string, string> Headers, int BodyLength)> Received { get; } = new();

    /// <summary>Serves <paramref name="bytes"/> at <paramref name="path"/> to callers with <see cref="Token"/>.</summary>
    public void Serve(string path, byte[] bytes, string? contentType = null) => _content[path] = (bytes, contentType);

    /// <summary>
    /// Fails unless every request came without credentials or with the attacker's own token: no header holds one of
    /// <paramref name="secrets"/> (a password, a registry token) or their Basic form, and no <c>Authorization</c> is
    /// anything but <c>Bearer attacker-own-token</c>.
    /// </summary>
    public void AssertGotNoSecret(params string[] secrets)
    {
        foreach (var (method, path, headers, _) in Received)
        {
            string all = string.Join("\n", headers.Select(h => $"{h.Key}: {h.Value}"));
            if (headers.TryGetValue("Authorization", out var authorization))
                Assert.True(authorization == "Bearer " + Token, $"{method} {path} reached the attacker with Authorization: {authorization}");
            foreach (var secret in secrets.Where(s => s.Length > 0))
                Assert.False(all.Contains(secret, StringComparison.Ordinal) || path.Contains(secret, StringComparison.Ordinal),
                    $"{method} {path} reached the attacker with a secret:\n{all}");
        }
    }

    private Task AcceptAsync() => FaultProxy.AcceptLoopAsync(_listener, ServeAsync, _stop.Token);

    private async Task ServeAsync(TcpClient connection)
    {
        using (connection)
        {
            try
            {
                var stream = connection.GetStream();
                var (method, path, headers, body) = await FaultProxy.ReadRequestAsync(stream);
                Received.Enqueue((method, path, headers, body.Length));
                await AnswerAsync(stream, method, path, headers);
            }
            catch (Exception)
            {
                // The client went away.
            }
        }
    }

    private async Task AnswerAsync(NetworkStream stream, string method, string path, Dictionary<string, string> headers)
    {
        if (path.StartsWith("/token", StringComparison.Ordinal))
        {
            await WriteAsync(stream, 200, "OK", [("Content-Type", "application/json")],
                Encoding.UTF8.GetBytes($$"""{"token":"{{Token}}","access_token":"{{Token}}","expires_in":300}"""));
            return;
        }
        bool own = headers.TryGetValue("Authorization", out var authorization) && authorization == "Bearer " + Token;
        if (!own || Challenge != Mode.Bearer)
        {
            switch (Challenge)
            {
                case Mode.Forbidden:
                    await WriteAsync(stream, 403, "Forbidden", [("Content-Type", "application/json")],
                        Encoding.UTF8.GetBytes("""{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"""));
                    return;
                case Mode.Basic:
                    await WriteAsync(stream, 401, "Unauthorized", [("WWW-Authenticate", "Basic realm=\"evil\"")], []);
                    return;
                default:
                    await WriteAsync(stream, 401, "Unauthorized",
                        [("WWW-Authenticate", $"Bearer realm=\"{Origin}/token\",service=\"evil\",scope=\"repository:evil:pull\"")], []);
                    return;
            }
        }
        string plain = path.Split('?')[0];
        switch (method)
        {
            case "GET" or "HEAD" when _content.TryGetValue(plain, out var served):
                var answerHeaders = new List<(string, string)>();
                if (served.ContentType is { } type) answerHeaders.Add(("Content-Type", type));
                await WriteAsync(stream, 200, "OK", answerHeaders, method == "HEAD" ? [] : served.Bytes);
                return;
            case "PATCH":
                await WriteAsync(stream, 202, "Accepted", [("Location", path)], []);
                return;
            case "PUT":
                await WriteAsync(stream, 201, "Created", [], []);
                return;
            case "POST":
                await WriteAsync(stream, 202, "Accepted", [("Location", plain)], []);
                return;
            default:
                await WriteAsync(stream, 404, "Not Found", [], []);
                return;
        }
    }

    private static async Task WriteAsync(NetworkStream stream, int status, string reason, IEnumerable<(string Name, string Value)> headers, byte[] body)
    {
        var head = new StringBuilder($"HTTP/1.1 {status} {reason}\r\n");
        foreach (var (name, value) in headers) head.Append(name).Append(": ").Append(value).Append("\r\n");
        head.Append("Content-Length: ").Append(body.Length).Append("\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
        await stream.WriteAsync(body);
        await stream.FlushAsync();
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}
