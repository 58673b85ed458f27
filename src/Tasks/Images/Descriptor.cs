using System.Text.Json;
using Livrable.Diagnostics;

namespace Livrable.Images;

/// <summary>
/// What points at a blob: its media type, digest and size
/// (https://github.com/opencontainers/image-spec/blob/main/descriptor.md). The size bounds every read of the blob.
/// </summary>
public sealed record Descriptor(string MediaType, Digest Digest, long Size)
{
    /// <summary>The platform, for entries of an index.</summary>
    public Platform? Platform { get; init; }

    /// <summary>Annotations, written sorted by key so that output is stable.</summary>
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    /// <summary>Reads a descriptor object; <paramref name="what"/> names it in errors.</summary>
    public static Descriptor Read(JsonElement e, string what)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw Invalid($"{what} is not a JSON object");
        string mediaType = Json.RequiredString(e, "mediaType", what);
        var digest = Digest.Parse(Json.RequiredString(e, "digest", what));
        if (!e.TryGetProperty("size", out var size) || size.ValueKind != JsonValueKind.Number || !size.TryGetInt64(out long n) || n < 0)
            throw Invalid($"{what} has no valid 'size'");
        Platform? platform = e.TryGetProperty("platform", out var p) && p.ValueKind == JsonValueKind.Object ? Platform.Read(p) : null;
        return new Descriptor(mediaType, digest, n) { Platform = platform, Annotations = Json.ReadStringMap(e, "annotations") };
    }

    /// <summary>Writes this descriptor as an object; the field order is fixed so digests are reproducible.</summary>
    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("mediaType", MediaType);
        w.WriteString("digest", Digest.ToString());
        w.WriteNumber("size", Size);
        if (Annotations is { Count: > 0 }) Json.WriteStringMap(w, "annotations", Annotations);
        if (Platform is not null)
        {
            w.WritePropertyName("platform");
            Platform.Write(w);
        }
        w.WriteEndObject();
    }

    internal static LivrableException Invalid(string message) => new(DiagnosticCodes.InvalidImage, message + ".");
}
