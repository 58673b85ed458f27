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

/// <summary>A real registry with htpasswd Basic auth.</summary>
[Collection(RegistryCollection.Name)]
public sealed class RegistryAuthTests : IDisposable
{
    private static readonly Platform Amd64 = new("linux", "amd64");
    private readonly AuthRegistryFixture _registry;
    private readonly TempDirectory _temp = new();

    public RegistryAuthTests(AuthRegistryFixture registry)
    {
        _registry = registry;
    }

    public void Dispose() => _temp.Dispose();

    private BlobStore NewStore() => new(_temp["store-" + Guid.NewGuid().ToString("N")[..8]]);

    /// <summary>A resolver seeing only the given variables (and no Docker config), as a CI job would set them.</summary>
    private CredentialResolver Environment(string user, string password) => new(name => name switch
    {
        "LIVRABLE_REGISTRY_USER" => user,
        "LIVRABLE_REGISTRY_PASSWORD" => password,
        "HOME" => _temp.Path,
        _ => null,
    });

    [Fact]
    public async Task Without_credentials_push_and_pull_are_LIV3002_saying_how_to_log_in()
    {
        var store = NewStore();
        var image = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["hello.txt"] = "auth" }], Amd64);
        using var client = new RegistryClient(new RegistryOptions { Credentials = AnonymousCredentialProvider.Instance }, store, NullLogger.Instance);

        var e = await Assert.ThrowsAsync<LivrableException>(() => new RegistryOutput(client, _registry.Registry).WriteAsync(image, "livrable/auth", ["1"], CancellationToken.None));
        Assert.Equal(DiagnosticCodes.Unauthorized, e.Code);
        Assert.Contains("LIVRABLE_REGISTRY_USER", e.Message);
        Assert.Contains("docker login", e.Message);

        e = await Assert.ThrowsAsync<LivrableException>(() => client.GetManifestAsync(_registry.Registry, "livrable/auth", "1", CancellationToken.None));
        Assert.Equal(DiagnosticCodes.Unauthorized, e.Code);
    }

    [Fact]
    public async Task Wrong_password_is_LIV3002_and_never_shows_the_password()
    {
        var store = NewStore();
        using var client = new RegistryClient(new RegistryOptions { Credentials = Environment("livrable", "wrong-password") }, store, NullLogger.Instance);
        var e = await Assert.ThrowsAsync<LivrableException>(() => client.GetManifestAsync(_registry.Registry, "livrable/auth", "1", CancellationToken.None));
        Assert.Equal(DiagnosticCodes.Unauthorized, e.Code);
        Assert.DoesNotContain("wrong-password", e.Message);
        Assert.Contains("LIVRABLE_REGISTRY_USER", e.Message); // names where the refused credentials came from
    }

    [Fact]
    public async Task With_environment_credentials_push_and_pull_work()
    {
        var (user, password) = _registry.Credentials!.Value;
        var store = NewStore();
        var image = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["hello.txt"] = "auth ok" }], Amd64);
        var logger = new RecordingLogger();
        using var client = new RegistryClient(new RegistryOptions { Credentials = Environment(user, password) }, store, logger);
        await new RegistryOutput(client, _registry.Registry, logger).WriteAsync(image, "livrable/auth", ["ok"], CancellationToken.None);

        var pullStore = NewStore();
        using var puller = new RegistryClient(new RegistryOptions { Credentials = Environment(user, password) }, pullStore, NullLogger.Instance);
        var pulled = await new RegistryImageSource(puller, _registry.Registry, "livrable/auth", "ok").ResolveAsync(Amd64, CancellationToken.None);
        Assert.Equal(image.Digest, pulled.Digest);
        await using (var s = await pulled.Layers[0].OpenAsync(CancellationToken.None)) await s.CopyToAsync(Stream.Null);
        Assert.True(pullStore.Contains(image.Layers[0].Descriptor.Digest));

        Assert.DoesNotContain(logger.Lines, l => l.Contains(password));
        var (exit, _, error) = await Tools.RunAsync("skopeo", ["inspect", "--tls-verify=false", "--creds", $"{user}:{password}",
            $"docker://{_registry.Registry}/livrable/auth:ok"]);
        Assert.True(exit == 0, error);
    }
}
