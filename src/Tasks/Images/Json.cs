using System.Text;
using System.Text.Json;

namespace Livrable.Images;

/// <summary>Small helpers for reading and writing the JSON documents of the image spec.</summary>
internal static class Json
{
    /// <summary>Writer options: no indentation, no escaping of non-ASCII (as Go's encoding/json minus HTML escaping).</summary>
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = false,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Reader options: strict (no comments, no trailing commas).</summary>
    public static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    public static byte[] Write(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions)) write(w);
        return buffer.ToArray();
    }

    public static JsonDocument Parse(ReadOnlyMemory<byte> bytes, string what)
    {
        try
        {
            return JsonDocument.Parse(bytes, DocumentOptions);
        }
        catch (JsonException e)
        {
            throw Descriptor.Invalid($"{what} is not valid JSON: {e.Message}");
        }
    }

    public static string RequiredString(JsonElement e, string name, string what)
        => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()!
            : throw Descriptor.Invalid($"{what} has no string '{name}'");

    public static string? OptionalString(JsonElement e, string name)
        => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static IReadOnlyDictionary<string, string>? ReadStringMap(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var m) || m.ValueKind != JsonValueKind.Object) return null;
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in m.EnumerateObject())
            if (p.Value.ValueKind == JsonValueKind.String) map[p.Name] = p.Value.GetString()!;
        return map;
    }

    public static void WriteStringMap(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, string> map)
    {
        w.WriteStartObject(name);
        foreach (var (k, v) in map.OrderBy(p => p.Key, StringComparer.Ordinal)) w.WriteString(k, v);
        w.WriteEndObject();
    }

    public static string ToText(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
