using System.Text.Json;

namespace Livrable.Images;

/// <summary>
/// A list of manifests, one per platform: an OCI image index
/// (https://github.com/opencontainers/image-spec/blob/main/image-index.md) or a Docker manifest list.
/// </summary>
public sealed record ImageIndex(string MediaType, IReadOnlyList<Descriptor> Manifests)
{
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    /// <summary>Parses index bytes; refuses a document that also has <c>layers</c>.</summary>
    public static ImageIndex Parse(ReadOnlyMemory<byte> bytes, string? mediaTypeHint = null)
    {
        using var doc = Json.Parse(bytes, "the index");
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Descriptor.Invalid("The index is not a JSON object");
        if (root.TryGetProperty("layers", out _) || root.TryGetProperty("config", out _))
            throw Descriptor.Invalid("The index has 'layers' or 'config' besides 'manifests'; it is neither an image nor an index");
        string mediaType = Json.OptionalString(root, "mediaType") ?? mediaTypeHint ?? MediaTypes.OciIndex;
        if (!MediaTypes.IsIndex(mediaType)) throw Descriptor.Invalid($"The index has media type '{mediaType}', not an index");
        if (!root.TryGetProperty("manifests", out var ms) || ms.ValueKind != JsonValueKind.Array)
            throw Descriptor.Invalid("The index has no 'manifests' array");
        var list = new List<Descriptor>();
        int i = 0;
        foreach (var m in ms.EnumerateArray()) list.Add(Descriptor.Read(m, $"index entry {i++}"));
        return new ImageIndex(mediaType, list) { Annotations = Json.ReadStringMap(root, "annotations") };
    }

    /// <summary>
    /// The entry for <paramref name="platform"/>, or null. Attestation manifests (BuildKit's <c>unknown/unknown</c>)
    /// never match, since no runtime identifier maps to them.
    /// </summary>
    public Descriptor? Select(Platform platform)
        => Manifests.FirstOrDefault(m => m.Platform is not null && platform.Matches(m.Platform) && MediaTypes.IsManifest(m.MediaType));

    public byte[] ToBytes() => Json.Write(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("schemaVersion", 2);
        w.WriteString("mediaType", MediaType);
        w.WriteStartArray("manifests");
        foreach (var m in Manifests) m.Write(w);
        w.WriteEndArray();
        if (Annotations is { Count: > 0 } && MediaType == MediaTypes.OciIndex) Json.WriteStringMap(w, "annotations", Annotations);
        w.WriteEndObject();
    });

    /// <summary>Whether the bytes are an index rather than a manifest, by media type or by shape.</summary>
    public static bool LooksLikeIndex(ReadOnlySpan<byte> bytes, string? mediaTypeHint)
    {
        if (MediaTypes.IsIndex(mediaTypeHint)) return true;
        if (MediaTypes.IsManifest(mediaTypeHint)) return false;
        var reader = new Utf8JsonReader(bytes);
        try
        {
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return false;
            string? mt = Json.OptionalString(root, "mediaType");
            if (mt is not null) return MediaTypes.IsIndex(mt);
            return root.TryGetProperty("manifests", out _);
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
