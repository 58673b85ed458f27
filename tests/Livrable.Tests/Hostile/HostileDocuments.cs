using System.Text;
using Livrable.Images;
using Livrable.Store;
using Livrable.Tests.Infrastructure;

namespace Livrable.Tests.Hostile;

/// <summary>
/// Image documents written by hand, so that a test can break them: an OCI layout (folder or tarball) or a
/// docker-archive of one image, each document passed through a text mutation before it is hashed, so the digests above
/// it stay right and only the broken part is wrong.
/// </summary>
public static class HostileDocuments
{
    /// <summary>Text mutations of each document (identity when null).</summary>
    public sealed record Mutations(
        Func<string, string>? Config = null, Func<string, string>? Manifest = null, Func<string, string>? Index = null,
        Func<string, string>? DockerManifest = null);

    /// <summary>Writes an OCI layout of one linux/amd64 image of <paramref name="layers"/> (blobs from <paramref name="store"/>).</summary>
    public static Task WriteLayoutAsync(string directory, BlobStore store, IReadOnlyList<ILayer> layers, Mutations? mutations = null)
        => WriteAsync(directory, store, layers, mutations ?? new Mutations(), docker: false);

    /// <summary>Writes the folder of a docker-archive (<c>manifest.json</c> and <c>blobs/sha256/</c>) of one image.</summary>
    public static Task WriteDockerAsync(string directory, BlobStore store, IReadOnlyList<ILayer> layers, Mutations? mutations = null)
        => WriteAsync(directory, store, layers, mutations ?? new Mutations(), docker: true);

    /// <summary>A tarball of <paramref name="directory"/>'s contents, by GNU tar.</summary>
    public static async Task<string> TarAsync(string directory, string tarPath)
    {
        await Tools.RunCheckedAsync("tar", "-C", directory, "-cf", tarPath, ".");
        return tarPath;
    }

    private static async Task WriteAsync(string directory, BlobStore store, IReadOnlyList<ILayer> layers, Mutations m, bool docker)
    {
        string blobs = Path.Combine(directory, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        foreach (var layer in layers)
        {
            await using var source = store.Open(layer.Descriptor);
            await using var target = File.Create(Path.Combine(blobs, layer.Descriptor.Digest.Hex));
            await source.CopyToAsync(target);
        }
        string diffIds = string.Join(",", layers.Select(l => $"\"{l.DiffId}\""));
        string history = string.Join(",", layers.Select((_, i) => $"{{\"created\":\"2020-01-01T00:00:00Z\",\"created_by\":\"layer {i}\"}}"));
        string config = $"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[{diffIds}]}},\"history\":[{history}]}}";
        var (configDigest, configSize) = Put(blobs, Apply(m.Config, config));
        if (docker)
        {
            string layerNames = string.Join(",", layers.Select(l => $"\"blobs/sha256/{l.Descriptor.Digest.Hex}\""));
            string manifestJson = $"[{{\"Config\":\"blobs/sha256/{configDigest.Hex}\",\"RepoTags\":[\"hostile:v1\"],\"Layers\":[{layerNames}]}}]";
            await File.WriteAllTextAsync(Path.Combine(directory, "manifest.json"), Apply(m.DockerManifest, manifestJson));
            return;
        }
        string layerDescriptors = string.Join(",", layers.Select(l => $"{{\"mediaType\":\"{l.Descriptor.MediaType}\",\"digest\":\"{l.Descriptor.Digest}\",\"size\":{l.Descriptor.Size}}}"));
        string manifest = $"{{\"schemaVersion\":2,\"mediaType\":\"{MediaTypes.OciManifest}\",\"config\":{{\"mediaType\":\"{MediaTypes.OciConfig}\",\"digest\":\"{configDigest}\",\"size\":{configSize}}},\"layers\":[{layerDescriptors}]}}";
        var (manifestDigest, manifestSize) = Put(blobs, Apply(m.Manifest, manifest));
        string index = $"{{\"schemaVersion\":2,\"mediaType\":\"{MediaTypes.OciIndex}\",\"manifests\":[{{\"mediaType\":\"{MediaTypes.OciManifest}\",\"digest\":\"{manifestDigest}\",\"size\":{manifestSize},\"annotations\":{{\"org.opencontainers.image.ref.name\":\"v1\"}}}}]}}";
        await File.WriteAllTextAsync(Path.Combine(directory, "index.json"), Apply(m.Index, index));
        await File.WriteAllTextAsync(Path.Combine(directory, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
    }

    private static string Apply(Func<string, string>? mutation, string text) => mutation is null ? text : mutation(text);

    private static (Digest Digest, long Size) Put(string blobs, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var digest = Digest.Sha256(bytes);
        File.WriteAllBytes(Path.Combine(blobs, digest.Hex), bytes);
        return (digest, bytes.Length);
    }
}
