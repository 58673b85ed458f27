using System.Text.Json;
using System.Text.Json.Nodes;

namespace Livrable.Tests.Differential;

/// <summary>
/// The image config fields a Dockerfile sets, each as canonical JSON so two builders' configs compare field by field:
/// <c>Env</c> (in order), <c>Cmd</c>, <c>Entrypoint</c>, <c>Shell</c>, <c>OnBuild</c> (lists), <c>WorkingDir</c>,
/// <c>User</c>, <c>StopSignal</c>, <c>ExposedPorts</c>, <c>Volumes</c> (sorted keys), <c>Labels</c> (sorted, without
/// the peer's own <c>io.buildah.version</c>), <c>Healthcheck</c> (every duration and retries, 0 when absent) and the
/// top-level <c>author</c>. An empty list, map or string is the same as an absent one: buildah writes <c>Cmd: []</c>
/// where BuildKit leaves it out, and both mean "none". Platform, times, history and rootfs are not compared here.
/// </summary>
public sealed class ConfigSnapshot
{
    private static readonly string[] Lists = ["Env", "Cmd", "Entrypoint", "Shell", "OnBuild"];
    private static readonly string[] Strings = ["WorkingDir", "User", "StopSignal"];
    private static readonly string[] Sets = ["ExposedPorts", "Volumes"];
    private static readonly string[] HealthcheckFields = ["Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"];

    private ConfigSnapshot(SortedDictionary<string, string> fields) => Fields = fields;

    /// <summary>Field name to canonical JSON; absent fields are not listed.</summary>
    public IReadOnlyDictionary<string, string> Fields { get; }

    /// <summary>
    /// From a whole config document (<c>{"author":..,"config":{..}}</c>, the image config blob or buildah's
    /// <c>Docker</c> object of <c>buildah inspect</c>).
    /// </summary>
    public static ConfigSnapshot Parse(string json)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        var config = root["config"] as JsonObject ?? [];
        var fields = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string name in Lists)
            if (config[name] is JsonArray { Count: > 0 } list)
                fields[name] = list.ToJsonString();
        foreach (string name in Strings)
            if (config[name]?.GetValue<string>() is { Length: > 0 } value)
                fields[name] = JsonSerializer.Serialize(value);
        foreach (string name in Sets)
            if (config[name] is JsonObject { Count: > 0 } set)
                fields[name] = JsonSerializer.Serialize(set.Select(p => p.Key).Order(StringComparer.Ordinal));
        if (config["Labels"] is JsonObject labels)
        {
            var kept = labels.Where(l => l.Key != "io.buildah.version").OrderBy(l => l.Key, StringComparer.Ordinal)
                .ToDictionary(l => l.Key, l => l.Value?.GetValue<string>());
            if (kept.Count > 0) fields["Labels"] = JsonSerializer.Serialize(kept);
        }
        if (config["Healthcheck"] is JsonObject health)
            fields["Healthcheck"] = new JsonObject(HealthcheckFields.Select(f => KeyValuePair.Create(
                f, f == "Test" ? health[f]?.DeepClone() : JsonValue.Create(health[f]?.GetValue<long>() ?? 0)))).ToJsonString();
        if (root["author"]?.GetValue<string>() is { Length: > 0 } author)
            fields["author"] = JsonSerializer.Serialize(author);
        return new ConfigSnapshot(fields);
    }

    /// <summary>The same snapshot with <paramref name="field"/> set to <paramref name="json"/> (null removes it): a known deviation of the peer.</summary>
    public ConfigSnapshot With(string field, string? json)
    {
        var fields = new SortedDictionary<string, string>(Fields.ToDictionary(), StringComparer.Ordinal);
        if (json is null) fields.Remove(field);
        else fields[field] = JsonNode.Parse(json)!.ToJsonString();
        return new ConfigSnapshot(fields);
    }

    /// <summary>The same snapshot with the variable <paramref name="name"/> of Env set to <paramref name="value"/>, in place.</summary>
    public ConfigSnapshot WithEnv(string name, string value)
    {
        var env = Env.Select(e => e.StartsWith(name + "=", StringComparison.Ordinal) ? $"{name}={value}" : e).ToList();
        if (!env.Contains($"{name}={value}")) env.Add($"{name}={value}");
        return With("Env", JsonSerializer.Serialize(env));
    }

    /// <summary>The Env entries, in order.</summary>
    public IReadOnlyList<string> Env
        => Fields.TryGetValue("Env", out var env) ? JsonSerializer.Deserialize<List<string>>(env)! : [];

    /// <summary>One line per field that differs or is set on one side only, empty when the two agree.</summary>
    public static IReadOnlyList<string> Differences(ConfigSnapshot expected, ConfigSnapshot actual, string expectedName = "peer", string actualName = "livrable")
        => expected.Fields.Keys.Union(actual.Fields.Keys).Order(StringComparer.Ordinal)
            .Where(k => expected.Fields.GetValueOrDefault(k) != actual.Fields.GetValueOrDefault(k))
            .Select(k => $"{k}: {expectedName} {expected.Fields.GetValueOrDefault(k) ?? "(none)"} | {actualName} {actual.Fields.GetValueOrDefault(k) ?? "(none)"}")
            .ToList();

    public override string ToString() => string.Join('\n', Fields.Select(f => $"{f.Key}: {f.Value}"));
}
