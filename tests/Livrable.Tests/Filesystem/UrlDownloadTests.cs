using System.Net;
using System.Net.Sockets;
using System.Text;
using Livrable.Diagnostics;
using Livrable.Filesystem;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Filesystem;

/// <summary>Downloads from a small HttpListener on 127.0.0.1 that this test class starts and stops.</summary>
public sealed class UrlDownloadTests : IDisposable
{
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("the downloaded bytes\n");
    private static readonly DateTimeOffset LastModified = new(2019, 5, 6, 7, 8, 9, TimeSpan.Zero);

    private readonly HttpListener _listener;
    private readonly Task _serving;
    private readonly TempDirectory _temp = new();
    private readonly HttpClient _client = new(new HttpClientHandler { AllowAutoRedirect = false });
    private readonly Uri _base;

    public UrlDownloadTests()
    {
        // A free port found by a probe can be taken by another process before the listener binds it (tests of other
        // classes run at the same time): then another port.
        for (int attempt = 1; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            _base = new Uri($"http://127.0.0.1:{port}/");
            _listener = new HttpListener();
            _listener.Prefixes.Add(_base.ToString());
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                _listener.Close();
            }
        }
        _serving = Task.Run(ServeAsync);
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            var response = context.Response;
            string path = context.Request.Url!.AbsolutePath;
            if (path.StartsWith("/redirect/", StringComparison.Ordinal))
            {
                int hops = int.Parse(path["/redirect/".Length..]);
                response.StatusCode = 302;
                response.RedirectLocation = hops == 0 ? "/files/app.tar.gz" : $"/redirect/{hops - 1}";
            }
            else if (path.StartsWith("/elsewhere/", StringComparison.Ordinal))
            {
                // Issue 10: a redirect to the URL the query names (the cloud metadata service, a hostile host).
                response.StatusCode = 302;
                response.RedirectLocation = Uri.UnescapeDataString(context.Request.Url!.Query.TrimStart('?'));
            }
            else if (path == "/missing")
            {
                response.StatusCode = 404;
            }
            else
            {
                response.StatusCode = 200;
                response.Headers["Last-Modified"] = LastModified.ToString("R");
                response.Headers["Content-Disposition"] = "attachment; filename=\"other-name.bin\"";
                response.ContentLength64 = Body.Length;
                await response.OutputStream.WriteAsync(Body);
            }
            response.Close();
        }
    }

    public void Dispose()
    {
        // Close only: after a Stop, .NET's managed HttpListener binds the port again inside Close to remove its prefix,
        // which fails (HttpListenerException: Address already in use) when another process took the port meanwhile.
        _listener.Close();
        _serving.Wait(TimeSpan.FromSeconds(10));
        _client.Dispose();
        _temp.Dispose();
    }

    private Task<FileEntry> DownloadAsync(string relative, string destination = "/dl/file", Digest? checksum = null)
        => UrlDownload.DownloadAsync(_client, new Uri(_base, relative), destination, checksum, _temp["tmp"], CancellationToken.None);

    [Fact]
    public async Task A_download_is_a_0600_root_file_with_the_servers_time()
    {
        var entry = await DownloadAsync("files/app.tar.gz");
        Assert.Equal(("/dl/file", TarTypeFlag.RegularFile, 0x180, 0L, 0L), (entry.Path, entry.Type, entry.Mode, entry.Uid, entry.Gid));
        Assert.Equal(Body.Length, entry.Size);
        Assert.Equal(LastModified, entry.ModificationTime);
        Assert.Equal(Encoding.UTF8.GetString(Body), await FsTestSupport.ReadAsync(entry));
        // Never extracted, even though the name says tar.gz.
        Assert.Single(Directory.GetFiles(_temp["tmp"]));
    }

    [Fact]
    public async Task The_checksum_is_verified()
    {
        var good = Digest.Sha256(Body);
        Assert.Equal(Body.Length, (await DownloadAsync("files/a", checksum: good)).Size);
        var sha512 = Digest.Parse("sha512:" + Convert.ToHexString(System.Security.Cryptography.SHA512.HashData(Body)).ToLowerInvariant());
        Assert.Equal(Body.Length, (await DownloadAsync("files/a", checksum: sha512)).Size);

        var bad = Digest.Sha256("other"u8);
        var e = await Assert.ThrowsAsync<LivrableException>(() => DownloadAsync("files/a", checksum: bad));
        Assert.Equal(DiagnosticCodes.ChecksumMismatch, e.Code);
        Assert.Contains(good.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Equal(2, Directory.GetFiles(_temp["tmp"]).Length);
    }

    [Fact]
    public async Task Redirects_are_followed_up_to_ten()
    {
        Assert.Equal(Body.Length, (await DownloadAsync("redirect/9", "/dl/")).Size);
        Assert.Equal("/dl/9", (await DownloadAsync("redirect/9", "/dl/")).Path);
        var e = await Assert.ThrowsAsync<LivrableException>(() => DownloadAsync("redirect/10"));
        Assert.Equal(DiagnosticCodes.DownloadFailed, e.Code);
    }

    [Fact]
    public async Task An_error_status_or_a_closed_port_is_LIV4072()
    {
        var e = await Assert.ThrowsAsync<LivrableException>(() => DownloadAsync("missing"));
        Assert.Equal(DiagnosticCodes.DownloadFailed, e.Code);
        Assert.Contains("404", e.Message, StringComparison.Ordinal);

        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int closed = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        e = await Assert.ThrowsAsync<LivrableException>(() =>
            UrlDownload.DownloadAsync(_client, new Uri($"http://127.0.0.1:{closed}/x"), "/x", null, _temp["tmp"], CancellationToken.None));
        Assert.Equal(DiagnosticCodes.DownloadFailed, e.Code);

        e = await Assert.ThrowsAsync<LivrableException>(() =>
            UrlDownload.DownloadAsync(_client, new Uri("ftp://127.0.0.1/x"), "/x", null, _temp["tmp"], CancellationToken.None));
        Assert.Equal(DiagnosticCodes.DownloadFailed, e.Code);
    }

    [Fact]
    public async Task A_redirect_to_the_cloud_metadata_address_is_LIV3011_and_not_followed()
    {
        var e = await Assert.ThrowsAsync<LivrableException>(() =>
            DownloadAsync("elsewhere/x?" + Uri.EscapeDataString("http://169.254.169.254/latest/meta-data/iam/security-credentials/")));

        Assert.Equal(DiagnosticCodes.RedirectRefused, e.Code);
        Assert.Contains("169.254.169.254", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_redirect_to_a_host_that_challenges_gets_no_credentials_and_is_LIV4072()
    {
        using var attacker = new AttackerServer(AttackerServer.Mode.Bearer);

        var e = await Assert.ThrowsAsync<LivrableException>(() => DownloadAsync("elsewhere/x?" + Uri.EscapeDataString(attacker.Url("/steal"))));

        Assert.Equal(DiagnosticCodes.DownloadFailed, e.Code);
        Assert.Contains("401", e.Message, StringComparison.Ordinal);
        var request = Assert.Single(attacker.Received);
        Assert.False(request.Headers.ContainsKey("Authorization"));
    }

    /// <summary>A public server (a stub, names resolved by a fake) that redirects into the private network.</summary>
    private sealed class PublicRedirector : HttpMessageHandler
    {
        public List<Uri> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add(request.RequestUri!);
            var response = request.RequestUri!.Host == "files.example.com"
                ? new HttpResponseMessage(HttpStatusCode.Found) { Headers = { Location = new Uri("http://192.168.1.1/admin") } }
                : new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(Body) };
            return Task.FromResult(response);
        }
    }

    [Fact]
    public async Task A_public_URL_redirecting_into_the_private_network_is_LIV3011_and_nothing_is_sent_there()
    {
        var handler = new PublicRedirector();
        using var client = new HttpClient(handler);
        var guard = new Livrable.Network.RedirectGuard((host, _) => Task.FromResult(
            IPAddress.TryParse(host, out var literal) ? [literal] : host == "files.example.com" ? [IPAddress.Parse("93.184.216.34")] : Array.Empty<IPAddress>()));

        var e = await Assert.ThrowsAsync<LivrableException>(() =>
            UrlDownload.DownloadAsync(client, new Uri("http://files.example.com/app.tar.gz"), "/dl/", null, _temp["tmp"], CancellationToken.None, guard));

        Assert.Equal(DiagnosticCodes.RedirectRefused, e.Code);
        Assert.Contains("a private address (192.168.1.1)", e.Message, StringComparison.Ordinal);
        Assert.All(handler.Requests, uri => Assert.Equal("files.example.com", uri.Host));
    }

    [Theory]
    [InlineData("http://h/files/app.tar.gz", "app.tar.gz")]
    [InlineData("http://h/files/app.tar.gz?v=1#frag", "app.tar.gz")]
    [InlineData("http://h/dir/", "dir")]
    [InlineData("http://h/dir//", "dir")]
    [InlineData("http://h/", "__unnamed__")]
    [InlineData("http://h", "__unnamed__")]
    [InlineData("http://h/a%20b.txt", "a b.txt")]
    public void The_name_is_the_last_segment_of_the_URL_path(string url, string name)
        => Assert.Equal(name, UrlDownload.FileName(new Uri(url)));

    [Fact]
    public async Task A_destination_ending_in_a_slash_gets_the_URL_name_not_the_servers()
    {
        Assert.Equal("/dl/app.tar.gz", (await DownloadAsync("files/app.tar.gz", "/dl/")).Path);
        Assert.Equal("/__unnamed__", (await DownloadAsync("", "/")).Path);
    }
}
