using System.Security.Cryptography;
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
/// Push and pull through a <see cref="FaultProxy"/> in front of the real registry: each fault a registry or its network
/// really shows, and what Livrable does about it. Retry delays are a few milliseconds here, so no test waits long.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class RegistryFaultTests : IDisposable
{
    private static readonly Platform Amd64 = new("linux", "amd64");
    private static readonly RetryPolicy Quick = new() { BaseDelay = TimeSpan.FromMilliseconds(5), MaxDelay = TimeSpan.FromMilliseconds(50), MaxTotalDelay = TimeSpan.FromSeconds(2) };

    private readonly RegistryFixture _registry;
    private readonly AuthRegistryFixture _authRegistry;
    private readonly TempDirectory _temp = new();

    public RegistryFaultTests(RegistryFixture registry, AuthRegistryFixture authRegistry)
    {
        _registry = registry;
        _authRegistry = authRegistry;
    }

    public void Dispose() => _temp.Dispose();

    private BlobStore NewStore() => new(_temp["store-" + Guid.NewGuid().ToString("N")[..8]]);

    private static RegistryClient NewClient(BlobStore store, ILogger? logger = null, RegistryOptions? options = null)
        => new(options ?? new RegistryOptions { Credentials = AnonymousCredentialProvider.Instance, Retry = Quick }, store, logger ?? NullLogger.Instance);

    /// <summary>An image of <paramref name="layers"/> layers of random (incompressible) bytes, 64 KiB of content each.</summary>
    private static Task<IImage> RandomImageAsync(BlobStore store, int layers = 1)
        => TestImages.BuildAsync(store, Enumerable.Range(0, layers)
            .Select(i => (IReadOnlyDictionary<string, byte[]>)new Dictionary<string, byte[]> { [$"data{i}.bin"] = RandomNumberGenerator.GetBytes(64 * 1024) })
            .ToList(), Amd64);

    private async Task AssertSkopeoSeesAsync(string repository, string tag, IImage image)
    {
        var (exit, json, error) = await Tools.RunAsync("skopeo", ["inspect", "--tls-verify=false", $"docker://{_registry.Registry}/{repository}:{tag}"]);
        Assert.True(exit == 0, error);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(image.Digest.ToString(), doc.RootElement.GetProperty("Digest").GetString());
    }

    private async Task<IImage> PushDirectAsync(IImage image, string repository, string tag, BlobStore store)
    {
        using var client = NewClient(store);
        await new RegistryOutput(client, _registry.Registry).WriteAsync(image, repository, [tag], CancellationToken.None);
        return image;
    }

    [Fact]
    public async Task A_push_through_500s_and_a_429_with_Retry_After_succeeds_and_retries_each()
    {
        var store = NewStore();
        var image = await RandomImageAsync(store);
        using var proxy = new FaultProxy(_registry.Registry)
            .On("POST", "/blobs/uploads/", new Fault.Status(500), times: 2)
            .On("PUT", "/manifests/", new Fault.Status(429, RetryAfterSeconds: 0))
            .On("HEAD", "/blobs/", new Fault.Status(503));
        var logger = new RecordingLogger();
        using var client = NewClient(store, logger);

        await new RegistryOutput(client, proxy.Registry, logger).WriteAsync(image, "livrable/faults-5xx", ["1"], CancellationToken.None);

        Assert.True(client.Counters.Retries >= 4, string.Join("\n", logger.Lines));
        Assert.Contains(logger.Lines, l => l.Contains("after 429", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Contains("after 500", StringComparison.Ordinal));
        await AssertSkopeoSeesAsync("livrable/faults-5xx", "1", image);
    }

    [Fact]
    public async Task A_registry_failing_every_time_fails_with_a_code_within_the_retry_bound()
    {
        var store = NewStore();
        var image = await RandomImageAsync(store);
        using var proxy = new FaultProxy(_registry.Registry).On("HEAD", "/blobs/", new Fault.Status(502), times: 1000);
        using var client = NewClient(store);

        var e = await Assert.ThrowsAsync<LivrableException>(() => new RegistryOutput(client, proxy.Registry).WriteAsync(image, "livrable/faults-down", ["1"], CancellationToken.None));

        Assert.Equal(DiagnosticCodes.RegistryProtocol, e.Code);
        Assert.Contains("502", e.Message);
        // Each blob's HEAD tried at most MaxAttempts times; no manifest was put. (The one manifest HEAD per tag that
        // comes first, to find an image already there, is no blob's.)
        Assert.True(proxy.Requests.Count(r => r.StartsWith("HEAD", StringComparison.Ordinal) && r.Contains("/blobs/", StringComparison.Ordinal)) <= 2 * Quick.MaxAttempts);
        Assert.DoesNotContain(proxy.Requests, r => !r.StartsWith("HEAD", StringComparison.Ordinal) && r.Contains("/manifests/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_chunked_upload_whose_PATCH_connection_breaks_resumes_from_the_upload_status()
    {
        var store = NewStore();
        var image = await RandomImageAsync(store);
        using var proxy = new FaultProxy(_registry.Registry);
        var logger = new RecordingLogger();
        using var client = NewClient(store, logger, new RegistryOptions
        {
            Credentials = AnonymousCredentialProvider.Instance, Retry = Quick, ForceChunkedUploads = true, ChunkSize = 16 * 1024,
        });
        // The layer's third chunk (the config is smaller than one): two chunks are on the registry when the connection breaks.
        proxy.On("PATCH", "/blobs/uploads/", new Fault.DropRequest(), header: "Content-Range", headerPrefix: "32768-");
        var layer = image.Manifest.Layers[0];
        Assert.True(layer.Size > 3 * 16 * 1024);

        try
        {
            await new RegistryOutput(client, proxy.Registry, logger).WriteAsync(image, "livrable/faults-resume", ["1"], CancellationToken.None);
        }
        catch (LivrableException e)
        {
            Assert.Fail(e.Message + "\n" + string.Join("\n", proxy.Requests) + "\n" + string.Join("\n", logger.Lines));
        }

        var resumed = Assert.Single(logger.Lines, l => l.Contains("Resuming the upload of " + layer.Digest, StringComparison.Ordinal));
        Assert.Contains("at byte 32768 of", resumed);
        // The session went on: its status was asked, the chunk at 32768 sent again, and the upload not started over.
        Assert.Contains(proxy.Requests, r => r.StartsWith("GET /v2/livrable/faults-resume/blobs/uploads/", StringComparison.Ordinal));
        Assert.Equal(2, proxy.Requests.Count(r => r.StartsWith("POST", StringComparison.Ordinal)));
        await AssertSkopeoSeesAsync("livrable/faults-resume", "1", image);
        var copied = _temp["copied"];
        var (exit, _, error) = await Tools.RunAsync("skopeo", ["--insecure-policy", "copy", "--src-tls-verify=false", $"docker://{_registry.Registry}/livrable/faults-resume:1", $"oci:{copied}:1"]);
        Assert.True(exit == 0, error);
        Assert.Equal(await File.ReadAllBytesAsync(store.PathOf(layer.Digest)),
            await File.ReadAllBytesAsync(Path.Combine(copied, "blobs", "sha256", layer.Digest.Hex)));
    }

    [Fact]
    public async Task Relative_Locations_and_PATCH_answered_201_are_followed_and_blobs_go_before_the_manifest_before_tags()
    {
        var store = NewStore();
        var image = await RandomImageAsync(store, layers: 2);
        using var proxy = new FaultProxy(_registry.Registry)
            .On("POST", "/blobs/uploads/", new Fault.Rewrite(RelativeLocation: true), times: 100)
            .On("PATCH", "/blobs/uploads/", new Fault.Rewrite(NewStatus: 201, RelativeLocation: true), times: 100);
        using var client = NewClient(store, options: new RegistryOptions
        {
            Credentials = AnonymousCredentialProvider.Instance, Retry = Quick, ForceChunkedUploads = true, ChunkSize = 16 * 1024,
        });

        await new RegistryOutput(client, proxy.Registry).WriteAsync(image, "livrable/faults-relative", ["a", "b"], CancellationToken.None);

        await AssertSkopeoSeesAsync("livrable/faults-relative", "a", image);
        var requests = proxy.Requests.ToList();
        int lastBlob = requests.FindLastIndex(r => r.Contains("/blobs/", StringComparison.Ordinal));
        int byDigest = requests.FindIndex(r => r.StartsWith($"PUT /v2/livrable/faults-relative/manifests/{image.Digest}", StringComparison.Ordinal));
        int firstTag = requests.FindIndex(r => r.StartsWith("PUT /v2/livrable/faults-relative/manifests/a", StringComparison.Ordinal));
        Assert.True(lastBlob < byDigest && byDigest < firstTag, string.Join("\n", requests));
    }

    [Fact]
    public async Task A_pull_whose_connection_breaks_mid_blob_resumes_with_Range_and_verifies()
    {
        var pushStore = NewStore();
        var image = await PushDirectAsync(await RandomImageAsync(pushStore), "livrable/faults-pull", "1", pushStore);
        var layer = image.Manifest.Layers[0];
        using var proxy = new FaultProxy(_registry.Registry).On("GET", "/blobs/" + layer.Digest, new Fault.DropMidBody(layer.Size / 2));
        var pullStore = NewStore();
        var logger = new RecordingLogger();
        using var client = NewClient(pullStore, logger);

        var pulled = await new RegistryImageSource(client, proxy.Registry, "livrable/faults-pull", "1").ResolveAsync(Amd64, CancellationToken.None);
        await ImageValidator.ValidateAsync(pulled);

        Assert.Contains(proxy.Requests, r => r.StartsWith("GET /v2/livrable/faults-pull/blobs/" + layer.Digest, StringComparison.Ordinal) && r.Contains("bytes=", StringComparison.Ordinal));
        Assert.Contains(logger.Lines, l => l.Contains($"Resuming {layer.Digest}", StringComparison.Ordinal));
        Assert.Equal(await File.ReadAllBytesAsync(pushStore.PathOf(layer.Digest)), await File.ReadAllBytesAsync(pullStore.PathOf(layer.Digest)));
    }

    [Fact]
    public async Task A_blob_corrupted_in_transit_is_LIV4001_and_never_cached_and_the_next_pull_succeeds()
    {
        var pushStore = NewStore();
        var image = await PushDirectAsync(await RandomImageAsync(pushStore), "livrable/faults-corrupt", "1", pushStore);
        var layer = image.Manifest.Layers[0];
        using var proxy = new FaultProxy(_registry.Registry).On("GET", "/blobs/" + layer.Digest, new Fault.CorruptByte(1000));
        var pullStore = NewStore();
        using var client = NewClient(pullStore);

        var pulled = await new RegistryImageSource(client, proxy.Registry, "livrable/faults-corrupt", "1").ResolveAsync(Amd64, CancellationToken.None);
        var e = await Assert.ThrowsAsync<LivrableException>(() => pulled.Layers[0].OpenAsync(CancellationToken.None));
        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
        Assert.False(pullStore.Contains(layer.Digest));
        Assert.Empty(Directory.GetFiles(pullStore.TempDirectory));

        // The fault fired once: the same image pulls whole now.
        await ImageValidator.ValidateAsync(pulled);
        Assert.True(pullStore.Contains(layer.Digest));
    }

    [Fact]
    public async Task A_slow_body_is_pulled_whole()
    {
        var pushStore = NewStore();
        var image = await PushDirectAsync(await RandomImageAsync(pushStore), "livrable/faults-slow", "1", pushStore);
        var layer = image.Manifest.Layers[0];
        using var proxy = new FaultProxy(_registry.Registry).On("GET", "/blobs/" + layer.Digest, new Fault.Slow(8 * 1024, TimeSpan.FromMilliseconds(20)));
        using var client = NewClient(NewStore());

        var pulled = await new RegistryImageSource(client, proxy.Registry, "livrable/faults-slow", "1").ResolveAsync(Amd64, CancellationToken.None);
        await ImageValidator.ValidateAsync(pulled);
    }

    [Fact]
    public async Task Layers_are_pulled_concurrently_at_most_four_at_a_time()
    {
        var pushStore = NewStore();
        var image = await PushDirectAsync(await RandomImageAsync(pushStore, layers: 6), "livrable/faults-concurrent", "1", pushStore);
        using var proxy = new FaultProxy(_registry.Registry) { CountInFlight = "/blobs/sha256:" };
        // Slow bodies keep each download open long enough for the others to start.
        foreach (var l in image.Manifest.Layers)
            proxy.On("GET", "/blobs/" + l.Digest, new Fault.Slow(16 * 1024, TimeSpan.FromMilliseconds(50)));
        var logger = new RecordingLogger();
        using var client = NewClient(NewStore(), logger);

        var pulled = await new RegistryImageSource(client, proxy.Registry, "livrable/faults-concurrent", "1").ResolveAsync(Amd64, CancellationToken.None);
        await ((RegistryImage)pulled).DownloadLayersAsync(CancellationToken.None);

        Assert.InRange(proxy.MaxInFlight, 2, 4);
        Assert.Equal(6, logger.Lines.Count(l => l.StartsWith("detail: Pulled sha256:", StringComparison.Ordinal)));
        await ImageValidator.ValidateAsync(pulled);
    }

    [Fact]
    public async Task A_blob_redirected_to_another_host_gets_no_credentials_and_none_are_logged()
    {
        const string user = "livrable", password = "s3cret-pass";
        var store = NewStore();
        var image = await RandomImageAsync(store);
        var credentials = new CredentialResolver(name => name switch
        {
            "LIVRABLE_REGISTRY_USER" => user,
            "LIVRABLE_REGISTRY_PASSWORD" => password,
            "HOME" => _temp.Path,
            _ => null,
        });
        var logger = new RecordingLogger();
        var layer = image.Manifest.Layers[0];
        using var storage = new RecordingServer();
        storage.Serve("/bucket/" + layer.Digest.Hex, await File.ReadAllBytesAsync(store.PathOf(layer.Digest)));
        using var proxy = new FaultProxy(_authRegistry.Registry)
            .On("GET", "/blobs/" + layer.Digest, new Fault.Redirect(storage.Url("/bucket/" + layer.Digest.Hex)));

        using (var pusher = new RegistryClient(new RegistryOptions { Credentials = credentials, Retry = Quick }, store, logger))
            await new RegistryOutput(pusher, proxy.Registry, logger).WriteAsync(image, "livrable/faults-redirect", ["1"], CancellationToken.None);
        using var client = new RegistryClient(new RegistryOptions { Credentials = credentials, Retry = Quick }, NewStore(), logger);
        var pulled = await new RegistryImageSource(client, proxy.Registry, "livrable/faults-redirect", "1").ResolveAsync(Amd64, CancellationToken.None);
        await ImageValidator.ValidateAsync(pulled);

        var received = Assert.Single(storage.Received);
        Assert.False(received.ContainsKey("Authorization"), string.Join("\n", received.Select(h => $"{h.Key}: {h.Value}")));
        string basic = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{user}:{password}"));
        Assert.DoesNotContain(logger.Lines, l => l.Contains(password, StringComparison.Ordinal) || l.Contains(basic, StringComparison.Ordinal));
    }

    /// <summary>
    /// A base named by a tag: the first build, on an empty state folder, asks with a GET alone (nothing can be kept
    /// there: issue 14, a round trip less on every cold build); a later build (each opens its store) asks with one
    /// HEAD, which finds the kept manifest; a registry whose HEAD fails is asked with a GET.
    /// </summary>
    [Fact]
    public async Task A_kept_base_is_asked_for_with_one_HEAD_and_a_registry_whose_HEAD_fails_is_asked_with_a_GET()
    {
        string repository = $"fault/kept-{Guid.NewGuid():N}"[..24];
        var pushed = await PushDirectAsync(await RandomImageAsync(NewStore()), repository, "v1", NewStore());
        string folder = NewStore().Root;
        using var proxy = new FaultProxy(_registry.Registry);
        var keeping = new RegistryOptions { Credentials = AnonymousCredentialProvider.Instance, Retry = Quick, KeepDocuments = true };
        using (var client = NewClient(new BlobStore(folder), options: keeping))
            await new RegistryImageSource(client, proxy.Registry, repository, "v1").ResolveAsync(Amd64, CancellationToken.None);
        Assert.Equal([$"GET /v2/{repository}/manifests/v1"], proxy.Requests.Where(r => r.Contains("/manifests/", StringComparison.Ordinal)));
        proxy.Requests.Clear();
        var store = new BlobStore(folder);
        using (var client = NewClient(store, options: keeping))
            Assert.Equal(pushed.Digest, (await new RegistryImageSource(client, proxy.Registry, repository, "v1").ResolveAsync(Amd64, CancellationToken.None)).Digest);
        Assert.Equal([$"HEAD /v2/{repository}/manifests/v1"], proxy.Requests);

        // A HEAD answered 503 on every try (a proxy that mishandles HEAD): the GET that a first pull makes still works.
        proxy.On("HEAD", "/manifests/", new Fault.Status(503), times: 1000);
        proxy.Requests.Clear();
        using (var client = NewClient(store, options: keeping))
            Assert.Equal(pushed.Digest, (await new RegistryImageSource(client, proxy.Registry, repository, "v1").ResolveAsync(Amd64, CancellationToken.None)).Digest);
        Assert.Contains($"GET /v2/{repository}/manifests/v1", proxy.Requests);
    }
}
