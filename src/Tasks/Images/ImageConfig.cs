using System.Text.Json;
using System.Text.Json.Nodes;

namespace Livrable.Images;

/// <summary>
/// An image configuration (https://github.com/opencontainers/image-spec/blob/main/config.md), Docker's config being
/// the same document with more fields. Kept as a JSON tree so that fields Livrable does not model (Healthcheck,
/// OnBuild, ArgsEscaped...) survive from the base image; typed accessors cover what Livrable changes.
/// </summary>
public sealed class ImageConfig
{
    private readonly JsonObject _root;

    private ImageConfig(JsonObject root) => _root = root;

    /// <summary>An empty config for <paramref name="platform"/> (an image FROM scratch).</summary>
    public static ImageConfig Empty(Platform platform)
    {
        var c = new ImageConfig(new JsonObject());
        c.Architecture = platform.Architecture;
        c.Os = platform.Os;
        if (platform.Variant is not null) c._root["variant"] = platform.Variant;
        c._root["config"] = new JsonObject();
        c._root["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray() };
        return c;
    }

    /// <summary>Parses config bytes.</summary>
    public static ImageConfig Parse(ReadOnlyMemory<byte> bytes)
    {
        // The strict read first: trailing bytes and duplicate keys (LIV9100), which JsonNode would take silently.
        using (Json.Parse(bytes, "The image config")) { }
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(bytes.Span, documentOptions: Json.DocumentOptions);
        }
        catch (JsonException e)
        {
            throw Descriptor.Invalid($"The image config is not valid JSON: {e.Message}");
        }
        if (node is not JsonObject root) throw Descriptor.Invalid("The image config is not a JSON object");
        var config = new ImageConfig(root);
        _ = config.DiffIds; // validates rootfs
        return config;
    }

    /// <summary>A deep copy, to change without touching the base.</summary>
    public ImageConfig Clone() => new((JsonObject)_root.DeepClone());

    public string? Architecture { get => Str(_root, "architecture"); set => _root["architecture"] = value; }
    public string? Os { get => Str(_root, "os"); set => _root["os"] = value; }
    /// <summary>The CPU variant (<c>v7</c>, <c>v8</c>); null removes it.</summary>
    public string? Variant { get => Str(_root, "variant"); set => SetOrRemove(_root, "variant", value); }

    /// <summary>The image's <c>author</c> (Dockerfile <c>MAINTAINER</c>); null removes it.</summary>
    public string? Author { get => Str(_root, "author"); set => SetOrRemove(_root, "author", value); }

    /// <summary>The platform this config declares.</summary>
    public Platform Platform => new(Os ?? "linux", Architecture ?? "amd64", Variant, Str(_root, "os.version"));

    /// <summary>The creation time, RFC 3339 in UTC; Livrable sets it from SOURCE_DATE_EPOCH.</summary>
    public DateTimeOffset? Created
    {
        get => DateTimeOffset.TryParse(Str(_root, "created"), out var d) ? d : null;
        set
        {
            if (value is null) _root.Remove("created");
            else _root["created"] = FormatTime(value.Value);
        }
    }

    public string? User { get => Str(Runtime, "User"); set => SetOrRemove(Runtime, "User", value); }
    public string? WorkingDir { get => Str(Runtime, "WorkingDir"); set => SetOrRemove(Runtime, "WorkingDir", value); }
    public string? StopSignal { get => Str(Runtime, "StopSignal"); set => SetOrRemove(Runtime, "StopSignal", value); }

    /// <summary>The entrypoint; null when unset.</summary>
    public IReadOnlyList<string>? Entrypoint { get => StrList(Runtime, "Entrypoint"); set => SetList(Runtime, "Entrypoint", value); }

    /// <summary>The default arguments (Cmd); null when unset.</summary>
    public IReadOnlyList<string>? Cmd { get => StrList(Runtime, "Cmd"); set => SetList(Runtime, "Cmd", value); }

    /// <summary>
    /// The shell that wraps the shell form of RUN, CMD and ENTRYPOINT (Docker's <c>Shell</c> extension, set by the
    /// Dockerfile's <c>SHELL</c>); null when unset.
    /// </summary>
    public IReadOnlyList<string>? Shell { get => StrList(Runtime, "Shell"); set => SetList(Runtime, "Shell", value); }

