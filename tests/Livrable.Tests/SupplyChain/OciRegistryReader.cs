using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Xunit;

namespace Livrable.Tests.SupplyChain;

/// <summary>
/// The tests' own reader of a registry, written from distribution-spec 1.1 and not from Livrable's client: GET a
/// manifest by tag or digest (with the OCI and Docker media types in Accept), GET a blob, and the referrers API; every
/// digest is checked against the bytes. Basic auth when the registry has it.
/// </summary>
internal sealed class OciRegistryReader : IDisposable
{
    private readonly HttpClient _http = new();
    private readonly string _registry;

    public OciRegistryReader(string registry, (string User, string Password)? credentials)
    {
        _registry = registry;
        if (credentials is { } c)
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{c.User}:{c.Password}")));
    }

    public async Task<(byte[] Bytes, string MediaType)?> ManifestAsync(string repository, string reference)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{_registry}/v2/{repository}/manifests/{reference}");
        foreach (string type in new[] { "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.v2+json" })
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        using var response = await _http.SendAsync(request);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        byte[] bytes = await response.Content.ReadAsByteArrayAsync();
        if (reference.StartsWith("sha256:", StringComparison.Ordinal)) Assert.Equal(reference, Sha256(bytes));
        return (bytes, response.Content.Headers.ContentType?.MediaType ?? "");
    }

    public async Task<byte[]> BlobAsync(string repository, string digest)
    {
        byte[] bytes = await _http.GetByteArrayAsync($"http://{_registry}/v2/{repository}/blobs/{digest}");
        Assert.Equal(digest, Sha256(bytes));
        return bytes;
    }

    /// <summary>Pushes a blob (monolithic POST then PUT) and a manifest, for a referrer the test adds itself.</summary>
    public async Task PushBlobAsync(string repository, byte[] bytes)
    {
        using var post = await _http.PostAsync($"http://{_registry}/v2/{repository}/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        var location = new Uri(new Uri($"http://{_registry}"), post.Headers.Location!);
        string separator = location.Query.Length > 0 ? "&" : "?";
        using var put = await _http.PutAsync($"{location}{separator}digest={Sha256(bytes)}", new ByteArrayContent(bytes));
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
    }

    public async Task PutManifestAsync(string repository, string reference, byte[] bytes, string mediaType)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using var put = await _http.PutAsync($"http://{_registry}/v2/{repository}/manifests/{reference}", content);
        Assert.True(put.StatusCode == HttpStatusCode.Created, $"{put.StatusCode}: {await put.Content.ReadAsStringAsync()}");
    }

    /// <summary>
    /// The referrers of <paramref name="digest"/> as distribution-spec 1.1 says a client finds them: the referrers
    /// API when the registry has it, else the index tagged <c>sha256-HEX</c> (the referrers tag schema).
    /// </summary>
    public async Task<(JsonElement[] Manifests, bool ViaApi)> ReferrersAsync(string repository, string digest)
    {
        using var response = await _http.GetAsync($"http://{_registry}/v2/{repository}/referrers/{digest}");
        if (response.StatusCode == HttpStatusCode.OK && response.Content.Headers.ContentType?.MediaType == "application/vnd.oci.image.index.v1+json")
            return (JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync()).RootElement.GetProperty("manifests").EnumerateArray().ToArray(), true);
        var tagged = await ManifestAsync(repository, digest.Replace(':', '-'));
        if (tagged is null) return ([], false);
        var index = JsonDocument.Parse(tagged.Value.Bytes).RootElement;
        Assert.Equal("application/vnd.oci.image.index.v1+json", index.GetProperty("mediaType").GetString());
        return (index.GetProperty("manifests").EnumerateArray().ToArray(), false);
    }

    public static string Sha256(byte[] bytes) => "sha256:" + Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();

    public void Dispose() => _http.Dispose();
}
