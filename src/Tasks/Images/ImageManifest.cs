using System.Text.Json;

namespace Livrable.Images;

/// <summary>
/// A single-image manifest: a config and an ordered list of layers. Reads both the OCI image manifest
/// (https://github.com/opencontainers/image-spec/blob/main/manifest.md) and Docker's schema 2; writes either.
/// </summary>
public sealed record ImageManifest(string MediaType, Descriptor Config, IReadOnlyList<Descriptor> Layers)
{
    /// <summary>Manifest annotations (OCI only).</summary>
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    /// <summary>The family of this manifest.</summary>
    public ImageFormat Format => MediaType == MediaTypes.DockerManifest ? ImageFormat.Docker : ImageFormat.Oci;

    /// <summary>
    /// Parses manifest bytes. <paramref name="mediaTypeHint"/> is the Content-Type or descriptor media type, used when the
    /// document has no <c>mediaType</c> field (allowed in OCI). A document that also has <c>manifests</c> is refused:
    /// it is ambiguous, and the spec forbids it.
    /// </summary>
    public static ImageManifest Parse(ReadOnlyMemory<byte> bytes, string? mediaTypeHint = null)
    {
        using var doc = Json.Parse(bytes, "the manifest");
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Descriptor.Invalid("The manifest is not a JSON object");
        if (!root.TryGetProperty("schemaVersion", out var sv) || sv.ValueKind != JsonValueKind.Number || sv.GetInt32() != 2)
            throw Descriptor.Invalid("The manifest's schemaVersion is not 2 (schema 1 manifests are not supported)");
        if (root.TryGetProperty("manifests", out _))
            throw Descriptor.Invalid("The manifest has both 'manifests' and 'layers'; it is neither an image nor an index");
        string mediaType = Json.OptionalString(root, "mediaType") ?? mediaTypeHint ?? MediaTypes.OciManifest;
        if (!MediaTypes.IsManifest(mediaType))
            throw Descriptor.Invalid($"The manifest has media type '{mediaType}', not an image manifest");
        if (!root.TryGetProperty("config", out var config)) throw Descriptor.Invalid("The manifest has no 'config'");
        if (!root.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array)
            throw Descriptor.Invalid("The manifest has no 'layers' array");
        var list = new List<Descriptor>();
        int i = 0;
        foreach (var l in layers.EnumerateArray()) list.Add(Descriptor.Read(l, $"layer {i++}"));
        return new ImageManifest(mediaType, Descriptor.Read(config, "the config descriptor"), list)
        {
            Annotations = Json.ReadStringMap(root, "annotations"),
        };
    }

    /// <summary>The canonical bytes of this manifest; the same manifest always gives the same bytes.</summary>
    public byte[] ToBytes() => Json.Write(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("schemaVersion", 2);
        w.WriteString("mediaType", MediaType);
        w.WritePropertyName("config");
        Config.Write(w);
        w.WriteStartArray("layers");
        foreach (var l in Layers) l.Write(w);
        w.WriteEndArray();
        if (Annotations is { Count: > 0 } && Format == ImageFormat.Oci) Json.WriteStringMap(w, "annotations", Annotations);
        w.WriteEndObject();
    });
}