    /// <summary>The raw ONBUILD triggers (Docker's <c>OnBuild</c> extension); null when there are none.</summary>
    public IReadOnlyList<string>? OnBuild { get => StrList(Runtime, "OnBuild"); set => SetList(Runtime, "OnBuild", value); }

    /// <summary>
    /// Docker's <c>ArgsEscaped</c> (true once a Dockerfile CMD set the command, as BuildKit writes it); false removes it.
    /// </summary>
    public bool ArgsEscaped
    {
        get => Runtime["ArgsEscaped"] is JsonValue v && v.TryGetValue(out bool b) && b;
        set
        {
            if (value) Runtime["ArgsEscaped"] = true;
            else Runtime.Remove("ArgsEscaped");
        }
    }

    /// <summary>
    /// Docker's <c>Healthcheck</c>: durations in nanoseconds (Go's <c>time.Duration</c> in JSON), zero values left out
    /// as Go's <c>omitempty</c> does. Null removes it.
    /// </summary>
    public Healthcheck? Healthcheck
    {
        get
        {
            if (Runtime["Healthcheck"] is not JsonObject h) return null;
            return new Healthcheck(StrList(h, "Test") ?? [], Nanos(h, "Interval"), Nanos(h, "Timeout"), Nanos(h, "StartPeriod"),
                Nanos(h, "StartInterval"), h["Retries"] is JsonValue r && r.TryGetValue(out int n) ? n : 0);
        }
        set
        {
            if (value is null)
            {
                Runtime.Remove("Healthcheck");
                return;
            }
            var h = new JsonObject();
            if (value.Test.Count > 0) SetList(h, "Test", value.Test);
            SetNanos(h, "Interval", value.Interval);
            SetNanos(h, "Timeout", value.Timeout);
            SetNanos(h, "StartPeriod", value.StartPeriod);
            SetNanos(h, "StartInterval", value.StartInterval);
            if (value.Retries != 0) h["Retries"] = value.Retries;
            Runtime["Healthcheck"] = h;
        }
    }

    /// <summary>Environment as <c>NAME=value</c> lines, in order.</summary>
    public IReadOnlyList<string> Env => StrList(Runtime, "Env") ?? [];

    /// <summary>Sets one environment variable, replacing an earlier value in place (as Docker does).</summary>
    public void SetEnv(string name, string value)
    {
        var list = Env.ToList();
        int i = list.FindIndex(e => e.StartsWith(name + "=", StringComparison.Ordinal) || e == name);
        if (i >= 0) list[i] = $"{name}={value}";
        else list.Add($"{name}={value}");
        SetList(Runtime, "Env", list);
    }

    /// <summary>The value of an environment variable, or null.</summary>
    public string? GetEnv(string name)
        => Env.Where(e => e.StartsWith(name + "=", StringComparison.Ordinal)).Select(e => e[(name.Length + 1)..]).LastOrDefault();

    public IReadOnlyDictionary<string, string> Labels => ReadMap(Runtime, "Labels");

    public void SetLabel(string key, string value) => SetMapEntry("Labels", key, value);

    /// <summary>Exposed ports as <c>port/proto</c> keys.</summary>
    public IReadOnlyCollection<string> ExposedPorts => Runtime["ExposedPorts"] is JsonObject o ? o.Select(p => p.Key).ToList() : [];

    public void AddExposedPort(string portAndProtocol) => SetMapEntry("ExposedPorts", portAndProtocol, null);

    public IReadOnlyCollection<string> Volumes => Runtime["Volumes"] is JsonObject o ? o.Select(p => p.Key).ToList() : [];

    public void AddVolume(string path) => SetMapEntry("Volumes", path, null);

    /// <summary>The diff ids of the layers, base first.</summary>
    public IReadOnlyList<Digest> DiffIds
    {
        get
        {
            if (_root["rootfs"] is not JsonObject rootfs) return [];
            if (rootfs["diff_ids"] is not JsonArray ids) return [];
            var diffIds = new List<Digest>(ids.Count); // a loop, not Select(...).ToList(): LINQ over the Digest struct is compiled at run time
            foreach (var n in ids) diffIds.Add(Digest.Parse(n?.GetValue<string>() ?? ""));
            return diffIds;
        }
    }

