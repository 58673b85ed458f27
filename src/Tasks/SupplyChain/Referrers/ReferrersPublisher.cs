using System.Text.Json;
using System.Text.Json.Nodes;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;

namespace Livrable.SupplyChain.Referrers;

/// <summary>
/// Pushes artifacts about an image so that the distribution-spec 1.1 referrers API finds them
/// (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-manifests-with-subject): blobs, then
/// each artifact manifest by digest; a registry that answers without <c>OCI-Subject</c> does not index referrers
/// (Distribution 2.8), so the client keeps the referrers tag schema's index itself: the tag <c>ALG-HEX</c> of the
/// subject's digest names an OCI index of every referrer, read, added to (never losing another client's entries) and
/// put back.
/// </summary>
public static class ReferrersPublisher
{
    /// <summary>
    /// Pushes <paramref name="artifacts"/> about the manifest <paramref name="subject"/> of <paramref name="repository"/>.
    /// Returns whether the registry indexed them itself (false: the referrers tag was updated).
    /// </summary>
    /// <exception cref="LivrableException">LIV3040 when the referrers tag names something that is not an OCI index; the registry's errors.</exception>
    public static async Task<bool> PushAsync(RegistryClient client, string registry, string repository, Digest subject,
        IReadOnlyList<Artifact> artifacts, ILogger logger, CancellationToken cancellationToken)
    {
        bool indexed = true;
        foreach (var artifact in artifacts)
        {
            foreach (var (descriptor, bytes) in artifact.Blobs)
                await client.PushBlobAsync(registry, repository, descriptor, _ => Task.FromResult<Stream>(new MemoryStream(bytes, writable: false)), null, cancellationToken).ConfigureAwait(false);
            var (_, processed) = await client.PutReferrerAsync(registry, repository, MediaTypes.OciManifest, artifact.ManifestBytes, cancellationToken).ConfigureAwait(false);
            indexed &= processed;
            logger.Detail($"Pushed {artifact.ArtifactType} artifact {artifact.Digest} about {subject}{(processed ? " (the registry indexes referrers)" : "")}.");
        }
        if (indexed) return true;

        string tag = TagFor(subject);
        byte[]? current = null;
        try
        {
            var existing = await client.GetManifestAsync(registry, repository, tag, cancellationToken).ConfigureAwait(false);
            if (!existing.IsIndex || existing.MediaType != MediaTypes.OciIndex)
                throw new LivrableException(DiagnosticCodes.ReferrersTagNotIndex,
                    $"{registry}/{repository}:{tag}, the referrers tag of {subject}, is a {existing.MediaType}, not an OCI index: Livrable will not replace it. Delete that tag, or push to a registry with the referrers API.");
            current = existing.Bytes;
        }
        catch (LivrableException e) when (e.Code == DiagnosticCodes.ManifestNotFound) { }
        byte[] updated = Merge(current, artifacts);
        await client.PutManifestAsync(registry, repository, tag, MediaTypes.OciIndex, updated, cancellationToken).ConfigureAwait(false);
        logger.Detail($"Updated the referrers tag {registry}/{repository}:{tag} ({artifacts.Count} artifact(s) added).");
        return false;
    }

    /// <summary>The referrers tag schema's tag for <paramref name="digest"/>: <c>ALG-HEX</c>, cut to 128 characters.</summary>
    public static string TagFor(Digest digest)
    {
        string tag = $"{digest.Algorithm}-{digest.Hex}";
        return tag.Length > 128 ? tag[..128] : tag;
    }

    /// <summary>
    /// The referrers index with <paramref name="artifacts"/> added: an existing index keeps every entry and field it
    /// has; an artifact already listed (same digest) is not listed twice.
    /// </summary>
    /// <exception cref="LivrableException">LIV3040 when <paramref name="current"/> is not an index object.</exception>
    public static byte[] Merge(byte[]? current, IReadOnlyList<Artifact> artifacts)
    {
        JsonObject index;
        try
        {
            index = current is null
                ? new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = new JsonArray() }
                : JsonNode.Parse(current) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException e)
        {
            throw new LivrableException(DiagnosticCodes.ReferrersTagNotIndex, $"The referrers tag's index is not valid JSON ({e.Message}): Livrable will not replace it.", inner: e);
        }
        if (index["manifests"] is not JsonArray manifests)
        {
            if (index["manifests"] is not null)
                throw new LivrableException(DiagnosticCodes.ReferrersTagNotIndex, "The referrers tag's index has a 'manifests' that is not a list: Livrable will not replace it.");
            index["manifests"] = manifests = new JsonArray();
        }
        var listed = manifests.OfType<JsonObject>().Select(m => m["digest"]?.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
        foreach (var artifact in artifacts)
        {
            if (!listed.Add(artifact.Digest.ToString())) continue;
            var entry = new JsonObject
            {
                ["mediaType"] = MediaTypes.OciManifest,
                ["digest"] = artifact.Digest.ToString(),
                ["size"] = artifact.ManifestBytes.Length,
                ["artifactType"] = artifact.ArtifactType,
            };
            if (artifact.Annotations.Count > 0)
            {
                var annotations = new JsonObject();
                foreach (var (k, v) in artifact.Annotations.OrderBy(a => a.Key, StringComparer.Ordinal)) annotations[k] = v;
                entry["annotations"] = annotations;
            }
            manifests.Add(entry);
        }
        return System.Text.Encoding.UTF8.GetBytes(index.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }
}
