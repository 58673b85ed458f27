using Livrable.Images;

namespace Livrable.SupplyChain.Referrers;

/// <summary>
/// An OCI 1.1 artifact about an image (https://github.com/opencontainers/image-spec/blob/main/manifest.md, "Guidelines
/// for Artifact Usage"): an image manifest whose <c>artifactType</c> says what it is, whose config is the empty
/// descriptor (<c>application/vnd.oci.empty.v1+json</c>, <c>{}</c>), whose one layer is the document, and whose
/// <c>subject</c> is the image it describes. Its manifest bytes are fixed by its content: the same document about the
/// same image is the same artifact.
/// </summary>
public sealed class Artifact
{
    /// <summary>The empty JSON object's media type, for a config that carries nothing.</summary>
    public const string EmptyMediaType = "application/vnd.oci.empty.v1+json";

    /// <summary>The bytes of the empty descriptor's blob: <c>{}</c>.</summary>
    public static readonly byte[] EmptyBytes = "{}"u8.ToArray();

    /// <summary>Makes the artifact of <paramref name="document"/> (of <paramref name="artifactType"/>) about <paramref name="subject"/>.</summary>
    public Artifact(string artifactType, byte[] document, Descriptor subject, IReadOnlyDictionary<string, string> annotations)
    {
        ArtifactType = artifactType;
        Document = document;
        Annotations = annotations;
        var layer = new Descriptor(artifactType, Digest.Sha256(document), document.Length);
        var empty = new Descriptor(EmptyMediaType, Digest.Sha256(EmptyBytes), EmptyBytes.Length);
        Blobs = [(empty, EmptyBytes), (layer, document)];
        ManifestBytes = Json.Write(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", 2);
            w.WriteString("mediaType", MediaTypes.OciManifest);
            w.WriteString("artifactType", artifactType);
            w.WritePropertyName("config");
            empty.Write(w);
            w.WriteStartArray("layers");
            layer.Write(w);
            w.WriteEndArray();
            w.WritePropertyName("subject");
            (subject with { Platform = null, Annotations = null }).Write(w);
            if (annotations.Count > 0) Json.WriteStringMap(w, "annotations", annotations);
            w.WriteEndObject();
        });
        Digest = Digest.Sha256(ManifestBytes);
    }

    public string ArtifactType { get; }
    public byte[] Document { get; }
    public IReadOnlyDictionary<string, string> Annotations { get; }

    /// <summary>The blobs the manifest names: the empty config, then the document.</summary>
    public IReadOnlyList<(Descriptor Descriptor, byte[] Bytes)> Blobs { get; }
    public byte[] ManifestBytes { get; }
    public Digest Digest { get; }

    /// <summary>
    /// The artifact's entry in a referrers list: the manifest's descriptor with its <c>artifactType</c> and
    /// annotations, as distribution-spec 1.1 asks of both the API's answer and the referrers tag's index.
    /// </summary>
    public Descriptor Descriptor => new(MediaTypes.OciManifest, Digest, ManifestBytes.Length) { Annotations = Annotations };
}