    /// <summary>Appends a layer: its diff id, and a history entry.</summary>
    public void AddLayer(Digest diffId, HistoryEntry history)
    {
        if (_root["rootfs"] is not JsonObject rootfs)
            _root["rootfs"] = rootfs = new JsonObject { ["type"] = "layers" };
        if (rootfs["diff_ids"] is not JsonArray ids) rootfs["diff_ids"] = ids = new JsonArray();
        // A node, not the string: JsonArray.Add<string> would build the value through JsonSerializerOptions.Default,
        // which starts the reflection-based serializer (Reflection.Emit, ~90 methods compiled at run time) in every
        // build for the same bytes.
        ids.Add((JsonNode)diffId.ToString());
        AddHistory(history with { EmptyLayer = false });
    }

    /// <summary>Appends a history entry; <see cref="HistoryEntry.EmptyLayer"/> marks one that adds no layer.</summary>
    public void AddHistory(HistoryEntry entry)
    {
        if (_root["history"] is not JsonArray h) _root["history"] = h = new JsonArray();
        var o = new JsonObject();
        if (entry.Created is not null) o["created"] = FormatTime(entry.Created.Value);
        if (entry.CreatedBy is not null) o["created_by"] = entry.CreatedBy;
        if (entry.Comment is not null) o["comment"] = entry.Comment;
        if (entry.EmptyLayer) o["empty_layer"] = true;
        h.Add(o);
    }

    /// <summary>The number of history entries.</summary>
    public int HistoryCount => _root["history"] is JsonArray h ? h.Count : 0;

    /// <summary>The config bytes. Same tree, same bytes: property order is that of the base, then of the changes.</summary>
    public byte[] ToBytes() => Json.Write(w => _root.WriteTo(w));

    /// <summary>RFC 3339 with seconds, in UTC, as Go's time.Time marshals a whole second.</summary>
    public static string FormatTime(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    private JsonObject Runtime
    {
        get
        {
            if (_root["config"] is JsonObject c) return c;
            var created = new JsonObject();
            _root["config"] = created;
            return created;
        }
    }

    private void SetMapEntry(string map, string key, string? value)
    {
        if (Runtime[map] is not JsonObject o) Runtime[map] = o = new JsonObject();
        o[key] = value is null ? new JsonObject() : JsonValue.Create(value);
    }

    private static TimeSpan Nanos(JsonObject o, string name)
        => o[name] is JsonValue v && v.TryGetValue(out long ns) ? TimeSpan.FromTicks(ns / 100) : TimeSpan.Zero;

    private static void SetNanos(JsonObject o, string name, TimeSpan value)
    {
        if (value != TimeSpan.Zero) o[name] = value.Ticks * 100;
    }

    private static string? Str(JsonObject o, string name) => o[name] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    private static IReadOnlyList<string>? StrList(JsonObject o, string name)
        => o[name] is JsonArray a ? a.Select(n => n is JsonValue v && v.TryGetValue(out string? s) ? s : "").ToList() : null;

    private static void SetList(JsonObject o, string name, IReadOnlyList<string>? value)
    {
        if (value is null) o.Remove(name);
        else o[name] = new JsonArray(value.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
    }

    private static void SetOrRemove(JsonObject o, string name, string? value)
    {
        if (value is null) o.Remove(name);
        else o[name] = value;
    }

    private static IReadOnlyDictionary<string, string> ReadMap(JsonObject o, string name)
    {
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (o[name] is JsonObject m)
            foreach (var (k, v) in m)
                if (v is JsonValue jv && jv.TryGetValue(out string? s)) map[k] = s;
        return map;
    }
}

/// <summary>
/// Docker's health check: <c>Test</c> is <c>["NONE"]</c>, <c>["CMD", args...]</c> or <c>["CMD-SHELL", command]</c>;
/// zero durations and retries mean the runtime's defaults.
/// </summary>
public sealed record Healthcheck(IReadOnlyList<string> Test, TimeSpan Interval, TimeSpan Timeout, TimeSpan StartPeriod, TimeSpan StartInterval, int Retries);

/// <summary>One entry of the config's history: what made a layer (or changed only the config).</summary>
public sealed record HistoryEntry(DateTimeOffset? Created, string? CreatedBy, string? Comment = null, bool EmptyLayer = false);
