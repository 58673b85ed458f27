using System.Text;
using System.Text.Json;
using Livrable.Diagnostics;

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

    /// <summary>
    /// Parses one JSON document of the image spec, strictly: anything after the value but white space (trailing
    /// bytes, a second document) is LIV4002, and so is a document nested deeper than 64; a key given twice in one
    /// object is LIV9100. <paramref name="what"/> names the document in errors.
    /// </summary>
    /// <remarks>
    /// Duplicate keys are refused because readers disagree on them: Go's <c>encoding/json</c> (registries, containerd,
    /// Docker) keeps the last value, other readers the first, so a crafted manifest could show one set of layers to a
    /// scanner and another to the runtime. The OCI spec does not allow them either (it requires RFC 8259 objects
    /// whose names "SHOULD be unique"; image-spec's <c>considerations.md</c> requires canonical JSON).
    /// </remarks>
    public static JsonDocument Parse(ReadOnlyMemory<byte> bytes, string what)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes, DocumentOptions);
        }
        catch (JsonException e)
        {
            throw Descriptor.Invalid($"{what} is not valid JSON: {e.Message}");
        }
        try
        {
            CheckUniqueKeys(doc.RootElement, what, "$");
        }
        catch
        {
            doc.Dispose();
            throw;
        }
        return doc;
    }

    /// <summary>LIV9100 when an object under <paramref name="element"/> has a key twice; <paramref name="at"/> is its JSON path.</summary>
    private static void CheckUniqueKeys(JsonElement element, string what, string at)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var names = new HashSet<string>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                {
                    string path = $"{at}.{property.Name}";
                    if (!names.Add(property.Name))
                        throw new LivrableException(DiagnosticCodes.DuplicateJsonKey,
                            $"{what} has the key '{Truncate(path)}' twice; a document with duplicate keys is read differently by different tools, so it is refused.");
                    CheckUniqueKeys(property.Value, what, path);
                }
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in element.EnumerateArray()) CheckUniqueKeys(item, what, $"{at}[{i++}]");
                break;
        }
    }

    private static string Truncate(string s) => s.Length > 200 ? s[..200] + "..." : s;

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
