namespace Livrable.Store;

/// <summary>
/// A kind of cache record the state folder keeps: one folder under <c>cache/</c>, one file (or folder) per key, each
/// evicted on its own, least recently used first. Declared here and nowhere else, so that the pruner
/// (<see cref="StatePruner"/>) evicts every kind there is: a new cache is a new entry of <see cref="All"/>.
/// </summary>
/// <param name="Name">The folder's name under <c>cache/</c>.</param>
/// <param name="Owner">Who writes the records, for the README and messages.</param>
public sealed record CacheRecordKind(string Name, string Owner)
{
    /// <summary>
    /// Retired: properties mode's layer records, before its layers joined the step cache (Build/Cache/LayerSpecStep).
    /// Nothing writes them; kept so the pruner evicts what older versions left.
    /// </summary>
    public static readonly CacheRecordKind Layers = new("layers", "retired (was Layers/LayerCache)");

    /// <summary>Build cache records: what a Dockerfile step made, by step key.</summary>
    public static readonly CacheRecordKind Steps = new("steps", "Build/Cache/StepCache");

    /// <summary>Context file digests, one index per build context folder.</summary>
    public static readonly CacheRecordKind Files = new("files", "Build/Cache/FileDigests");

    /// <summary>
    /// Layer entry indexes (a layer's entries by diff id, so a plan needs not decompress it again) and tree snapshots
    /// (the merged tree of a chain of layers by ChainID, so a plan needs not load it).
    /// </summary>
    public static readonly CacheRecordKind Trees = new("trees", "Filesystem/LayerEntryIndex, Filesystem/TreeSnapshot");

    /// <summary>Output records: what the last write of a tarball was and left (size, time), so an unchanged build writes nothing.</summary>
    public static readonly CacheRecordKind Outputs = new("outputs", "Outputs/OutputRecord");

    /// <summary>Tarball blob maps: where each layer lies in the tarball last written to a path, so the next write copies the unchanged ones.</summary>
    public static readonly CacheRecordKind Archives = new("archives", "Outputs/ArchiveBlobMap");

    /// <summary>
    /// Verified layers: the <c>statx</c> status a step cache layer had when it was last written or hashed and found
    /// right, so a hit whose blob kept that status is not read again.
    /// </summary>
    public static readonly CacheRecordKind Verified = new("verified", "Build/Cache/StepCache");

    /// <summary>
    /// Runtime verdicts: what the runc version gate made of a runtime binary, kept while the binary and its package's
    /// changelog keep their status, so a build does not run <c>runc --version</c> again.
    /// </summary>
    public static readonly CacheRecordKind Runtimes = new("runtimes", "Runtime/RuntimeVersion");

    /// <summary>Every kind, in the order the README lists them.</summary>
    public static IReadOnlyList<CacheRecordKind> All { get; } = [Layers, Steps, Files, Trees, Outputs, Archives, Verified, Runtimes];
}

/// <summary>
/// The state folder's layout, written once: every path below the state folder (<c>ContainerStateDirectory</c>) is
/// made here, from its root, by the folder's owners (the blob store, the caches, RUN's extracted layers and step
/// folders) and by <see cref="StateFolder"/> and <see cref="StatePruner"/>, which clean and evict what they find.
/// The table of what lives where is src/Tasks/Store/README.md.
/// </summary>
public static class StateLayout
{
    /// <summary>The folder that holds extracted layers as root sees them; user-namespace ones are its siblings.</summary>
    public const string ExtractedLayersName = "rootfs";

    /// <summary>Content-addressed blobs, <c>blobs/&lt;algorithm&gt;/&lt;hex&gt;</c>, an OCI image layout's.</summary>
    public static string Blobs(string root) => Path.Combine(root, "blobs");

    /// <summary>Temporary files and folders (renamed from here into place: the same file system).</summary>
    public static string Temp(string root) => Path.Combine(root, "tmp");

    /// <summary>Caches: the record kinds' folders and the RUN cache mounts (<c>cache/&lt;sha256 of id&gt;/</c>).</summary>
    public static string Cache(string root) => Path.Combine(root, "cache");

    /// <summary>The records of one kind, <c>cache/&lt;kind&gt;/</c>.</summary>
    public static string Records(string root, CacheRecordKind kind) => Path.Combine(Cache(root), kind.Name);

    /// <summary>RUN cache mounts live beside the record kinds, named by the SHA-256 of their id.</summary>
    public static string CacheMounts(string root) => Cache(root);

    /// <summary>
    /// The size record of the RUN cache mount folder <paramref name="mount"/> (<c>cache/&lt;sha256 of id&gt;[-n].size</c>,
    /// beside its <c>.lock</c>): what the size check that last walked it counted, so the next ones need not walk it
    /// (<see cref="StatePruner"/>); a RUN that may write into the folder removes it first.
    /// </summary>
    public static string CacheMountSize(string mount) => mount + ".size";

    /// <summary>
    /// Layers extracted for RUN: <c>rootfs/</c> for a build as root, <c>rootfs-&lt;variant&gt;/</c> for one in a
    /// user namespace (owners differ, so the two never share a folder).
    /// </summary>
    public static string ExtractedLayers(string root, string? variant = null)
        => Path.Combine(root, variant is null ? ExtractedLayersName : ExtractedLayersName + "-" + variant);

    /// <summary>Every folder of extracted layers there is, root's and each user namespace's.</summary>
    public static IEnumerable<string> AllExtractedLayers(string root)
    {
        if (!Directory.Exists(root)) return [];
        return Directory.EnumerateDirectories(root, ExtractedLayersName + "*")
            .Where(d => Path.GetFileName(d) is var name && (name == ExtractedLayersName || name.StartsWith(ExtractedLayersName + "-", StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal);
    }

    /// <summary>Step folders of RUNs started without a build's temporary folder (<c>run/&lt;id&gt;/</c>).</summary>
    public static string Run(string root) => Path.Combine(root, "run");

    /// <summary>The state lock and the builds' leases.</summary>
    public static string Locks(string root) => Path.Combine(root, "locks");
}
