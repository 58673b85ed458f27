using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Livrable.Images;

namespace Livrable.Build.Cache;

/// <summary>
/// What one step added to its stage: a history entry, with the layer it describes unless the entry is empty. Enough to
/// apply the step again without running it, and nothing that needs this machine (no paths), so a record can be
/// exported with its blobs and imported elsewhere.
/// </summary>
internal sealed record StepOutput(Descriptor? Layer, Digest? DiffId, HistoryEntry History);

/// <summary>
/// A step cache record: the key and the outputs, in order. Stored as JSON,
/// <c>{"key":..., "outputs":[{"layer":{"mediaType","digest","size"}, "diffId", "history":{"created","created_by","comment","empty_layer"}}]}</c>.
/// </summary>
internal sealed record StepRecord(string Key, IReadOnlyList<StepOutput> Outputs)
{
    public byte[] ToJson()
    {
        var outputs = new JsonArray();
        foreach (var output in Outputs)
        {
            var o = new JsonObject();
            if (output.Layer is { } layer)
            {
                o["layer"] = new JsonObject
                {
                    ["mediaType"] = layer.MediaType,
                    ["digest"] = layer.Digest.ToString(),
                    ["size"] = layer.Size,
                };
                o["diffId"] = output.DiffId!.Value.ToString();
            }
            var h = output.History;
            var history = new JsonObject();
            if (h.Created is { } created) history["created"] = ImageConfig.FormatTime(created);
            if (h.CreatedBy is not null) history["created_by"] = h.CreatedBy;
            if (h.Comment is not null) history["comment"] = h.Comment;
            if (h.EmptyLayer) history["empty_layer"] = true;
            o["history"] = history;
            outputs.Add(o);
        }
        var root = new JsonObject { ["key"] = Key, ["outputs"] = outputs };
        return JsonSerializer.SerializeToUtf8Bytes(root);
    }

    /// <summary>Reads a record; throws <see cref="JsonException"/>, <see cref="KeyNotFoundException"/> or a LIV error when it is damaged.</summary>
    public static StepRecord Parse(ReadOnlySpan<byte> json)
    {
        using var doc = JsonDocument.Parse(json.ToArray());
        var root = doc.RootElement;
        string key = root.GetProperty("key").GetString() ?? throw new JsonException("no key");
        var outputs = new List<StepOutput>();
        foreach (var o in root.GetProperty("outputs").EnumerateArray())
        {
            Descriptor? layer = null;
            Digest? diffId = null;
            if (o.TryGetProperty("layer", out var l))
            {
                layer = new Descriptor(l.GetProperty("mediaType").GetString()!, Digest.Parse(l.GetProperty("digest").GetString()!), l.GetProperty("size").GetInt64());
                diffId = Digest.Parse(o.GetProperty("diffId").GetString()!);
            }
            var h = o.GetProperty("history");
            DateTimeOffset? created = h.TryGetProperty("created", out var c)
                ? DateTimeOffset.Parse(c.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal)
                : null;
            var history = new HistoryEntry(created,
                h.TryGetProperty("created_by", out var by) ? by.GetString() : null,
                h.TryGetProperty("comment", out var comment) ? comment.GetString() : null,
                h.TryGetProperty("empty_layer", out var empty) && empty.GetBoolean());
            if ((layer is null) != history.EmptyLayer) throw new JsonException("a layer and an empty history entry disagree");
            outputs.Add(new StepOutput(layer, diffId, history));
        }
        return new StepRecord(key, outputs);
    }
}
