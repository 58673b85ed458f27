using System.Text.Json;
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
/// The Bearer token flow against a real <c>docker-registry</c> behind the test project's <see cref="TokenServer"/>:
/// the scopes each operation asks for, token reuse, anonymous pulls, <c>insufficient_scope</c>, the OAuth2 POST and
/// its GET fallback; and no secret in any log line. skopeo reads what was pushed through the same token flow.
/// </summary>
public sealed class TokenAuthTests : IClassFixture<TokenRegistryFixture>, IDisposable
{
    private static readonly Platform Amd64 = new("linux", "amd64");
    private readonly TokenRegistryFixture _registry;
    private readonly TempDirectory _temp = new();

    public TokenAuthTests(TokenRegistryFixture registry)
    {
        _registry = registry;
    }

    public void Dispose() => _temp.Dispose();

    private TokenServer Tokens => _registry.Tokens;

    private BlobStore NewStore() => new(_temp["store-" + Guid.NewGuid().ToString("N")[..8]]);

    private sealed class Fixed(RegistryCredential? credential) : ICredentialProvider
    {
        public Task<RegistryCredential?> GetCredentialAsync(RegistryEndpoint endpoint, CancellationToken cancellationToken) => Task.FromResult(credential);
    }

    /// <summary>A resolver seeing only the given variables (and no Docker config), as a CI job would set them.</summary>
    private CredentialResolver Environment() => new(name => name switch
    {
        "LIVRABLE_REGISTRY_USER" => Tokens.User,
        "LIVRABLE_REGISTRY_PASSWORD" => Tokens.Password,
        "HOME" => _temp.Path,
        _ => null,
    });

    private void AssertNoSecret(RecordingLogger logger, params string[] more)
    {
        foreach (var line in logger.Lines)
            foreach (var secret in new[] { Tokens.Password, Tokens.RefreshToken }.Concat(more))
                Assert.DoesNotContain(secret, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_push_with_credentials_asks_pull_push_once_and_an_anonymous_pull_asks_pull()
    {
        var store = NewStore();
        var image = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["a.txt"] = "token flow" }], Amd64);
        var logger = new RecordingLogger();
        while (Tokens.Requests.TryDequeue(out _)) { }

        using (var client = new RegistryClient(new RegistryOptions { Credentials = Environment() }, store, logger))
        {
            await new RegistryOutput(client, _registry.Registry, logger).WriteAsync(image, "livrable/token-app", ["1", "latest"], CancellationToken.None);
        }
        var pushTokens = Tokens.Requests.ToList();
        Assert.NotEmpty(pushTokens);
        Assert.All(pushTokens, r =>
        {
            Assert.Equal("GET", r.Method);
            Assert.Equal(Tokens.User, r.Who);
            Assert.Equal(["repository:livrable/token-app:pull,push"], r.Scopes);
        });
        // Reused for every blob and manifest request: at most one per concurrent first request.
        Assert.InRange(pushTokens.Count, 1, 2);

        var (exit, json, error) = await Tools.RunAsync("skopeo", ["inspect", "--tls-verify=false", "--creds", $"{Tokens.User}:{Tokens.Password}",
            $"docker://{_registry.Registry}/livrable/token-app:latest"]);
        Assert.True(exit == 0, error);
        using (var doc = JsonDocument.Parse(json))
            Assert.Equal(image.Digest.ToString(), doc.RootElement.GetProperty("Digest").GetString());

