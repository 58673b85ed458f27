using System.Net;
using System.Text;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;
using Livrable.Registry.Credentials;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Registry;

/// <summary>
/// What the Debian registry cannot show (it has no token server, no storage redirect, no flaky moments): the Bearer
/// token flow, redirects that must not carry the token, and retries. A scripted handler plays the registry.
/// </summary>
public sealed class TokenFlowTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private sealed class ScriptedHandler(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        public List<(HttpMethod Method, Uri Uri, string? Authorization)> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (Requests) Requests.Add((request.Method, request.RequestUri!, request.Headers.Authorization?.ToString()));
            var response = answer(request);
            response.RequestMessage = request;
            return Task.FromResult(response);
        }
    }

    private sealed class StaticCredentials(RegistryCredential? credential) : ICredentialProvider
    {
        public int Calls;
        public Task<RegistryCredential?> GetCredentialAsync(RegistryEndpoint endpoint, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            return Task.FromResult(credential);
        }
    }

    private static HttpResponseMessage Json(string json, string? contentType = null)
    {
        var r = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(json, Encoding.UTF8) };
        r.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType ?? "application/json");
        return r;
    }

    [Fact]
    public async Task Bearer_token_is_fetched_once_with_basic_credentials_and_not_sent_to_storage()
    {
        byte[] config = ImageConfig.Empty(new Platform("linux", "amd64")).ToBytes();
        var configDigest = Digest.Sha256(config);
        var manifest = new ImageManifest(MediaTypes.OciManifest, new Descriptor(MediaTypes.OciConfig, configDigest, config.Length), []);
        byte[] manifestBytes = manifest.ToBytes();
        int tokens = 0;
        var handler = new ScriptedHandler(request =>
        {
            var uri = request.RequestUri!;
            if (uri.Host == "auth.example.com")
            {
                Interlocked.Increment(ref tokens);
                Assert.Contains("service=registry.example.com", uri.Query);
                Assert.Contains("scope=repository%3Ateam%2Fapp%3Apull", uri.Query);
                return Json("""{"access_token":"T0KEN","expires_in":300}""");
            }
            if (uri.Host == "storage.example.net")
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(config) };
            if (request.Headers.Authorization?.ToString() != "Bearer T0KEN")
            {
                var r = new HttpResponseMessage(HttpStatusCode.Unauthorized) { Content = new StringContent("""{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}""") };
                r.Headers.TryAddWithoutValidation("WWW-Authenticate", "Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\",scope=\"repository:team/app:pull\"");
                return r;
            }
            if (uri.AbsolutePath.Contains("/manifests/")) return Json(Encoding.UTF8.GetString(manifestBytes), MediaTypes.OciManifest);
            if (uri.AbsolutePath.Contains("/blobs/"))
            {
                var r = new HttpResponseMessage(HttpStatusCode.TemporaryRedirect);
                r.Headers.Location = new Uri("https://storage.example.net/blob?signature=abc");
                return r;
            }
            return new HttpResponseMessage(HttpStatusCode.NotFound);
        });
        var credentials = new StaticCredentials(RegistryCredential.FromPassword("u", "p"));
        using var client = new RegistryClient(new RegistryOptions { Credentials = credentials, Handler = handler }, new BlobStore(_temp.Path), NullLogger.Instance);

        var image = await client.GetImageAsync("registry.example.com", "team/app", "1.0", new Platform("linux", "amd64"), CancellationToken.None);
        await client.GetManifestAsync("registry.example.com", "team/app", "1.0", CancellationToken.None);

        Assert.Equal(config, image.ConfigBytes);
        Assert.Equal(1, tokens);
        Assert.Equal(1, credentials.Calls);
        var tokenRequest = handler.Requests.Single(r => r.Uri.Host == "auth.example.com");
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("u:p")), tokenRequest.Authorization);
        Assert.Null(handler.Requests.Single(r => r.Uri.Host == "storage.example.net").Authorization);
        Assert.All(handler.Requests.Where(r => r.Uri.Host == "registry.example.com"), r => Assert.Equal("https", r.Uri.Scheme));
        // After the first challenge, the token goes with every request at once: one 401 in all.
        Assert.Single(handler.Requests, r => r.Uri.Host == "registry.example.com" && r.Authorization is null);
    }

    [Fact]
    public async Task Transient_failures_are_retried_and_a_digest_reference_is_verified()
    {
        byte[] manifestBytes = new ImageManifest(MediaTypes.OciManifest, new Descriptor(MediaTypes.OciConfig, Digest.Sha256([1]), 1), []).ToBytes();
        int calls = 0;
        var handler = new ScriptedHandler(_ => Interlocked.Increment(ref calls) switch
        {
            1 => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable),
            2 => new HttpResponseMessage(HttpStatusCode.TooManyRequests),
            _ => Json(Encoding.UTF8.GetString(manifestBytes), MediaTypes.OciManifest),
        });
        var logger = new RecordingLogger();
        using var client = new RegistryClient(new RegistryOptions { Credentials = AnonymousCredentialProvider.Instance, Handler = handler }, new BlobStore(_temp.Path), logger);
        var m = await client.GetManifestAsync("registry.example.com", "team/app", "1.0", CancellationToken.None);
        Assert.Equal(Digest.Sha256(manifestBytes), m.Digest);
        Assert.Equal(2, client.Counters.Retries);

        var wrong = Digest.Sha256([9]);
        var e = await Assert.ThrowsAsync<LivrableException>(() => client.GetManifestAsync("registry.example.com", "team/app", wrong.ToString(), CancellationToken.None));
        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_manifest_over_4_MiB_is_refused_whether_or_not_its_length_is_announced(bool announced)
    {
        var handler = new ScriptedHandler(_ =>
        {
            // A stream of unknown length when not announced, so only counting what is read can stop it.
            var body = new MemoryStream(new byte[4 * 1024 * 1024 + 1]);
            HttpContent content = announced ? new StreamContent(body) : new PushStreamContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(MediaTypes.OciManifest);
            if (announced) content.Headers.ContentLength = body.Length;
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
        });
        using var client = new RegistryClient(new RegistryOptions { Credentials = AnonymousCredentialProvider.Instance, Handler = handler }, new BlobStore(_temp.Path), NullLogger.Instance);
        var e = await Assert.ThrowsAsync<LivrableException>(() => client.GetManifestAsync("registry.example.com", "app", "1", CancellationToken.None));
        Assert.Equal(DiagnosticCodes.RegistryProtocol, e.Code);
        Assert.Contains("4 MiB", e.Message);
    }

    /// <summary>Content whose length is not known in advance.</summary>
    private sealed class PushStreamContent(Stream body) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => body.CopyToAsync(stream);
        protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult(body);
        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Theory]
    [InlineData("https://169.254.169.254/latest/meta-data/iam/security-credentials/")]
    [InlineData("https://[fe80::1]/token")]
    [InlineData("https://[::ffff:169.254.1.1]/token")]
    public async Task A_token_realm_on_a_link_local_address_is_LIV3102_and_never_asked(string realm)
    {
        var handler = new ScriptedHandler(request =>
        {
            var r = new HttpResponseMessage(HttpStatusCode.Unauthorized);
            r.Headers.TryAddWithoutValidation("WWW-Authenticate", $"Bearer realm=\"{realm}\",service=\"registry\"");
            return r;
        });
        using var client = new RegistryClient(new RegistryOptions { Credentials = new StaticCredentials(RegistryCredential.FromPassword("user", "canary-pass")), Handler = handler },
            new BlobStore(_temp.Path), NullLogger.Instance);
        var e = await Assert.ThrowsAsync<LivrableException>(() => client.GetManifestAsync("registry.example.com", "app", "1", CancellationToken.None));
        Assert.Equal(DiagnosticCodes.TokenRealmRefused, e.Code);
        Assert.All(handler.Requests, r => Assert.Equal("registry.example.com", r.Uri.Host));
    }

    [Fact]
    public async Task Forbidden_is_LIV3003_and_other_errors_carry_the_registry_message()
    {
        var handler = new ScriptedHandler(request => request.RequestUri!.AbsolutePath.Contains("secret")
            ? new HttpResponseMessage(HttpStatusCode.Forbidden)
            : new HttpResponseMessage(HttpStatusCode.BadRequest) { Content = new StringContent("""{"errors":[{"code":"NAME_INVALID","message":"invalid repository name"}]}""") });
        using var client = new RegistryClient(new RegistryOptions { Credentials = AnonymousCredentialProvider.Instance, Handler = handler }, new BlobStore(_temp.Path), NullLogger.Instance);
        var e = await Assert.ThrowsAsync<LivrableException>(() => client.GetManifestAsync("registry.example.com", "secret", "1", CancellationToken.None));
        Assert.Equal(DiagnosticCodes.Forbidden, e.Code);
        e = await Assert.ThrowsAsync<LivrableException>(() => client.GetManifestAsync("registry.example.com", "bad", "1", CancellationToken.None));
        Assert.Equal(DiagnosticCodes.RegistryProtocol, e.Code);
        Assert.Contains("invalid repository name (NAME_INVALID)", e.Message);
        Assert.Contains("400", e.Message);
    }

    [Fact]
    public async Task Identity_token_is_exchanged_with_an_oauth2_post()
    {
        string? form = null;
        var handler = new ScriptedHandler(request =>
        {
            if (request.RequestUri!.Host == "auth.example.com")
            {
                Assert.Equal(HttpMethod.Post, request.Method);
                form = request.Content!.ReadAsStringAsync().Result;
                return Json("""{"access_token":"FROM-REFRESH","expires_in":60}""");
            }
            if (request.Headers.Authorization?.ToString() == "Bearer FROM-REFRESH")
                return new HttpResponseMessage(HttpStatusCode.OK);
            var r = new HttpResponseMessage(HttpStatusCode.Unauthorized);
            r.Headers.TryAddWithoutValidation("WWW-Authenticate", "Bearer realm=\"https://auth.example.com/oauth2/token\",service=\"acr\"");
            return r;
        });
        var credentials = new StaticCredentials(RegistryCredential.FromIdentityToken("REFRESH-TOKEN"));
        using var client = new RegistryClient(new RegistryOptions { Credentials = credentials, Handler = handler }, new BlobStore(_temp.Path), NullLogger.Instance);
        Assert.True(await client.BlobExistsAsync("acr.example.com", "app", Digest.Sha256([1]), forPush: false, CancellationToken.None));
        Assert.Contains("grant_type=refresh_token", form);
        Assert.Contains("refresh_token=REFRESH-TOKEN", form);
        Assert.Contains("service=acr", form);
        Assert.Contains("scope=repository%3Aapp%3Apull", form);
    }

    [Fact]
    public async Task Refused_monolithic_upload_falls_back_to_chunks_keeping_the_location_query()
    {
        byte[] blob = Encoding.UTF8.GetBytes("0123456789abcdefghij");
        var descriptor = new Descriptor(MediaTypes.OciLayerGzip, Digest.Sha256(blob), blob.Length);
        var received = new MemoryStream();
        var handler = new ScriptedHandler(request =>
        {
            var uri = request.RequestUri!;
            switch (request.Method.Method, uri.AbsolutePath)
            {
                case ("HEAD", _):
                    return new HttpResponseMessage(HttpStatusCode.NotFound);
                case ("POST", "/v2/app/blobs/uploads/"):
                {
                    var r = new HttpResponseMessage(HttpStatusCode.Accepted);
                    r.Headers.Location = new Uri("/v2/app/blobs/uploads/u1?_state=abc", UriKind.Relative);
                    return r;
                }
                case ("PUT", "/v2/app/blobs/uploads/u1") when request.Content!.Headers.ContentLength > 0:
                    return new HttpResponseMessage(HttpStatusCode.MethodNotAllowed);
                case ("PATCH", "/v2/app/blobs/uploads/u1"):
                {
                    var bytes = request.Content!.ReadAsByteArrayAsync().Result;
                    Assert.Equal($"{received.Length}-{received.Length + bytes.Length - 1}", request.Content.Headers.GetValues("Content-Range").Single());
                    received.Write(bytes);
                    var r = new HttpResponseMessage(HttpStatusCode.Accepted);
                    r.Headers.Location = new Uri($"https://registry.example.com/v2/app/blobs/uploads/u1?_state=after{received.Length}");
                    return r;
                }
                case ("PUT", "/v2/app/blobs/uploads/u1"):
                    Assert.Equal($"?_state=after{blob.Length}&digest={Uri.EscapeDataString(descriptor.Digest.ToString())}", uri.Query);
                    return new HttpResponseMessage(HttpStatusCode.Created);
                default:
                    return new HttpResponseMessage(HttpStatusCode.NotFound);
            }
        });
        using var client = new RegistryClient(new RegistryOptions { Credentials = AnonymousCredentialProvider.Instance, Handler = handler, ChunkSize = 8 }, new BlobStore(_temp.Path), NullLogger.Instance);
        var result = await client.PushBlobAsync("registry.example.com", "app", descriptor,
            _ => Task.FromResult<Stream>(new Livrable.Store.VerifyingStream(new MemoryStream(blob), descriptor.Digest, descriptor.Size, "test blob")), null, CancellationToken.None);
        Assert.Equal(BlobPushResult.Uploaded, result);
        Assert.Equal(blob, received.ToArray());
        Assert.Equal(3, handler.Requests.Count(r => r.Method == HttpMethod.Patch));
    }
}
