using System.Text.Json;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;

namespace Livrable.Sources;

/// <summary>
/// An image in an OCI image layout folder (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):
/// <c>oci-layout</c>, <c>index.json</c> and <c>blobs/&lt;alg&gt;/&lt;hex&gt;</c>. The image is picked by its
/// <c>org.opencontainers.image.ref.name</c> annotation when a tag is given; blobs are read in place, verified.
/// </summary>
/// <remarks>
/// A layout is often someone else's (a downloaded or unpacked image): its files are opened only when they are regular
/// files reached without a symbolic link from the layout folder (<see cref="OpenInside"/>), so a blob linked to
/// <c>/etc/shadow</c> or to a FIFO is LIV4063, unread. A blob whose bytes are not its digest is LIV4001 without the
/// digest it does have (that would tell a hash of a file the user did not mean to publish).
/// </remarks>
public sealed class LayoutImage : IImageSource
{
    private readonly string _directory;
    private readonly string? _tag;

    /// <summary>The layout in <paramref name="directory"/>; <paramref name="tag"/> picks an entry of its index.</summary>
    public LayoutImage(string directory, string? tag = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        _directory = Path.GetFullPath(directory);
        _tag = tag;
    }

    /// <inheritdoc />
    public string Description => _tag is null ? $"oci-layout:{_directory}" : $"oci-layout:{_directory}:{_tag}";

    /// <summary>Reads the index, picks the image for <paramref name="platform"/>; LIV4050, LIV3005 or LIV4002 when it cannot.</summary>
    public async Task<IImage> ResolveAsync(Platform platform, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(platform);
        string layoutFile = Path.Combine(_directory, "oci-layout");
        if (!Path.Exists(layoutFile))
            throw new LivrableException(DiagnosticCodes.InputNotFound, $"'{_directory}' is not an OCI image layout: it has no 'oci-layout' file.");
        await using (var stream = OpenInside("oci-layout"))
            OciLayout.CheckLayoutFile(await OciLayout.ReadAllAsync(stream, OciLayout.MaxManifestSize, $"The oci-layout file of {Description}", cancellationToken).ConfigureAwait(false), Description);
        if (!Path.Exists(Path.Combine(_directory, "index.json")))
            throw new LivrableException(DiagnosticCodes.InvalidArchive, $"The OCI layout '{_directory}' has no 'index.json'.");
        byte[] index;
        await using (var stream = OpenInside("index.json"))
            index = await OciLayout.ReadAllAsync(stream, OciLayout.MaxManifestSize, $"The index.json of {Description}", cancellationToken).ConfigureAwait(false);
        return await OciLayout.ResolveAsync(index, _tag, platform, OpenBlob, OpenBlob, Description, cancellationToken).ConfigureAwait(false);
    }

    private Task<Stream> OpenBlob(Descriptor descriptor, CancellationToken cancellationToken)
    {
        string relative = $"blobs/{descriptor.Digest.Algorithm}/{descriptor.Digest.Hex}";
        if (!Path.Exists(Path.Combine(_directory, relative)) && UnixFileStatus.TryRead(Path.Combine(_directory, relative)) is null)
            throw new LivrableException(DiagnosticCodes.InvalidArchive, $"The OCI layout '{_directory}' has no blob {descriptor.Digest}.");
        Stream s = new VerifyingStream(OpenInside(relative), descriptor.Digest, descriptor.Size, $"Blob {descriptor.Digest} of {Description}", showActual: false);
        return Task.FromResult(s);
    }

