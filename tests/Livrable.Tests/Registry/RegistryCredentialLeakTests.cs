using System.Security.Cryptography;
using System.Text;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Registry;
using Livrable.Registry.Credentials;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Registry;

/// <summary>
/// Issue 10, items 1, 2 and 9: a registry with htpasswd auth (and one with Bearer tokens) behind a
/// <see cref="FaultProxy"/> that sends requests on to an <see cref="AttackerServer"/> on 127.0.0.2, which logs every
/// header and challenges with its own realm. For pulls (blob, manifest, a token realm that redirects) and pushes (the
/// POST's Location, a PATCH's Location, a mount's Location) the attacker never sees the password, a Basic header or
/// the registry's token, and the build ends with a built image or a coded error.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class RegistryCredentialLeakTests : IClassFixture<TokenRegistryFixture>, IDisposable
{
    private static readonly Platform Amd64 = new("linux", "amd64");
    private static readonly RetryPolicy Quick = new() { BaseDelay = TimeSpan.FromMilliseconds(5), MaxDelay = TimeSpan.FromMilliseconds(50), MaxTotalDelay = TimeSpan.FromSeconds(2) };

    private readonly AuthRegistryFixture _registry;
    private readonly TokenRegistryFixture _tokenRegistry;
    private readonly TempDirectory _temp = new();

    public RegistryCredentialLeakTests(AuthRegistryFixture registry, TokenRegistryFixture tokenRegistry)
    {
        _registry = registry;
        _tokenRegistry = tokenRegistry;
    }

    public void Dispose() => _temp.Dispose();

    private string User => _registry.Credentials!.Value.User;
    private string Password => _registry.Credentials!.Value.Password;
    private string Basic(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    private BlobStore NewStore() => new(_temp["store-" + Guid.NewGuid().ToString("N")[..8]]);

    /// <summary>Credentials as a CI job gives them: the environment variables, no Docker config.</summary>
    private CredentialResolver Environment(string user, string password) => new(name => name switch
    {
        "LIVRABLE_REGISTRY_USER" => user,
        "LIVRABLE_REGISTRY_PASSWORD" => password,
        "HOME" => _temp.Path,
        _ => null,
    });

    private RegistryClient NewClient(BlobStore store, ILogger? logger = null, bool chunked = false, string? user = null, string? password = null)
        => new(new RegistryOptions
        {
            Credentials = Environment(user ?? User, password ?? Password),
            Retry = Quick,
            ForceChunkedUploads = chunked,
            ChunkSize = 16 * 1024,
        }, store, logger ?? NullLogger.Instance);

    private static Task<IImage> RandomImageAsync(BlobStore store)
        => TestImages.BuildAsync(store, [new Dictionary<string, byte[]> { ["data.bin"] = RandomNumberGenerator.GetBytes(64 * 1024) }], Amd64);

    /// <summary>An image pushed straight to the htpasswd registry (no proxy).</summary>
    private async Task<(IImage Image, BlobStore Store)> PushedAsync(string repository)
    {
        var store = NewStore();
        var image = await RandomImageAsync(store);
        using var client = NewClient(store);
        await new RegistryOutput(client, _registry.Registry).WriteAsync(image, repository, ["1"], CancellationToken.None);
        return (image, store);
    }

    /// <summary>A bound on each test, so that the code before the fix, which hangs or loops in some of them, fails instead.</summary>
    private static CancellationToken Bounded() => new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token;

    [Fact]
    public async Task A_blob_redirected_to_a_host_with_its_own_Bearer_realm_gets_an_anonymous_token_of_its_own_never_the_password()
    {
        var (image, store) = await PushedAsync("leak/blob-bearer");
        var layer = image.Manifest.Layers[0];
        using var attacker = new AttackerServer(AttackerServer.Mode.Bearer);
        attacker.Serve("/bucket/" + layer.Digest.Hex, await File.ReadAllBytesAsync(store.PathOf(layer.Digest)));
        using var proxy = new FaultProxy(_registry.Registry).On("GET", "/blobs/" + layer.Digest, new Fault.Redirect(attacker.Url("/bucket/" + layer.Digest.Hex)));
        var logger = new RecordingLogger();
        using var client = NewClient(NewStore(), logger);

        var pulled = await new RegistryImageSource(client, proxy.Registry, "leak/blob-bearer", "1").ResolveAsync(Amd64, Bounded());
        await ImageValidator.ValidateAsync(pulled);

        attacker.AssertGotNoSecret(Password, Basic(User, Password));
        // The attacker's realm was asked anonymously, and its token went to it alone.
        Assert.Contains(attacker.Received, r => r.Path.StartsWith("/token", StringComparison.Ordinal) && !r.Headers.ContainsKey("Authorization"));
        Assert.Contains(attacker.Received, r => r.Path.StartsWith("/bucket/", StringComparison.Ordinal) && r.Headers.ContainsKey("Authorization"));
        Assert.DoesNotContain(logger.Lines, l => l.Contains(Password, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_blob_redirected_to_a_host_asking_for_Basic_credentials_is_LIV3010_and_gets_none()
    {
        var (image, _) = await PushedAsync("leak/blob-basic");
        var layer = image.Manifest.Layers[0];
        using var attacker = new AttackerServer(AttackerServer.Mode.Basic);
        using var proxy = new FaultProxy(_registry.Registry).On("GET", "/blobs/" + layer.Digest, new Fault.Redirect(attacker.Url("/bucket/x")), times: 100);
        using var client = NewClient(NewStore());

        var pulled = await new RegistryImageSource(client, proxy.Registry, "leak/blob-basic", "1").ResolveAsync(Amd64, Bounded());
        var e = await Assert.ThrowsAsync<LivrableException>(() => pulled.Layers[0].OpenAsync(Bounded()));

        Assert.Equal(DiagnosticCodes.ForeignChallenge, e.Code);
        Assert.Contains("127.0.0.2", e.Message);
        Assert.NotEmpty(attacker.Received);
        attacker.AssertGotNoSecret(Password, Basic(User, Password));
    }

    [Fact]
    public async Task A_manifest_redirected_to_a_challenging_host_is_pulled_with_that_hosts_anonymous_token_only()
    {
        var (image, _) = await PushedAsync("leak/manifest");
        using var attacker = new AttackerServer(AttackerServer.Mode.Bearer);
        attacker.Serve("/m/1", image.ManifestBytes.ToArray(), image.Manifest.MediaType);
        using var proxy = new FaultProxy(_registry.Registry).On("GET", "/manifests/1", new Fault.Redirect(attacker.Url("/m/1")));
        using var client = NewClient(NewStore());

        var pulled = await new RegistryImageSource(client, proxy.Registry, "leak/manifest", "1").ResolveAsync(Amd64, Bounded());
        await ImageValidator.ValidateAsync(pulled);

        Assert.Equal(image.Digest, pulled.Digest);
        attacker.AssertGotNoSecret(Password, Basic(User, Password));
        Assert.Contains(attacker.Received, r => r.Path == "/m/1" && r.Headers.ContainsKey("Authorization"));
    }

    [Fact]
    public async Task A_403_from_the_host_a_blob_is_redirected_to_is_not_reported_as_our_credentials_lacking_the_right()
    {
        var (image, _) = await PushedAsync("leak/blob-403");
        var layer = image.Manifest.Layers[0];
        using var attacker = new AttackerServer(AttackerServer.Mode.Forbidden);
        using var proxy = new FaultProxy(_registry.Registry).On("GET", "/blobs/" + layer.Digest, new Fault.Redirect(attacker.Url("/bucket/x")), times: 100);
        using var client = NewClient(NewStore());

        var pulled = await new RegistryImageSource(client, proxy.Registry, "leak/blob-403", "1").ResolveAsync(Amd64, Bounded());
        var e = await Assert.ThrowsAsync<LivrableException>(() => pulled.Layers[0].OpenAsync(Bounded()));

        Assert.Equal(DiagnosticCodes.RegistryProtocol, e.Code);
        Assert.Contains("127.0.0.2", e.Message);
        Assert.Contains("403", e.Message);
        Assert.DoesNotContain("lack the right", e.Message);
        attacker.AssertGotNoSecret(Password, Basic(User, Password));
    }

    [Fact]
    public async Task An_upload_location_on_another_host_gets_the_body_but_no_Authorization()
    {
        var store = NewStore();
        var image = await RandomImageAsync(store);
        var layer = image.Manifest.Layers[0];
        using var attacker = new AttackerServer(AttackerServer.Mode.Bearer);
        using var proxy = new FaultProxy(_registry.Registry).On("POST", "/blobs/uploads/", new Fault.Rewrite(LocationBase: attacker.Origin), times: 100);
        using var client = NewClient(store);

        // The blobs went to the attacker, not the registry: the manifest is refused, with a code.
        var e = await Assert.ThrowsAsync<LivrableException>(() => new RegistryOutput(client, proxy.Registry).WriteAsync(image, "leak/push-post", ["1"], Bounded()));

        Assert.StartsWith("LIV3", e.Code);
        Assert.Contains(attacker.Received, r => r.Method == "PUT" && r.BodyLength == layer.Size);
        attacker.AssertGotNoSecret(Password, Basic(User, Password));
    }

    [Fact]
    public async Task A_PATCH_location_on_another_host_gets_the_next_chunks_but_no_Authorization()
    {
        var store = NewStore();
        var image = await RandomImageAsync(store);
        using var attacker = new AttackerServer(AttackerServer.Mode.Bearer);
        using var proxy = new FaultProxy(_registry.Registry).On("PATCH", "/blobs/uploads/", new Fault.Rewrite(LocationBase: attacker.Origin), times: 100);
        using var client = NewClient(store, chunked: true);

        var e = await Assert.ThrowsAsync<LivrableException>(() => new RegistryOutput(client, proxy.Registry).WriteAsync(image, "leak/push-patch", ["1"], Bounded()));

        Assert.StartsWith("LIV3", e.Code);
        Assert.Contains(attacker.Received, r => r.Method == "PATCH" && r.BodyLength > 0);
        Assert.Contains(attacker.Received, r => r.Method == "PUT");
        attacker.AssertGotNoSecret(Password, Basic(User, Password));
    }

    [Fact]
    public async Task A_mount_answered_with_a_location_on_another_host_uploads_there_without_Authorization()
    {
        var store = NewStore();
        var image = await RandomImageAsync(store);
        var layer = image.Manifest.Layers[0];
        using var attacker = new AttackerServer(AttackerServer.Mode.Bearer);
        // The source repository lacks the blob, so the registry opens an upload session (202) instead of mounting.
        using var proxy = new FaultProxy(_registry.Registry).On("POST", "mount=", new Fault.Rewrite(LocationBase: attacker.Origin));
        using var client = NewClient(store);

        var result = await client.PushBlobAsync(proxy.Registry, "leak/push-mount", layer,
            _ => Task.FromResult<Stream>(File.OpenRead(store.PathOf(layer.Digest))), "leak/nowhere", Bounded());

        Assert.Equal(BlobPushResult.Uploaded, result);
        Assert.Contains(attacker.Received, r => r.Method == "PUT" && r.BodyLength == layer.Size);
        attacker.AssertGotNoSecret(Password, Basic(User, Password));
    }

    [Fact]
    public async Task Behind_a_token_registry_an_upload_location_elsewhere_never_gets_the_registrys_token()
    {
        var store = NewStore();
        var image = await RandomImageAsync(store);
        var tokens = _tokenRegistry.Tokens;
        using var attacker = new AttackerServer(AttackerServer.Mode.Bearer);
        using var proxy = new FaultProxy(_tokenRegistry.Registry).On("POST", "/blobs/uploads/", new Fault.Rewrite(LocationBase: attacker.Origin), times: 100);
        using var client = NewClient(store, user: tokens.User, password: tokens.Password);

        var e = await Assert.ThrowsAsync<LivrableException>(() => new RegistryOutput(client, proxy.Registry).WriteAsync(image, "leak/push-token", ["1"], Bounded()));

        Assert.StartsWith("LIV3", e.Code);
        Assert.Contains(tokens.Requests, r => r.Who == tokens.User);
        Assert.Contains(attacker.Received, r => r.Method == "PUT");
        // The registry's tokens are JWTs ("eyJ..."); the attacker's own is not.
        attacker.AssertGotNoSecret(tokens.Password, Basic(tokens.User, tokens.Password), "eyJ");
    }

    [Fact]
    public async Task A_token_realm_that_redirects_to_another_host_is_a_coded_error_and_that_host_gets_nothing()
    {
        var tokens = _tokenRegistry.Tokens;
        using var attacker = new AttackerServer(AttackerServer.Mode.Bearer);
        tokens.RedirectTo = attacker.Url("/stolen");
        try
        {
            using var client = NewClient(NewStore(), user: tokens.User, password: tokens.Password);
            var e = await Assert.ThrowsAsync<LivrableException>(() => client.GetManifestAsync(_tokenRegistry.Registry, "leak/anything", "1", Bounded()));
            Assert.StartsWith("LIV3", e.Code);
            Assert.Empty(attacker.Received);
        }
        finally
        {
            tokens.RedirectTo = null;
        }
    }

    [Fact]
    public async Task A_blob_redirected_to_the_cloud_metadata_address_is_LIV3011_and_not_followed()
    {
        var (image, _) = await PushedAsync("leak/metadata");
        var layer = image.Manifest.Layers[0];
        using var proxy = new FaultProxy(_registry.Registry)
            .On("GET", "/blobs/" + layer.Digest, new Fault.Redirect("http://169.254.169.254/latest/meta-data/iam/security-credentials/"), times: 100);
        using var client = NewClient(NewStore());

        var pulled = await new RegistryImageSource(client, proxy.Registry, "leak/metadata", "1").ResolveAsync(Amd64, Bounded());
        var e = await Assert.ThrowsAsync<LivrableException>(() => pulled.Layers[0].OpenAsync(Bounded()));

        Assert.Equal(DiagnosticCodes.RedirectRefused, e.Code);
        Assert.Contains("169.254.169.254", e.Message);
    }
}
