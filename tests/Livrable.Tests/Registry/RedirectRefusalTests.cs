using System.Net;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;
using Livrable.Registry.Credentials;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Registry;

/// <summary>
/// Issue 10, item 9, where the real registry cannot play it (it is on loopback, a private address): a public
/// registry, played by a scripted handler with names resolved by a fake, redirecting a blob into the private network
/// is refused with LIV3011 before anything is sent there; a registry on the private network keeps its storage there.
/// </summary>
public sealed class RedirectRefusalTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static readonly Dictionary<string, string> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["registry.example.com"] = "93.184.216.34",
        ["registry.corp"] = "10.0.0.5",
        ["storage.corp"] = "10.0.0.6",
    };

    private sealed class Handler(string location, byte[] blob) : HttpMessageHandler
    {
        public List<Uri> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (Requests) Requests.Add(request.RequestUri!);
            var response = request.RequestUri!.AbsolutePath.StartsWith("/v2/", StringComparison.Ordinal)
                ? new HttpResponseMessage(HttpStatusCode.TemporaryRedirect) { Headers = { Location = new Uri(location) } }
                : new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(blob) };
            response.RequestMessage = request;
            return Task.FromResult(response);
        }
    }

    private async Task<(LivrableException? Error, Handler Handler)> PullAsync(string registry, string location)
    {
        byte[] blob = "a blob\n"u8.ToArray();
        var descriptor = new Descriptor(MediaTypes.OciLayerGzip, Digest.Sha256(blob), blob.Length);
        var handler = new Handler(location, blob);
        using var client = new RegistryClient(new RegistryOptions
        {
            Credentials = AnonymousCredentialProvider.Instance,
            InsecureRegistries = [registry],
            Handler = handler,
            Resolve = (host, _) => Task.FromResult(IPAddress.TryParse(host, out var literal) ? [literal]
                : Names.TryGetValue(host, out var address) ? [IPAddress.Parse(address)] : Array.Empty<IPAddress>()),
        }, new BlobStore(_temp["store-" + Guid.NewGuid().ToString("N")[..8]]), NullLogger.Instance);
        try
        {
            await using var stream = await client.GetBlobAsync(registry, "team/app", descriptor, CancellationToken.None);
            await stream.CopyToAsync(Stream.Null);
            return (null, handler);
        }
        catch (LivrableException e)
        {
            return (e, handler);
        }
    }

    [Theory]
    [InlineData("http://10.1.2.3/bucket/blob", "a private address (10.1.2.3)")]
    [InlineData("http://127.0.0.1:2375/containers/json", "a private address (127.0.0.1)")]
    [InlineData("http://169.254.169.254/latest/meta-data/", "a link-local address (169.254.169.254)")]
    public async Task A_public_registry_redirecting_into_the_private_network_is_LIV3011_and_nothing_is_sent_there(string location, string why)
    {
        var (error, handler) = await PullAsync("registry.example.com", location);

        Assert.NotNull(error);
        Assert.Equal(DiagnosticCodes.RedirectRefused, error.Code);
        Assert.Contains(why, error.Message);
        Assert.Contains("registry.example.com", error.Message);
        Assert.All(handler.Requests, uri => Assert.Equal("registry.example.com", uri.Host));
    }

    [Fact]
    public async Task A_registry_on_the_private_network_may_redirect_to_its_storage_there()
    {
        var (error, handler) = await PullAsync("registry.corp", "http://storage.corp/bucket/blob");

        Assert.Null(error);
        Assert.Contains(handler.Requests, uri => uri.Host == "storage.corp");
    }

    [Fact]
    public async Task A_registry_on_the_private_network_may_not_redirect_to_link_local()
    {
        var (error, _) = await PullAsync("registry.corp", "http://169.254.169.254/");

        Assert.Equal(DiagnosticCodes.RedirectRefused, error?.Code);
    }
}