    /// <summary>
    /// Opens the file at <paramref name="relative"/> (slash-separated) in the layout: every folder on the way must be a
    /// folder and the file a regular file, none of them a symbolic link (lstat, as <c>O_NOFOLLOW</c> would refuse
    /// them), else LIV4063 before anything is opened: a link could lead out of the layout (<c>/etc/shadow</c>) and a
    /// FIFO would block the build.
    /// </summary>
    private FileStream OpenInside(string relative)
    {
        string current = _directory;
        string[] parts = relative.Split('/');
        for (int i = 0; i < parts.Length; i++)
        {
            current = Path.Combine(current, parts[i]);
            bool last = i == parts.Length - 1;
            string? problem = null;
            if (UnixFileStatus.TryRead(current) is { } status)
            {
                if (status.Kind == UnixFileKind.SymbolicLink) problem = "a symbolic link";
                else if (last ? status.Kind != UnixFileKind.RegularFile : status.Kind != UnixFileKind.Directory)
                    problem = $"a {status.Kind.ToString().ToLowerInvariant()}, not a {(last ? "regular file" : "folder")}";
            }
            else if (new FileInfo(current).LinkTarget is not null)
            {
                problem = "a symbolic link"; // no statx here (not Linux): .NET's lstat still tells links apart
            }
            if (problem is not null)
                throw new LivrableException(DiagnosticCodes.LayoutBlobNotRegular,
                    $"'{relative}' of the OCI layout '{_directory}' is {problem}: a layout's files are read only when they are regular files " +
                    "inside it, so it is refused unread.");
        }
        return OpenNoFollow(current) ?? new FileStream(current, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
    }

    /// <summary>
    /// Opens with <c>O_NOFOLLOW | O_NONBLOCK</c> on Linux, so that a file swapped for a link after the check is refused
    /// by the kernel (ELOOP: LIV4063) and one swapped for a FIFO does not block (its read ends short: LIV4001); null
    /// where the flags are not known (another system or architecture), where the check alone stands.
    /// </summary>
    private static FileStream? OpenNoFollow(string path)
    {
        int noFollow = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
        {
            System.Runtime.InteropServices.Architecture.X64 or System.Runtime.InteropServices.Architecture.X86 => 0x20000,
            System.Runtime.InteropServices.Architecture.Arm64 or System.Runtime.InteropServices.Architecture.Arm => 0x8000,
            _ => 0,
        };
        if (!OperatingSystem.IsLinux() || noFollow == 0) return null;
        const int nonBlock = 0x800, closeOnExec = 0x80000, ELOOP = 40;
        int fd;
        try
        {
            fd = Open(path, noFollow | nonBlock | closeOnExec);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        if (fd < 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            if (errno == ELOOP)
                throw new LivrableException(DiagnosticCodes.LayoutBlobNotRegular, $"'{path}' became a symbolic link while it was opened; it is refused unread.");
            return null; // the usual FileStream says what is wrong
        }
        return new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, 1 << 16);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string path, int flags);
}

/// <summary>
/// Walks an OCI layout's <c>index.json</c> down to one image: by tag, then by platform through nested indexes. Shared
/// by the layout folder and the OCI archive (a layout in a tar).
/// </summary>
internal static class OciLayout
{
    /// <summary>The annotation an OCI layout names an image by (https://github.com/opencontainers/image-spec/blob/main/annotations.md).</summary>
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    /// <summary>The annotation containerd (and <c>docker save</c> since 25) gives the full image name by.</summary>
    public const string ContainerdNameAnnotation = "io.containerd.image.name";

