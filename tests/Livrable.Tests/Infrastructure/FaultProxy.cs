using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Livrable.Tests.Infrastructure;

/// <summary>
/// A fault-injecting HTTP/1.1 proxy on 127.0.0.1 (a plain TCP listener, so a fault can break a connection before any
/// answer, which an HttpListener cannot) in front of a real registry, scripted per test: each rule names a method,
/// a part of the path and how many times it fires, and what to do instead of (or to) the registry's answer. Requests
/// no rule matches pass unchanged. The proxy sends the registry its own host as <c>Host</c>, so the upload locations
/// the registry writes point back through the proxy. Bodies are buffered (test blobs are small).
/// </summary>
public sealed class FaultProxy : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly HttpClient _upstream = new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
    private readonly string _upstreamRegistry;
    private readonly List<Rule> _rules = [];
    private readonly CancellationTokenSource _stop = new();
    private int _inFlight;
    private int _maxInFlight;

    /// <summary>A proxy in front of <paramref name="upstreamRegistry"/> (<c>127.0.0.1:PORT</c>).</summary>
    public FaultProxy(string upstreamRegistry)
    {
        _upstreamRegistry = upstreamRegistry;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(AcceptAsync);
    }

    public int Port { get; }

    /// <summary>The proxy as a reference names a registry: <c>127.0.0.1:PORT</c>.</summary>
    public string Registry => $"127.0.0.1:{Port}";

    /// <summary>Every request seen, as <c>METHOD path [Range]</c>, in order of arrival.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>The most requests matching a <see cref="CountInFlight"/> path part handled at once.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>A part of the path whose concurrent requests <see cref="MaxInFlight"/> counts.</summary>
    public string? CountInFlight { get; set; }

    /// <summary>
    /// Adds a rule: the next <paramref name="times"/> requests with <paramref name="method"/> whose path contains
    /// <paramref name="pathPart"/> (and, when given, whose header <paramref name="header"/> starts with
    /// <paramref name="headerPrefix"/>: a PATCH's <c>Content-Range</c>) get <paramref name="fault"/>.
    /// </summary>
    public FaultProxy On(string method, string pathPart, Fault fault, int times = 1, string? header = null, string? headerPrefix = null)
    {
        lock (_rules) _rules.Add(new Rule(method, pathPart, fault, times, header, headerPrefix));
        return this;
    }

    private Fault? Take(string method, string path, Dictionary<string, string> headers)
    {
        lock (_rules)
        {
            foreach (var rule in _rules)
            {
                if (rule.Header is { } h && !(headers.GetValueOrDefault(h) ?? "").StartsWith(rule.HeaderPrefix ?? "", StringComparison.Ordinal)) continue;
                if (rule.Left > 0 && rule.Method == method && path.Contains(rule.PathPart, StringComparison.Ordinal))
                {
                    rule.Left--;
                    return rule.Fault;
                }
            }
        }
        return null;
    }

    private Task AcceptAsync() => AcceptLoopAsync(_listener, ServeAsync, _stop.Token);

    /// <summary>Accepts connections until <paramref name="stop"/>, each served on its own task (the proxy's and the attacker's loop).</summary>
    internal static async Task AcceptLoopAsync(TcpListener listener, Func<TcpClient, Task> serve, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient connection;
            try
            {
                connection = await listener.AcceptTcpClientAsync(stop);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            _ = Task.Run(() => serve(connection));
        }
    }

    /// <summary>One request per connection (the answer says <c>Connection: close</c>), so a fault breaks only its own.</summary>
    private async Task ServeAsync(TcpClient connection)
    {
        using (connection)
        {
            try
            {
                var stream = connection.GetStream();
                var (method, path, headers, body) = await ReadRequestAsync(stream);
                await HandleAsync(stream, method, path, headers, body);
            }
            catch (Exception)
            {
                // The client went away, or a fault broke the connection on purpose.
            }
        }
    }

    /// <summary>Reads one HTTP/1.1 request (head, and a body with a Content-Length); shared with <see cref="AttackerServer"/>.</summary>
    internal static async Task<(string Method, string Path, Dictionary<string, string> Headers, byte[] Body)> ReadRequestAsync(NetworkStream stream)
    {
        var head = new MemoryStream();
        int matched = 0;
        var one = new byte[1];
        // Byte by byte up to the blank line, so nothing of the body is read ahead.
        while (matched < 4)
        {
            if (await stream.ReadAsync(one) == 0) throw new IOException("closed");
            head.WriteByte(one[0]);
            matched = one[0] == (matched % 2 == 0 ? '\r' : '\n') ? matched + 1 : one[0] == '\r' ? 1 : 0;
        }
        var lines = Encoding.ASCII.GetString(head.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var start = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        var body = Array.Empty<byte>();
        if (headers.TryGetValue("Content-Length", out var lengthText) && int.Parse(lengthText, System.Globalization.CultureInfo.InvariantCulture) is > 0 and var length)
        {
            body = new byte[length];
            await stream.ReadExactlyAsync(body);
        }
        else if (headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            throw new NotSupportedException("The fault proxy reads only bodies with a Content-Length.");
        }
        return (start[0], start[1], headers, body);
    }

    private async Task HandleAsync(NetworkStream stream, string method, string path, Dictionary<string, string> headers, byte[] body)
    {
        Requests.Enqueue($"{method} {path}{(headers.TryGetValue("Range", out var range) ? " " + range : "")}");
        bool counted = CountInFlight is { } part && path.Contains(part, StringComparison.Ordinal);
        if (counted)
        {
            int now = Interlocked.Increment(ref _inFlight);
            for (int max; now > (max = Volatile.Read(ref _maxInFlight));)
                if (Interlocked.CompareExchange(ref _maxInFlight, now, max) == max) break;
        }
        try
        {
            var fault = Take(method, path, headers);
            switch (fault)
            {
                case Fault.Status s:
                    await WriteAsync(stream, s.Code, "Fault", s.RetryAfterSeconds is { } seconds ? [("Retry-After", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture))] : [], []);
                    return;
                case Fault.DropRequest:
                    // The registry never sees it: the connection breaks after the client sent its body, with no answer.
                    stream.Socket.LingerState = new LingerOption(true, 0);
                    return;
                case Fault.Redirect r:
                    await WriteAsync(stream, 307, "Temporary Redirect", [("Location", r.Location)], []);
                    return;
                case Fault.Hang:
                    // Accepted, never answered: the connection stays open, silent, until the client gives up.
                    await WaitForCloseAsync(stream);
                    return;
            }

            using var forward = new HttpRequestMessage(new HttpMethod(method), $"http://{_upstreamRegistry}{path}");
            if (body.Length > 0 || method is "PUT" or "PATCH" or "POST")
                forward.Content = new ByteArrayContent(body);
            foreach (var (name, value) in headers)
            {
                if (name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Connection", StringComparison.OrdinalIgnoreCase)
                    || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Expect", StringComparison.OrdinalIgnoreCase))
                    continue;
                if (!forward.Headers.TryAddWithoutValidation(name, value)) forward.Content?.Headers.TryAddWithoutValidation(name, value);
            }
            forward.Headers.Host = Registry;
            using var answer = await _upstream.SendAsync(forward, HttpCompletionOption.ResponseContentRead);
            byte[] bytes = await answer.Content.ReadAsByteArrayAsync();
            var answerHeaders = answer.Headers.Concat(answer.Content.Headers)
                .Where(h => !h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) && !h.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)
                    && !h.Key.Equals("Connection", StringComparison.OrdinalIgnoreCase))
                .Select(h => (h.Key, string.Join(", ", h.Value))).ToList();
            int status = (int)answer.StatusCode;
            if (fault is Fault.Rewrite rewrite)
            {
                if (rewrite.NewStatus is { } replaced) status = replaced;
                if (rewrite.RelativeLocation)
                    answerHeaders = answerHeaders.Select(h => h.Item1.Equals("Location", StringComparison.OrdinalIgnoreCase) && Uri.TryCreate(h.Item2, UriKind.Absolute, out var absolute)
                        ? (h.Item1, absolute.PathAndQuery) : h).ToList();
                if (rewrite.LocationBase is { } moved)
                    answerHeaders = answerHeaders.Select(h => h.Item1.Equals("Location", StringComparison.OrdinalIgnoreCase)
                        ? (h.Item1, moved.TrimEnd('/') + (Uri.TryCreate(h.Item2, UriKind.Absolute, out var absolute) ? absolute.PathAndQuery : h.Item2)) : h).ToList();
            }
            if (method == "HEAD")
            {
                if (answer.Content.Headers.ContentLength is { } length) answerHeaders.Add(("Content-Length", length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                await WriteAsync(stream, status, answer.ReasonPhrase, answerHeaders, [], withLength: false);
                return;
            }
            if (fault is Fault.CorruptByte c && bytes.Length > 0) bytes[Math.Min(c.Offset, bytes.Length - 1)] ^= 0xFF;
            switch (fault)
            {
                case Fault.DropMidBody d:
                    await WriteAsync(stream, status, answer.ReasonPhrase, answerHeaders, bytes, cutAfter: d.After);
                    stream.Socket.LingerState = new LingerOption(true, 0);
                    return;
                case Fault.StallMidBody stall:
                    await WriteAsync(stream, status, answer.ReasonPhrase, answerHeaders, bytes, cutAfter: stall.After);
                    await WaitForCloseAsync(stream);
                    return;
                case Fault.Slow slow:
                    // The client may start its next request as soon as it has the last byte: stop counting this one before.
                    await WriteAsync(stream, status, answer.ReasonPhrase, answerHeaders, bytes, slow: slow, beforeLast: () =>
                    {
                        if (counted)
                        {
                            counted = false;
                            Interlocked.Decrement(ref _inFlight);
                        }
                    });
                    return;
                default:
                    await WriteAsync(stream, status, status == (int)answer.StatusCode ? answer.ReasonPhrase : "Rewritten", answerHeaders, bytes);
                    return;
            }
        }
        finally
        {
            if (counted) Interlocked.Decrement(ref _inFlight);
        }
    }

    private static async Task WriteAsync(NetworkStream stream, int status, string? reason, IEnumerable<(string Name, string Value)> headers, byte[] body,
        bool withLength = true, long cutAfter = long.MaxValue, Fault.Slow? slow = null, Action? beforeLast = null)
    {
        var head = new StringBuilder($"HTTP/1.1 {status} {reason ?? "Status"}\r\n");
        foreach (var (name, value) in headers) head.Append(name).Append(": ").Append(value).Append("\r\n");
        if (withLength) head.Append("Content-Length: ").Append(body.Length).Append("\r\n");
        head.Append("Connection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
        int end = (int)Math.Min(body.Length, cutAfter);
        int step = slow?.ChunkBytes ?? Math.Max(end, 1);
        for (int offset = 0; offset < end; offset += step)
        {
            bool last = offset + step >= end;
            if (last) beforeLast?.Invoke();
            await stream.WriteAsync(body.AsMemory(offset, Math.Min(step, end - offset)));
            await stream.FlushAsync();
            if (slow is not null && !last) await Task.Delay(slow.Delay);
        }
    }

    /// <summary>Waits, sending nothing, until the client closes the connection or the proxy stops.</summary>
    private async Task WaitForCloseAsync(NetworkStream stream)
    {
        var buffer = new byte[1024];
        try
        {
            while (await stream.ReadAsync(buffer, _stop.Token) > 0)
            {
            }
        }
        catch (Exception)
        {
            // Closed by the client, or the proxy stopping.
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _upstream.Dispose();
        _stop.Dispose();
    }

    private sealed class Rule(string method, string pathPart, Fault fault, int left, string? header, string? headerPrefix)
    {
        public string? Header { get; } = header;
        public string? HeaderPrefix { get; } = headerPrefix;
        public string Method { get; } = method;
        public string PathPart { get; } = pathPart;
        public Fault Fault { get; } = fault;
        public int Left { get; set; } = left;
    }
}

/// <summary>What a <see cref="FaultProxy"/> rule does to a request.</summary>
public abstract record Fault
{
    /// <summary>Answers <paramref name="Code"/> itself (500, 429 with <c>Retry-After</c>...), the registry unasked.</summary>
    public sealed record Status(int Code, int? RetryAfterSeconds = null) : Fault;

    /// <summary>Reads the request, then breaks the connection without answering; the registry never sees it.</summary>
    public sealed record DropRequest : Fault;

    /// <summary>Passes the request, sends the first <paramref name="After"/> bytes of the answer's body, then breaks the connection.</summary>
    public sealed record DropMidBody(long After) : Fault;

    /// <summary>Passes the request and flips one byte of the answer's body at <paramref name="Offset"/>.</summary>
    public sealed record CorruptByte(int Offset) : Fault;

    /// <summary>Answers 307 to <paramref name="Location"/> (a <see cref="RecordingServer"/> on another loopback host).</summary>
    public sealed record Redirect(string Location) : Fault;

    /// <summary>
    /// Passes the request and changes the answer as registries other than Distribution write it: another status
    /// (201 to a PATCH), a <c>Location</c> made relative (path and query only).
    /// </summary>
    /// <remarks><paramref name="LocationBase"/> moves the <c>Location</c> to another host (<c>http://127.0.0.2:PORT</c>), path and query kept.</remarks>
    public sealed record Rewrite(int? NewStatus = null, bool RelativeLocation = false, string? LocationBase = null) : Fault;

    /// <summary>Reads the request and never answers, keeping the connection open until the client closes it.</summary>
    public sealed record Hang : Fault;

    /// <summary>Passes the request, sends the head and the first <paramref name="After"/> bytes of the body, then nothing more.</summary>
    public sealed record StallMidBody(long After) : Fault;

    /// <summary>Passes the request and sends the answer's body <paramref name="ChunkBytes"/> at a time, <paramref name="Delay"/> apart.</summary>
    public sealed record Slow(int ChunkBytes, TimeSpan Delay) : Fault;
}

/// <summary>
/// An HTTP server on <c>localhost</c> (another host than the registry's 127.0.0.1, as a storage bucket is) that
/// serves given bytes by path and records the headers of every request it gets.
/// </summary>
public sealed class RecordingServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentDictionary<string, byte[]> _content = new(StringComparer.Ordinal);

    public RecordingServer()
    {
        Port = RegistryFixture.FreePort();
        _listener.Prefixes.Add($"http://localhost:{Port}/");
        _listener.Start();
        _ = Task.Run(AcceptAsync);
    }

    public int Port { get; }

    /// <summary>The URL of <paramref name="path"/> on this server (which must start with /).</summary>
    public string Url(string path) => $"http://localhost:{Port}{path}";

    /// <summary>The headers of every request, in order (name: value).</summary>
    public ConcurrentQueue<IReadOnlyDictionary<string, string>> Received { get; } = new();

    /// <summary>Serves <paramref name="bytes"/> at <paramref name="path"/>.</summary>
    public void Serve(string path, byte[] bytes) => _content[path] = bytes;

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
            var headers = context.Request.Headers.AllKeys.Where(k => k is not null)
                .ToDictionary(k => k!, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase);
            Received.Enqueue(headers);
            try
            {
                if (_content.TryGetValue(context.Request.Url!.AbsolutePath, out var bytes))
                {
                    context.Response.StatusCode = 200;
                    context.Response.ContentLength64 = bytes.Length;
                    await context.Response.OutputStream.WriteAsync(bytes);
                }
                else
                {
                    context.Response.StatusCode = 404;
                }
                context.Response.Close();
            }
            catch (Exception)
            {
                context.Response.Abort();
            }
        }
    }

    public void Dispose() => _listener.Close();
}
