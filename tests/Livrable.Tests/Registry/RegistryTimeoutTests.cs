using System.Diagnostics;
using System.Security.Cryptography;
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
/// Issue 10, items 5 and 7: a registry that accepts a request and goes silent (before its answer, or part way through
/// a blob) is given up after the idle timeout, retried like a dropped connection, and ends in LIV3012 naming the host;
/// a blob whose connection breaks before its end on every try ends in LIV3013, not in an internal error. Through a
/// <see cref="FaultProxy"/> in front of the real registry, with a 300 ms timeout and millisecond retry delays.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class RegistryTimeoutTests(RegistryFixture registry) : IDisposable
{
    private static readonly Platform Amd64 = new("linux", "amd64");
    private static readonly RetryPolicy Quick = new() { BaseDelay = TimeSpan.FromMilliseconds(5), MaxDelay = TimeSpan.FromMilliseconds(50), MaxTotalDelay = TimeSpan.FromSeconds(2) };
    private static readonly TimeSpan Idle = TimeSpan.FromMilliseconds(300);

    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private BlobStore NewStore() => new(_temp["store-" + Guid.NewGuid().ToString("N")[..8]]);

    private static RegistryClient NewClient(BlobStore store, ILogger? logger = null)
        => new(new RegistryOptions { Credentials = AnonymousCredentialProvider.Instance, Retry = Quick, IdleTimeout = Idle }, store, logger ?? NullLogger.Instance);

    /// <summary>Before the fix these hang forever: the bound makes them fail instead.</summary>
    private static CancellationToken Bounded() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    private async Task<IImage> PushedAsync(string repository)
    {
        var store = NewStore();
        var image = await TestImages.BuildAsync(store, [new Dictionary<string, byte[]> { ["data.bin"] = RandomNumberGenerator.GetBytes(64 * 1024) }], Amd64);
        using var client = NewClient(store);
        await new RegistryOutput(client, registry.Registry).WriteAsync(image, repository, ["1"], CancellationToken.None);
        return image;
    }

    [Fact]
    public async Task A_blob_GET_that_is_never_answered_once_is_retried_and_pulled()
    {
        var image = await PushedAsync("timeout/once");
        var layer = image.Manifest.Layers[0];
        using var proxy = new FaultProxy(registry.Registry).On("GET", "/blobs/" + layer.Digest, new Fault.Hang());
        var logger = new RecordingLogger();
        using var client = NewClient(NewStore(), logger);

        var pulled = await new RegistryImageSource(client, proxy.Registry, "timeout/once", "1").ResolveAsync(Amd64, Bounded());
        await ((RegistryImage)pulled).DownloadLayersAsync(Bounded());
        await ImageValidator.ValidateAsync(pulled);

        Assert.True(client.Counters.Retries >= 1);
        Assert.Contains(logger.Lines, l => l.Contains("sent nothing for 0.3 s", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_blob_GET_never_answered_is_LIV3012_naming_the_host_within_the_retry_bound()
    {
        var image = await PushedAsync("timeout/never");
        var layer = image.Manifest.Layers[0];
        using var proxy = new FaultProxy(registry.Registry).On("GET", "/blobs/" + layer.Digest, new Fault.Hang(), times: 1000);
        using var client = NewClient(NewStore());
        var pulled = await new RegistryImageSource(client, proxy.Registry, "timeout/never", "1").ResolveAsync(Amd64, Bounded());
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<LivrableException>(() => pulled.Layers[0].OpenAsync(Bounded()));

        Assert.Equal(DiagnosticCodes.RegistryTimeout, e.Code);
        Assert.Contains(proxy.Registry, e.Message);
        Assert.Contains("ContainerRegistryTimeout", e.Message);
        Assert.Equal(Quick.MaxAttempts, proxy.Requests.Count(r => r.StartsWith("GET /v2/timeout/never/blobs/" + layer.Digest, StringComparison.Ordinal)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), clock.Elapsed.ToString());
    }

    [Fact]
    public async Task A_blob_body_that_stalls_part_way_on_every_try_is_LIV3012()
    {
        var image = await PushedAsync("timeout/stall");
        var layer = image.Manifest.Layers[0];
        using var proxy = new FaultProxy(registry.Registry).On("GET", "/blobs/" + layer.Digest, new Fault.StallMidBody(1000), times: 1000);
        using var client = NewClient(NewStore());
        var pulled = await new RegistryImageSource(client, proxy.Registry, "timeout/stall", "1").ResolveAsync(Amd64, Bounded());

        var e = await Assert.ThrowsAsync<LivrableException>(() => pulled.Layers[0].OpenAsync(Bounded()));

        Assert.Equal(DiagnosticCodes.RegistryTimeout, e.Code);
        Assert.Contains(proxy.Registry, e.Message);
        // The tries after the first resumed where the bytes stopped.
        Assert.Contains(proxy.Requests, r => r.Contains("bytes=1000-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_manifest_GET_never_answered_is_LIV3012()
    {
        await PushedAsync("timeout/manifest");
        using var proxy = new FaultProxy(registry.Registry).On("GET", "/manifests/1", new Fault.Hang(), times: 1000);
        using var client = NewClient(NewStore());

        var e = await Assert.ThrowsAsync<LivrableException>(() => client.GetManifestAsync(proxy.Registry, "timeout/manifest", "1", Bounded()));

        Assert.Equal(DiagnosticCodes.RegistryTimeout, e.Code);
        Assert.Contains(proxy.Registry, e.Message);
    }

    [Fact]
    public async Task An_upload_whose_answer_never_comes_once_starts_over_and_the_push_succeeds()
    {
        var store = NewStore();
        var image = await TestImages.BuildAsync(store, [new Dictionary<string, byte[]> { ["data.bin"] = RandomNumberGenerator.GetBytes(64 * 1024) }], Amd64);
        using var proxy = new FaultProxy(registry.Registry).On("PUT", "/blobs/uploads/", new Fault.Hang());
        using var client = NewClient(store);

        await new RegistryOutput(client, proxy.Registry).WriteAsync(image, "timeout/upload", ["1"], Bounded());

        Assert.True(client.Counters.Retries >= 1);
        var (exit, _, error) = await Tools.RunAsync("skopeo", ["inspect", "--tls-verify=false", $"docker://{registry.Registry}/timeout/upload:1"]);
        Assert.True(exit == 0, error);
    }

    [Fact]
    public async Task A_blob_cut_short_on_every_try_is_LIV3013_after_the_retries_not_an_internal_error()
    {
        var image = await PushedAsync("timeout/truncated");
        var layer = image.Manifest.Layers[0];
        using var proxy = new FaultProxy(registry.Registry).On("GET", "/blobs/" + layer.Digest, new Fault.DropMidBody(1000), times: 1000);
        var pullStore = NewStore();
        using var client = NewClient(pullStore);
        var pulled = await new RegistryImageSource(client, proxy.Registry, "timeout/truncated", "1").ResolveAsync(Amd64, Bounded());

        var e = await Assert.ThrowsAsync<LivrableException>(() => pulled.Layers[0].OpenAsync(Bounded()));

        Assert.Equal(DiagnosticCodes.BlobTruncated, e.Code);
        Assert.Contains(layer.Digest.ToString(), e.Message);
        // Each try resumed where the last stopped and got up to 1000 bytes more (a reset may discard some unread).
        Assert.Matches($@"broke off at byte \d+ of {layer.Size}, {Quick.MaxAttempts} times in a row", e.Message);
        Assert.False(pullStore.Contains(layer.Digest));
        // One GET per resumed try (a reset that beats the answer's head is retried by the request itself, hence at least).
        Assert.InRange(proxy.Requests.Count(r => r.StartsWith("GET /v2/timeout/truncated/blobs/" + layer.Digest, StringComparison.Ordinal)),
            Quick.MaxAttempts, Quick.MaxAttempts * Quick.MaxAttempts);
    }
}