    /// <summary>The <c>oci-layout</c> file's content.</summary>
    public static readonly byte[] LayoutFileBytes = """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray();

    /// <summary>Configs larger than this are refused (LIV4200): no real one comes close.</summary>
    public const int MaxDocumentSize = 16 << 20;

    /// <summary>
    /// Manifests and indexes (<c>index.json</c> and docker's <c>manifest.json</c> included) larger than this are refused
    /// (LIV4200): 4 MiB is what the distribution spec tells registries to accept at least and what containerd and
    /// go-containerregistry read at most, so a larger one could not be pushed or pulled anyway.
    /// </summary>
    public const int MaxManifestSize = 4 << 20;

    /// <summary>How deep indexes may nest before the walk gives up (a cycle, or a hostile layout).</summary>
    private const int MaxDepth = 8;

    /// <summary>Checks the <c>oci-layout</c> file names version 1.x.</summary>
    public static void CheckLayoutFile(byte[] bytes, string description)
    {
        using var doc = Json.Parse(bytes, $"The oci-layout file of {description}");
        string? version = doc.RootElement.ValueKind == JsonValueKind.Object ? Json.OptionalString(doc.RootElement, "imageLayoutVersion") : null;
        if (version is null || !version.StartsWith("1.", StringComparison.Ordinal))
            throw Descriptor.Invalid($"The oci-layout file of {description} has imageLayoutVersion '{version}', not 1.x");
    }

    /// <summary>
    /// Picks the image of <paramref name="indexJson"/> named <paramref name="tag"/> (or the only one) for
    /// <paramref name="platform"/>. <paramref name="openBlob"/> reads manifests, indexes and configs;
    /// <paramref name="openLayer"/> becomes each layer's <see cref="ILayer.OpenAsync"/>. Both return verifying streams.
    /// </summary>
    public static async Task<IImage> ResolveAsync(
        byte[] indexJson, string? tag, Platform platform,
        Func<Descriptor, CancellationToken, Task<Stream>> openBlob,
        Func<Descriptor, CancellationToken, Task<Stream>> openLayer,
        string description, CancellationToken cancellationToken)
    {
        var index = ImageIndex.Parse(indexJson, MediaTypes.OciIndex);
        var descriptor = PickEntry(index, tag, platform, description);
        for (int depth = 0; depth < MaxDepth; depth++)
        {
            if (MediaTypes.IsIndex(descriptor.MediaType))
            {
                byte[] bytes = await ReadAllAsync(openBlob, descriptor, cancellationToken).ConfigureAwait(false);
                var nested = ImageIndex.Parse(bytes, descriptor.MediaType);
                descriptor = nested.Select(platform) ?? throw NoPlatform(nested.Manifests, platform, description);
                continue;
            }
            if (!MediaTypes.IsManifest(descriptor.MediaType))
                throw Descriptor.Invalid($"{description} points at a '{descriptor.MediaType}', which is neither an image manifest nor an index");
            byte[] manifestBytes = await ReadAllAsync(openBlob, descriptor, cancellationToken).ConfigureAwait(false);
            var manifest = ImageManifest.Parse(manifestBytes, descriptor.MediaType);
            byte[] config = await ReadAllAsync(openBlob, manifest.Config, cancellationToken).ConfigureAwait(false);
            return SourcedImage.Create(ManifestAndConfig.Check(manifest, manifestBytes, config, description), openLayer).ForPlatform(platform, description);
        }
        throw Descriptor.Invalid($"The indexes of {description} nest more than {MaxDepth} deep");
    }

    /// <summary>Reads a small blob (manifest, index, config) whole, verified.</summary>
    public static async Task<byte[]> ReadAllAsync(Func<Descriptor, CancellationToken, Task<Stream>> open, Descriptor descriptor, CancellationToken cancellationToken)
    {
        int max = MediaTypes.IsManifest(descriptor.MediaType) || MediaTypes.IsIndex(descriptor.MediaType) ? MaxManifestSize : MaxDocumentSize;
        if (descriptor.Size > max)
            throw TooLarge($"The {descriptor.MediaType} {descriptor.Digest}", descriptor.Size, max);
        await using var stream = await open(descriptor, cancellationToken).ConfigureAwait(false);
        var buffer = new MemoryStream((int)descriptor.Size);
        await stream.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    /// <summary>LIV4200 for a document of <paramref name="size"/> bytes over <paramref name="max"/>.</summary>
    public static LivrableException TooLarge(string what, long size, int max)
        => new(DiagnosticCodes.DocumentTooLarge, $"{what} is {size} bytes; Livrable reads documents of up to {max} bytes (a hostile or broken image), so it is refused.");

    /// <summary>Reads an opened file whole; LIV4200 when it is larger than <paramref name="max"/>.</summary>
    public static async Task<byte[]> ReadAllAsync(FileStream stream, int max, string what, CancellationToken cancellationToken)
    {
        if (stream.Length > max) throw TooLarge(what, stream.Length, max);
        var bytes = new byte[stream.Length];
        await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
        return bytes;
    }

    /// <summary>Whether an index entry carries the name <paramref name="tag"/> (the ref name, or containerd's full name).</summary>
    public static bool HasName(Descriptor entry, string tag)
        => entry.Annotations is { } a
           && ((a.TryGetValue(RefNameAnnotation, out var refName) && refName == tag)
               || (a.TryGetValue(ContainerdNameAnnotation, out var fullName) && fullName == tag));

    private static Descriptor PickEntry(ImageIndex index, string? tag, Platform platform, string description)
    {
        var entries = index.Manifests;
        if (tag is not null)
        {
            entries = entries.Where(e => HasName(e, tag)).ToList();
            if (entries.Count == 0)
                throw new LivrableException(DiagnosticCodes.ImageNotInArchive,
                    $"{description} has no image named '{tag}'; it has {NamesOf(index.Manifests)}.");
        }
        if (entries.Count == 0)
            throw new LivrableException(DiagnosticCodes.ImageNotInArchive, $"{description} holds no image.");
        // docker save writes one entry per tag, all for the same manifest: that is still one image.
        if (entries.Select(e => e.Digest).Distinct().Count() == 1) return entries[0];
        // Some tools list each platform's manifest at the top of index.json instead of nesting an index.
        if (entries.All(e => e.Platform is not null))
            return new ImageIndex(MediaTypes.OciIndex, entries).Select(platform) ?? throw NoPlatform(entries, platform, description);
        throw new LivrableException(DiagnosticCodes.ImageNotInArchive,
            $"{description} holds {entries.Count} images; name one with ':tag' after the path. It has {NamesOf(entries)}.");
    }

    private static string NamesOf(IReadOnlyList<Descriptor> entries)
    {
        var names = entries
            .Select(e => e.Annotations is { } a && a.TryGetValue(RefNameAnnotation, out var n) ? n : null)
            .Where(n => n is not null).Distinct().ToList();
        return names.Count == 0 ? "no named image" : string.Join(", ", names.Select(n => $"'{n}'"));
    }

    private static LivrableException NoPlatform(IReadOnlyList<Descriptor> entries, Platform platform, string description)
    {
        var platforms = entries.Where(e => e.Platform is not null && MediaTypes.IsManifest(e.MediaType)).Select(e => e.Platform!.ToString()).Distinct().ToList();
        return new LivrableException(DiagnosticCodes.PlatformNotFound,
            $"{description} has no image for {platform}; it has {(platforms.Count == 0 ? "none with a platform" : string.Join(", ", platforms))}.");
    }
}
