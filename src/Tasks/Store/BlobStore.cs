using Livrable.Diagnostics;
using Livrable.Images;

namespace Livrable.Store;

/// <summary>
/// The content-addressed blob store in Livrable's state folder: <c>blobs/sha256/&lt;hex&gt;</c>, as an OCI layout
/// lays blobs out. A blob enters only through <c>PutAsync</c> or <see cref="Commit"/>, which writes to a temporary name, checks the
/// digest and size, and renames: a killed build leaves a temporary file, never a wrong blob under a digest name.
/// Concurrent writers of the same blob are harmless: both write the same bytes and the rename is atomic.
/// </summary>
public sealed class BlobStore
{
    /// <summary>Opens (and creates) the store under <paramref name="stateDirectory"/>, with no build lease (tests, tools).</summary>
    public BlobStore(string stateDirectory)
        : this(StateFolder.Open(stateDirectory), lease: null)
    {
    }

    /// <summary>
    /// The store of <paramref name="folder"/>; with a <paramref name="lease"/>, temporary files go to the build's own
    /// <c>tmp/&lt;lease&gt;/</c>, which a later build removes once this one is gone.
    /// </summary>
    public BlobStore(StateFolder folder, StateLease? lease)
    {
        Folder = folder;
        Root = folder.Root;
        TempDirectory = lease?.TempDirectory ?? folder.TempDirectory;
        Directory.CreateDirectory(TempDirectory);
    }

    /// <summary>The state folder.</summary>
    public StateFolder Folder { get; }

    /// <summary>The state folder's path.</summary>
    public string Root { get; }

    /// <summary>Where temporary files are written before they are renamed into place (same file system).</summary>
    public string TempDirectory { get; }

    /// <summary>The path a blob has (or would have) in the store. The digest's format guarantees it stays inside.</summary>
    public string PathOf(Digest digest) => Path.Combine(StateLayout.Blobs(Root), digest.Algorithm, digest.Hex);

    /// <summary>Whether the store holds <paramref name="digest"/>.</summary>
    public bool Contains(Digest digest) => File.Exists(PathOf(digest));

    /// <summary>A new temporary file path in the store's temp folder.</summary>
    public string NewTempPath(string hint = "blob") => Path.Combine(TempDirectory, $"{hint}-{Guid.NewGuid():N}.tmp");

    /// <summary>Opens a stored blob, verifying it against <paramref name="descriptor"/> as it is read.</summary>
    public Stream Open(Descriptor descriptor)
    {
        string path = PathOf(descriptor.Digest);
        var stream = new VerifyingStream(File.OpenRead(path), descriptor.Digest, descriptor.Size, $"Cached blob {descriptor.Digest}");
        StateFolder.Touch(path);
        return stream;
    }

    /// <summary>Records that the build uses <paramref name="digest"/> now, for least-recently-used eviction.</summary>
    public void Touch(Digest digest) => StateFolder.Touch(PathOf(digest));

    /// <summary>
    /// Copies <paramref name="content"/> into the store as <paramref name="expected"/> (when given, checked with
    /// <paramref name="size"/>), or as whatever digest it has. Returns the digest and size.
    /// </summary>
    public async Task<(Digest Digest, long Size)> PutAsync(Stream content, Digest? expected, long? size, CancellationToken cancellationToken)
    {
        if (expected is { } known && Contains(known))
        {
            Touch(known);
            return (known, new FileInfo(PathOf(known)).Length);
        }
        string temp = NewTempPath();
        try
        {
            Digest digest;
            long length;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                using var hash = (expected ?? default(Digest)).Algorithm is null
                    ? System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256)
                    : expected!.Value.CreateHash();
                var buffer = new byte[1 << 16];
                length = 0;
                int n;
                while ((n = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                    length += n;
                    if (size is { } max && length > max)
                        throw new LivrableException(DiagnosticCodes.DigestMismatch, $"Blob {expected} is longer than the {max} bytes its descriptor gives.");
                }
                var h = hash.GetHashAndReset();
                digest = expected is { } e ? e.WithHash(h) : Digest.FromSha256Hash(h);
            }
            if (expected is { } want && digest != want)
                throw new LivrableException(DiagnosticCodes.DigestMismatch, $"Blob has digest {digest}, not the expected {want}.");
            if (size is { } s && length != s)
                throw new LivrableException(DiagnosticCodes.DigestMismatch, $"Blob {digest} has {length} bytes, not the expected {s}.");
            Commit(temp, digest);
            return (digest, length);
        }
        finally
        {
            TryDelete(temp);
        }
    }

    /// <summary>Stores small in-memory bytes (manifests, configs).</summary>
    public Task<(Digest Digest, long Size)> PutAsync(byte[] bytes, CancellationToken cancellationToken)
        => PutAsync(new MemoryStream(bytes, writable: false), Digest.Sha256(bytes), bytes.Length, cancellationToken);

    /// <summary>
    /// Moves a finished temporary file, whose digest the caller computed while writing it, into place.
    /// If another build stored the same blob first, the file is simply dropped.
    /// </summary>
    public void Commit(string tempPath, Digest digest)
    {
        string target = PathOf(digest);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        try
        {
            File.Move(tempPath, target, overwrite: false);
        }
        catch (IOException) when (File.Exists(target))
        {
            TryDelete(tempPath);
            StateFolder.Touch(target);
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