        while (Tokens.Requests.TryDequeue(out _)) { }
        using var puller = new RegistryClient(new RegistryOptions { Credentials = AnonymousCredentialProvider.Instance }, NewStore(), logger);
        var pulled = await new RegistryImageSource(puller, _registry.Registry, "livrable/token-app", "1").ResolveAsync(Amd64, CancellationToken.None);
        await ImageValidator.ValidateAsync(pulled);
        var pullTokens = Tokens.Requests.ToList();
        Assert.Single(pullTokens);
        Assert.Null(pullTokens[0].Who);
        Assert.Equal(["repository:livrable/token-app:pull"], pullTokens[0].Scopes);
        AssertNoSecret(logger);
    }

    [Fact]
    public async Task A_mount_asks_pull_push_for_the_target_and_pull_for_the_source()
    {
        var store = NewStore();
        var image = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["m.txt"] = "mounted through a token" }], Amd64);
        using var client = new RegistryClient(new RegistryOptions { Credentials = Environment() }, store, NullLogger.Instance);
        await new RegistryOutput(client, _registry.Registry).WriteAsync(image, "livrable/token-source", ["1"], CancellationToken.None);
        while (Tokens.Requests.TryDequeue(out _)) { }

        var baseImage = await new RegistryImageSource(client, _registry.Registry, "livrable/token-source", "1").ResolveAsync(Amd64, CancellationToken.None);
        await new RegistryOutput(client, _registry.Registry).WriteAsync(baseImage, "livrable/token-target", ["1"], CancellationToken.None);

        Assert.Equal(1, client.Counters.BlobsMounted);
        Assert.Contains(Tokens.Requests, r => r.Scopes.Contains("repository:livrable/token-target:pull,push") && r.Scopes.Contains("repository:livrable/token-source:pull"));
        Assert.DoesNotContain(Tokens.Requests, r => r.Scopes.Contains("repository:livrable/token-source:pull,push"));
    }

    [Fact]
    public async Task An_anonymous_push_gets_insufficient_scope_once_and_is_LIV3002()
    {
        var store = NewStore();
        var image = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["x.txt"] = "no right to push" }], Amd64);
        using var client = new RegistryClient(new RegistryOptions { Credentials = AnonymousCredentialProvider.Instance, MaxConcurrentBlobs = 1 }, store, NullLogger.Instance);
        while (Tokens.Requests.TryDequeue(out _)) { }

        var e = await Assert.ThrowsAsync<LivrableException>(() => new RegistryOutput(client, _registry.Registry).WriteAsync(image, "livrable/token-denied", ["1"], CancellationToken.None));

        Assert.Equal(DiagnosticCodes.Unauthorized, e.Code);
        Assert.Contains("LIVRABLE_REGISTRY_USER", e.Message);
        // The HEAD's token, then one fresh token for the refused upload: no loop.
        Assert.InRange(Tokens.Requests.Count, 2, 3);
    }

    [Fact]
    public async Task An_identity_token_is_exchanged_by_an_OAuth2_POST_falling_back_to_GET_where_there_is_none()
    {
        var store = NewStore();
        var image = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["o.txt"] = "oauth" }], Amd64);
        var logger = new RecordingLogger();
        var credential = new Fixed(RegistryCredential.FromIdentityToken(Tokens.RefreshToken) with { Source = "a test" });
        while (Tokens.Requests.TryDequeue(out _)) { }
        using (var client = new RegistryClient(new RegistryOptions { Credentials = credential }, store, logger))
            await new RegistryOutput(client, _registry.Registry, logger).WriteAsync(image, "livrable/token-oauth", ["1"], CancellationToken.None);
        Assert.All(Tokens.Requests, r => Assert.Equal(("POST", "refresh-token"), (r.Method, r.Who)));

        Tokens.OAuthPost = false;
        try
        {
            while (Tokens.Requests.TryDequeue(out _)) { }
            using var client = new RegistryClient(new RegistryOptions { Credentials = credential }, NewStore(), logger);
            var pulled = await new RegistryImageSource(client, _registry.Registry, "livrable/token-oauth", "1").ResolveAsync(Amd64, CancellationToken.None);
            await ImageValidator.ValidateAsync(pulled);
            var requests = Tokens.Requests.ToList();
            Assert.Equal("POST", requests[0].Method);
            Assert.Equal("GET", requests[1].Method);
        }
        finally
        {
            Tokens.OAuthPost = true;
        }
        AssertNoSecret(logger);
    }
}
