using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Outputs;
using Livrable.Registry;
using Livrable.Store;
using Livrable.SupplyChain.Referrers;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.SupplyChain;

/// <summary>
/// Artifacts pushed about an image on the two kinds of registry distribution-spec 1.1 describes: one with the referrers
/// API (the real docker-registry behind <see cref="ReferrersApiHandler"/>, which answers <c>OCI-Subject</c> and
/// <c>GET /v2/NAME/referrers/DIGEST</c> as the spec says), where no referrers tag may be written; and Distribution 2.8
/// as it is, where the referrers tag schema's index is.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class ReferrersTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly RegistryFixture _registry;

    public ReferrersTests(RegistryFixture registry) => _registry = registry;

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_registry_with_the_referrers_api_lists_the_artifact_and_gets_no_referrers_tag()
    {
        var api = new ReferrersApiHandler(new SocketsHttpHandler());
        var (digest, artifact, indexed) = await PushAsync("with-api", api);
        Assert.True(indexed);
        using var reader = new OciRegistryReader(_registry.Registry, null);
        Assert.Null(await reader.ManifestAsync("with-api", ReferrersPublisher.TagFor(digest)));
        using var http = new HttpClient(api, disposeHandler: false);
        using var response = await http.GetAsync($"http://{_registry.Registry}/v2/with-api/referrers/{digest}");
        var entry = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync()).RootElement.GetProperty("manifests").EnumerateArray().Single();
        Assert.Equal(artifact.Digest.ToString(), entry.GetProperty("digest").GetString());
        Assert.Equal("application/spdx+json", entry.GetProperty("artifactType").GetString());
    }

    [Fact]
    public async Task Distribution_2_8_gets_the_referrers_tag_and_a_tag_that_is_not_an_index_is_LIV3040()
    {
        var (digest, artifact, indexed) = await PushAsync("tag-schema", null);
        Assert.False(indexed);
        using var reader = new OciRegistryReader(_registry.Registry, null);
        var (manifests, viaApi) = await reader.ReferrersAsync("tag-schema", digest.ToString());
        Assert.False(viaApi);
        Assert.Equal(artifact.Digest.ToString(), Assert.Single(manifests).GetProperty("digest").GetString());

        // Another tool put an image under the referrers tag: it is never overwritten.
        var store = new BlobStore(_temp["store2"]);
        using var client = new RegistryClient(new RegistryOptions(), store, NullLogger.Instance);
        var other = await TestImages.BuildAsync(store, [new Dictionary<string, string> { ["other.txt"] = "other\n" }]);
        await new RegistryOutput(client, _registry.Registry).WriteAsync(other, "tag-schema", [ReferrersPublisher.TagFor(digest)], CancellationToken.None);
        var e = await Assert.ThrowsAsync<LivrableException>(() => ReferrersPublisher.PushAsync(client, _registry.Registry, "tag-schema", digest,
            [artifact], NullLogger.Instance, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.ReferrersTagNotIndex, e.Code);
        Assert.Equal(OciRegistryReader.Sha256(other.ManifestBytes), OciRegistryReader.Sha256((await reader.ManifestAsync("tag-schema", ReferrersPublisher.TagFor(digest)))!.Value.Bytes));
    }

    private async Task<(Digest Digest, Artifact Artifact, bool Indexed)> PushAsync(string repository, HttpMessageHandler? handler)
    {
        var store = new BlobStore(_temp["store-" + repository]);
        using var client = new RegistryClient(new RegistryOptions { Handler = handler }, store, NullLogger.Instance);
        var image = await TestImages.SimpleAsync(store);
        await new RegistryOutput(client, _registry.Registry).WriteAsync(image, repository, ["v1"], CancellationToken.None);
        var subject = new Descriptor(image.Manifest.MediaType, image.Digest, image.ManifestBytes.Length);
        var artifact = new Artifact("application/spdx+json", Encoding.UTF8.GetBytes("{\"spdxVersion\":\"SPDX-2.3\"}"), subject, new Dictionary<string, string> { ["k"] = "v" });
        bool indexed = await ReferrersPublisher.PushAsync(client, _registry.Registry, repository, image.Digest, [artifact], NullLogger.Instance, CancellationToken.None);
        return (image.Digest, artifact, indexed);
    }
}

/// <summary>
/// The referrers API of distribution-spec 1.1 in front of a registry that lacks it: a manifest PUT whose body has a
/// <c>subject</c> is answered with <c>OCI-Subject</c> and recorded; <c>GET /v2/NAME/referrers/DIGEST</c> answers the
/// index of what was recorded for that subject (descriptors with <c>artifactType</c> and annotations). Everything else
/// passes through unchanged.
/// </summary>
internal sealed class ReferrersApiHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<JsonObject>> _referrers = new();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string path = request.RequestUri!.AbsolutePath;
        int at = path.IndexOf("/referrers/", StringComparison.Ordinal);
        if (request.Method == HttpMethod.Get && at > 0)
        {
            string key = path[4..at] + "@" + path[(at + "/referrers/".Length)..];
            var manifests = new JsonArray(_referrers.GetValueOrDefault(key)?.Select(e => (JsonNode)e.DeepClone()).ToArray() ?? []);
            var index = new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = manifests };
            var content = new StringContent(index.ToJsonString(), Encoding.UTF8);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(MediaTypes.OciIndex);
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
        }
        byte[]? body = null;
        if (request.Method == HttpMethod.Put && path.Contains("/manifests/", StringComparison.Ordinal) && request.Content is not null)
        {
            body = await request.Content.ReadAsByteArrayAsync(cancellationToken);
            var type = request.Content.Headers.ContentType;
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = type;
        }
        var response = await base.SendAsync(request, cancellationToken);
        if (body is not null && response.StatusCode == HttpStatusCode.Created && JsonNode.Parse(body) is JsonObject manifest && manifest["subject"] is JsonObject subject)
        {
            string repository = path[4..path.IndexOf("/manifests/", StringComparison.Ordinal)];
            var entry = new JsonObject
            {
                ["mediaType"] = manifest["mediaType"]?.GetValue<string>(),
                ["digest"] = OciRegistryReader.Sha256(body),
                ["size"] = body.Length,
                ["artifactType"] = manifest["artifactType"]?.GetValue<string>(),
            };
            if (manifest["annotations"] is JsonObject annotations) entry["annotations"] = annotations.DeepClone();
            _referrers.GetOrAdd(repository + "@" + subject["digest"]!.GetValue<string>(), _ => new()).Enqueue(entry);
            response.Headers.Add("OCI-Subject", subject["digest"]!.GetValue<string>());
        }
        return response;
    }
}
