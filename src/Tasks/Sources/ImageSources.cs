using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Store;

namespace Livrable.Sources;

/// <summary>
/// Maps a base image string (the forms documented on <see cref="Build.ImageBuildRequest.BaseImage"/>) to the source
/// that reads it: <c>scratch</c>, a local tarball or OCI layout, or a registry reference.
/// </summary>
public static class ImageSources
{
    /// <summary>
    /// The source for <paramref name="baseImage"/>:
    /// <list type="bullet">
    /// <item><c>scratch</c>: the empty image;</item>
    /// <item><c>oci-layout:DIR[:tag]</c>: an OCI image layout folder;</item>
    /// <item><c>archive:FILE[:tag]</c>, <c>docker-archive:FILE[:tag]</c>, <c>oci-archive:FILE[:tag]</c>: an image tarball
    /// (the first reads either kind; the others prefer that kind's metadata when a tarball has both);</item>
    /// <item>a path to an existing file (a tarball) or to a folder holding <c>oci-layout</c>;</item>
    /// <item>anything else: a registry reference, parsed by <see cref="ImageReference.Parse"/> and handed to
    /// <paramref name="registrySource"/>.</item>
    /// </list>
    /// A string that looks like a path (<c>/</c>, <c>./</c>, <c>../</c>, or a backslash) but names nothing is LIV2007;
    /// a bad reference is LIV2001.
    /// </summary>
    public static IImageSource Open(string baseImage, BlobStore store, Func<ImageReference, IImageSource> registrySource)
    {
        ArgumentNullException.ThrowIfNull(baseImage);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(registrySource);
        var location = Locate(baseImage);
        return location.Kind switch
        {
            ImageLocationKind.Scratch => ScratchImage.Instance,
            ImageLocationKind.Layout => new LayoutImage(location.Path!, location.Tag),
            ImageLocationKind.Archive => new ArchiveImage(location.Path!, location.Tag, store, location.ArchiveKind),
            _ => registrySource(location.Reference!),
        };
    }

    /// <summary>
    /// Where <paramref name="baseImage"/> (<see cref="Open"/>'s forms) lives, without reading it: what
    /// <see cref="Open"/> opens, and what MSBuild's up-to-date check watches (a tarball's file, a layout's
    /// <c>index.json</c>; a registry reference by tag is resolved again on every build). Relative paths are relative
    /// to <paramref name="baseDirectory"/>, else to the current directory (the project's folder in MSBuild); the
    /// location keeps them as given. LIV2007 and LIV2001 as <see cref="Open"/>.
    /// </summary>
    public static ImageLocation Locate(string baseImage, string? baseDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(baseImage);
        string value = baseImage.Trim();
        if (value.Length == 0)
            throw new LivrableException(DiagnosticCodes.InvalidReference, "The base image is empty: give a reference such as mcr.microsoft.com/dotnet/runtime:8.0, or scratch.");
        if (value == "scratch") return new ImageLocation(ImageLocationKind.Scratch);
        string Full(string path) => baseDirectory is null ? path : System.IO.Path.GetFullPath(path, baseDirectory);
        bool FileExists(string path) => File.Exists(Full(path));
        bool DirectoryExists(string path) => Directory.Exists(Full(path));

        if (TryStripPrefix(value, "oci-layout:", out string rest))
        {
            var (dir, tag) = SplitPathAndTag(rest, DirectoryExists, value);
            return new ImageLocation(ImageLocationKind.Layout, dir, tag);
        }
        foreach (var (prefix, kind) in ArchivePrefixes)
        {
            if (TryStripPrefix(value, prefix, out rest))
            {
                var (file, tag) = SplitPathAndTag(rest, FileExists, value);
                return new ImageLocation(ImageLocationKind.Archive, file, tag) { ArchiveKind = kind };
            }
        }

        if (FileExists(value)) return new ImageLocation(ImageLocationKind.Archive, value);
        if (DirectoryExists(value))
        {
            if (File.Exists(System.IO.Path.Combine(Full(value), "oci-layout"))) return new ImageLocation(ImageLocationKind.Layout, value);
            throw new LivrableException(DiagnosticCodes.InputNotFound,
                $"The base image '{value}' is a folder but not an OCI image layout: it has no 'oci-layout' file.");
        }
        if (LooksLikePath(value))
            throw new LivrableException(DiagnosticCodes.InputNotFound,
                $"The base image '{value}' looks like a path, but no such file or folder exists.");
        return new ImageLocation(ImageLocationKind.Registry) { Reference = ImageReference.Parse(value) };
    }

    private static readonly (string Prefix, ArchiveKind Kind)[] ArchivePrefixes =
    [
        ("archive:", ArchiveKind.Auto),
        ("docker-archive:", ArchiveKind.Docker),
        ("oci-archive:", ArchiveKind.Oci),
    ];

    private static bool TryStripPrefix(string value, string prefix, out string rest)
    {
        bool match = value.StartsWith(prefix, StringComparison.Ordinal);
        rest = match ? value[prefix.Length..] : "";
        return match;
    }

