using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Livrable.Images;

namespace Livrable.SupplyChain.Provenance;

/// <summary>A subject of an in-toto statement: a name and the digest of what it names.</summary>
public sealed record ProvenanceSubject(string Name, Digest Digest);

/// <summary>
/// A resolved dependency (SLSA's ResourceDescriptor): a URI (<c>pkg:docker/...</c> for an image, <c>git+URL</c> for
/// the source, the URL of an ADD) and its digests by algorithm.
/// </summary>
public sealed record ResolvedDependency(string Uri, string? Name, IReadOnlyDictionary<string, string> Digest);

/// <summary>What the provenance says of one build, every value already redacted where it had to be.</summary>
public sealed record ProvenanceFacts
{
    public required IReadOnlyList<ProvenanceSubject> Subjects { get; init; }

    /// <summary>The external parameters, as ordered name/value pairs (a value is a string, a list or a map of strings).</summary>
    public required IReadOnlyList<KeyValuePair<string, object>> ExternalParameters { get; init; }

    /// <summary>Parameters the builder chose (format, compression, SOURCE_DATE_EPOCH).</summary>
    public required IReadOnlyList<KeyValuePair<string, object>> InternalParameters { get; init; }

    public required IReadOnlyList<ResolvedDependency> ResolvedDependencies { get; init; }

    /// <summary>SOURCE_DATE_EPOCH: the only time the document holds.</summary>
    public required DateTimeOffset Created { get; init; }
}

/// <summary>
/// An in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md) whose predicate
/// is SLSA Provenance v1 (https://slsa.dev/spec/v1.0/provenance): what was built (subjects by digest), from what
/// (external parameters, resolved dependencies) and by whom (Livrable's builder id and version). No clock: the
/// invocation id is derived from the document's other content, and the only time is SOURCE_DATE_EPOCH, so the same
/// build gives the same bytes.
/// </summary>
public static class SlsaProvenance
{
    /// <summary>The payload type of an in-toto statement, as its referrer's artifact type.</summary>
    public const string MediaType = "application/vnd.in-toto+json";
    public const string StatementType = "https://in-toto.io/Statement/v1";
    public const string PredicateType = "https://slsa.dev/provenance/v1";

    /// <summary>Livrable's buildType: what the external parameters mean is documented at this URI (docs/supply-chain.md).</summary>
    public const string BuildType = Documents.BuilderId + "/blob/main/docs/supply-chain.md#buildtype-v1";

    /// <summary>The statement's bytes.</summary>
    public static byte[] Create(ProvenanceFacts facts)
    {
        // The invocation id names this build reproducibly: a hash of what the build was given and what it made.
        byte[] body = Documents.Write(w => WriteBuildDefinition(w, facts));
        string subjects = string.Join(",", facts.Subjects.Select(s => s.Digest.ToString()));
        string invocation = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(subjects + "\n" + Encoding.UTF8.GetString(body)))).ToLowerInvariant();
        return Documents.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("_type", StatementType);
            w.WriteStartArray("subject");
            foreach (var subject in facts.Subjects)
            {
                w.WriteStartObject();
                w.WriteString("name", subject.Name);
                w.WriteStartObject("digest");
                w.WriteString(subject.Digest.Algorithm, subject.Digest.Hex);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteString("predicateType", PredicateType);
            w.WriteStartObject("predicate");
            w.WritePropertyName("buildDefinition");
            WriteBuildDefinition(w, facts);
            w.WriteStartObject("runDetails");
            w.WriteStartObject("builder");
            w.WriteString("id", Documents.BuilderId);
            w.WriteStartObject("version");
            w.WriteString("livrable", Documents.LivrableVersion);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("metadata");
            w.WriteString("invocationId", "urn:livrable:invocation:sha256:" + invocation);
            w.WriteString("startedOn", Documents.Time(facts.Created));
            w.WriteString("finishedOn", Documents.Time(facts.Created));
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    private static void WriteBuildDefinition(Utf8JsonWriter w, ProvenanceFacts facts)
    {
        w.WriteStartObject();
        w.WriteString("buildType", BuildType);
        w.WritePropertyName("externalParameters");
        WriteMap(w, facts.ExternalParameters);
        w.WritePropertyName("internalParameters");
        WriteMap(w, facts.InternalParameters);
        w.WriteStartArray("resolvedDependencies");
        foreach (var dependency in facts.ResolvedDependencies)
        {
            w.WriteStartObject();
            w.WriteString("uri", dependency.Uri);
            if (dependency.Name is not null) w.WriteString("name", dependency.Name);
            w.WriteStartObject("digest");
            foreach (var (algorithm, value) in dependency.Digest.OrderBy(d => d.Key, StringComparer.Ordinal)) w.WriteString(algorithm, value);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteMap(Utf8JsonWriter w, IEnumerable<KeyValuePair<string, object>> pairs)
    {
        w.WriteStartObject();
        foreach (var (name, value) in pairs)
        {
            w.WritePropertyName(name);
            WriteValue(w, value);
        }
        w.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter w, object value)
    {
        switch (value)
        {
            case string s:
                w.WriteStringValue(s);
                break;
            case long n:
                w.WriteNumberValue(n);
                break;
            case IEnumerable<KeyValuePair<string, string>> map:
                w.WriteStartObject();
                foreach (var (k, v) in map.OrderBy(e => e.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
                break;
            case IEnumerable<KeyValuePair<string, object>> nested:
                WriteMap(w, nested);
                break;
            case IEnumerable<string> list:
                w.WriteStartArray();
                foreach (string item in list) w.WriteStringValue(item);
                w.WriteEndArray();
                break;
            default:
                throw new ArgumentException($"A provenance parameter cannot be a {value.GetType().Name}.", nameof(value));
        }
    }
}