    /// <summary>
    /// Splits <c>PATH[:tag]</c>. A path may itself hold colons (<c>C:\x</c>, <c>/tmp/a:b</c>), so the split is at the
    /// first colon whose left side exists; what follows (which may be <c>repo:tag</c>) is the tag.
    /// </summary>
    private static (string Path, string? Tag) SplitPathAndTag(string rest, Func<string, bool> exists, string whole)
    {
        if (rest.Length > 0 && exists(rest)) return (rest, null);
        for (int i = rest.IndexOf(':'); i >= 0; i = rest.IndexOf(':', i + 1))
        {
            string path = rest[..i];
            if (path.Length > 0 && exists(path))
            {
                string tag = rest[(i + 1)..];
                if (tag.Length == 0)
                    throw new LivrableException(DiagnosticCodes.InvalidReference, $"The base image '{whole}' ends with ':' but names no tag.");
                return (path, tag);
            }
        }
        throw new LivrableException(DiagnosticCodes.InputNotFound, $"The base image '{whole}' names '{rest}', which does not exist.");
    }

    private static bool LooksLikePath(string value)
        => value.StartsWith('/') || value.StartsWith("./", StringComparison.Ordinal) || value.StartsWith("../", StringComparison.Ordinal)
           || value.Contains('\\') || value is "." or "..";
}

/// <summary>What kind of place an image string names (<see cref="ImageSources.Locate"/>).</summary>
public enum ImageLocationKind
{
    /// <summary><c>scratch</c>: the empty image, nothing to read.</summary>
    Scratch,
    /// <summary>An image tarball (<c>archive:</c>, <c>docker-archive:</c>, <c>oci-archive:</c>, or an existing file).</summary>
    Archive,
    /// <summary>An OCI image layout folder (<c>oci-layout:</c>, or an existing folder with <c>oci-layout</c>).</summary>
    Layout,
    /// <summary>A registry reference, by tag or by digest.</summary>
    Registry,
}

/// <summary>
/// Where an image string points (<see cref="ImageSources.Locate"/>): the kind, the tarball or layout path as given
/// and the tag in it, or the registry reference.
/// </summary>
public sealed record ImageLocation(ImageLocationKind Kind, string? Path = null, string? Tag = null)
{
    /// <summary>The registry reference, for <see cref="ImageLocationKind.Registry"/>.</summary>
    public ImageReference? Reference { get; init; }

    /// <summary>Which metadata of a tarball to read, for <see cref="ImageLocationKind.Archive"/>.</summary>
    internal ArchiveKind ArchiveKind { get; init; }

    /// <summary>
    /// Whether the image can change while its string stays the same: a registry reference by tag (a tag moves).
    /// A digest, a tarball or layout (whose files MSBuild watches) and scratch are pinned.
    /// </summary>
    public bool IsTag => Kind == ImageLocationKind.Registry && Reference!.Digest is null;
}

/// <summary>Which metadata of an image tarball to read when it has both (Docker 25+ writes both).</summary>
internal enum ArchiveKind
{
    /// <summary>The OCI layout (<c>index.json</c>) when present, else <c>manifest.json</c>.</summary>
    Auto,
    /// <summary><c>manifest.json</c>, as <c>docker load</c> reads it.</summary>
    Docker,
    /// <summary><c>oci-layout</c> and <c>index.json</c>.</summary>
    Oci,
}

/// <summary>
/// An <see cref="IImage"/> read from a source: the manifest and config in memory, checked against each other once
/// (<see cref="ManifestAndConfig"/>); layer bytes are read through a delegate that verifies them.
/// </summary>
internal sealed class SourcedImage : IImage
{
    private SourcedImage(ManifestAndConfig parts, IReadOnlyList<ILayer> layers)
    {
        Manifest = parts.Manifest;
        ManifestBytes = parts.ManifestBytes;
        Digest = Digest.Sha256(parts.ManifestBytes);
        Config = parts.Config;
        ConfigBytes = parts.ConfigBytes;
        Layers = layers;
    }

    public ImageManifest Manifest { get; }
    public byte[] ManifestBytes { get; }
    public Digest Digest { get; }
    public ImageConfig Config { get; }
    public byte[] ConfigBytes { get; }
    public IReadOnlyList<ILayer> Layers { get; }

    /// <summary>Builds an image from its manifest and config bytes, checked by <see cref="ManifestAndConfig.Parse"/>.</summary>
    public static SourcedImage Create(
        byte[] manifestBytes, string? mediaTypeHint, byte[] configBytes,
        Func<Descriptor, CancellationToken, Task<Stream>> openLayer, string description)
        => Create(ManifestAndConfig.Parse(manifestBytes, mediaTypeHint, configBytes, description), openLayer);

    /// <summary>Builds an image from a checked manifest and config; <paramref name="openLayer"/> reads each layer's blob.</summary>
    public static SourcedImage Create(ManifestAndConfig parts, Func<Descriptor, CancellationToken, Task<Stream>> openLayer)
        => new(parts, parts.Layers((descriptor, diffId) => new SourcedLayer(descriptor, diffId, openLayer)));

    /// <summary>Throws LIV3005 unless the config's platform serves <paramref name="wanted"/>.</summary>
    public SourcedImage ForPlatform(Platform wanted, string description)
    {
        ManifestAndConfig.RequirePlatform(Config, wanted, actual => $"The base image {description} is for {actual}, not for {wanted}.");
        return this;
    }
}

/// <summary>A layer of a <see cref="SourcedImage"/>: descriptor and diff id from the manifest and config.</summary>
internal sealed class SourcedLayer(Descriptor descriptor, Digest diffId, Func<Descriptor, CancellationToken, Task<Stream>> open) : ILayer
{
    public Descriptor Descriptor { get; } = descriptor;
    public Digest DiffId { get; } = diffId;
    public Task<Stream> OpenAsync(CancellationToken cancellationToken) => open(Descriptor, cancellationToken);
}
