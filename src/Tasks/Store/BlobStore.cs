using System.Collections.Concurrent;
using Livrable.Diagnostics;
using Livrable.Images;

namespace Livrable.Store;

/// <summary>
/// The content-addressed blob store in Livrable's state folder: <c>blobs/sha256/&lt;hex&gt;</c>, as an OCI layout
/// lays blobs out. A blob enters only through <c>PutAsync</c> or <see cref="Commit"/>, which writes to a temporary name, checks the
/// digest and size, and renames: a killed build leaves a temporary file, never a wrong blob under a digest name.
/// Concurrent writers of the same blob are harmless: both write the same bytes and the rename is atomic.
/// </summary>
/// <remarks>
/// A blob is trusted once per store instance (one build): after this build wrote it, or after it was hashed in full
/// (<see cref="ContainsIntact"/>, or the first <see cref="Open"/>). A stored blob that fails its digest (a flipped
/// byte, a truncated file: a disk fault, a hand edit) is evicted on the spot, so whoever asked fetches or rebuilds it
/// in the same build (issue 10): the registry and archive sources, the layer and step caches and
/// <c>PutAsync</c>/<see cref="Commit"/> ask <see cref="ContainsIntact"/>. Reads still go through
/// <see cref="VerifyingStream"/>, and a blob damaged after its check is evicted too when that check fails.
/// </remarks>
public sealed class BlobStore
{
    /// <summary>The blobs this build wrote or hashed in full, and found right.</summary>
    private readonly ConcurrentDictionary<Digest, long> _intact = new();

    /// <summary>How many stored blobs this store read in full to check them (<see cref="ContainsIntact"/>), for the tests.</summary>
    public int BlobsHashed => _hashed;
    private int _hashed;

    /// <summary>How many bytes <c>PutAsync</c> hashed itself (not those a checking stream hashed for it), for the tests.</summary>
    internal long PutBytesHashed => Interlocked.Read(ref _putHashed);
    private long _putHashed;

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
        Lease = lease;
        TempDirectory = lease?.TempDirectory ?? folder.TempDirectory;
        Directory.CreateDirectory(TempDirectory);
        StartedEmpty = !HasAnyBlob(StateLayout.Blobs(Root));
    }

    /// <summary>
    /// Whether the store held no blob when it was opened (one store per build: a cold build, a fresh state folder).
    /// Then nothing of an earlier pull can be kept, and a registry tag is fetched with a GET alone, without the HEAD
    /// that would look for a kept copy (<c>Registry/RegistryClient.Manifests</c>; issue 14: a round trip on every
    /// cold build, one network latency on a remote registry).
    /// </summary>
    public bool StartedEmpty { get; }

    /// <summary>Whether any file is under <paramref name="blobs"/> (<c>blobs/&lt;algorithm&gt;/&lt;hex&gt;</c>); stops at the first.</summary>
    private static bool HasAnyBlob(string blobs)
    {
        // A fresh folder has none yet: answered without the exception of listing a missing folder.
        if (!Directory.Exists(blobs)) return false;
        try
        {
            return Directory.EnumerateFiles(blobs, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true }).Any();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Removed meanwhile (DirectoryNotFoundException is an IOException), or one that cannot be listed.
            return e is not DirectoryNotFoundException;
        }
    }

    /// <summary>The build's lease on the folder; null for a store opened without one (tests, tools).</summary>
    public StateLease? Lease { get; }

    /// <summary>The state folder.</summary>
    public StateFolder Folder { get; }

    /// <summary>The state folder's path.</summary>
    public string Root { get; }

    /// <summary>Where temporary files are written before they are renamed into place (same file system).</summary>
    public string TempDirectory { get; }

    /// <summary>The path a blob has (or would have) in the store. The digest's format guarantees it stays inside.</summary>
    public string PathOf(Digest digest) => Path.Combine(StateLayout.Blobs(Root), digest.Algorithm, digest.Hex);

    /// <summary>
    /// Whether the store has a file for <paramref name="digest"/>, unchecked (cheap: for decisions a damaged blob
    /// cannot mislead, such as what to download in bulk). Before using the bytes, ask <see cref="ContainsIntact"/>.
    /// </summary>
    public bool Contains(Digest digest) => File.Exists(PathOf(digest));

    /// <summary>
    /// Whether the store holds <paramref name="digest"/> with the right bytes (and <paramref name="size"/>, when
    /// given). Hashes the file the first time this build asks; a file whose bytes do not have the digest is evicted
    /// (deleted), so the caller fetches or rebuilds it as if it had never been there.
    /// </summary>
    public bool ContainsIntact(Digest digest, long? size = null)
    {
        string path = PathOf(digest);
        if (_intact.TryGetValue(digest, out long known))
            return (size is null || size == known) && File.Exists(path);
        long length;
        Digest actual;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            Interlocked.Increment(ref _hashed);
            using var hash = digest.CreateHash();
            var buffer = new byte[1 << 16];
            length = 0;
            int n;
            while ((n = file.Read(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, n);
                length += n;
            }
            actual = digest.WithHash(hash.GetHashAndReset());
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
        if (actual != digest)
        {
            Evict(digest);
            return false;
        }
        // The right bytes: another size asked for is the asker's mistake, not damage.
        _intact[digest] = length;
        return size is null || size == length;
    }

    /// <summary>
    /// The bytes of a small stored blob (a base image's manifest, index or config) when the store holds it with the
    /// right bytes, in one read; null when it does not, or it is larger than <paramref name="maxSize"/>. A damaged copy
    /// is evicted, so the caller fetches it as if it had never been there. An unchanged build of a base named by a tag
    /// reads these instead of asking the registry for them again (issue 14).
    /// </summary>
    public byte[]? TryReadSmall(Digest digest, int maxSize)
    {
        string path = PathOf(digest);
        byte[] bytes;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
            if (file.Length > maxSize) return null;
            bytes = new byte[file.Length];
            file.ReadExactly(bytes);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or EndOfStreamException)
        {
            return null;
        }
        using (var hash = digest.CreateHash())
        {
            hash.AppendData(bytes);
            if (digest.WithHash(hash.GetHashAndReset()) != digest)
            {
                Evict(digest);
                return null;
            }
        }
        _intact[digest] = bytes.Length;
        StateFolder.Touch(path);
        return bytes;
    }

    /// <summary>Removes a blob found damaged; whoever needs it fetches or rebuilds it.</summary>
    private void Evict(Digest digest)
    {
        _intact.TryRemove(digest, out _);
        TryDelete(PathOf(digest));
    }

    /// <summary>What a damaged blob that cannot be fetched or rebuilt here is reported as: what happened, and what to do.</summary>
    private static LivrableException Damaged(Digest digest, string detail)
        => new(DiagnosticCodes.DigestMismatch,
            $"The state folder's copy of blob {digest} was damaged ({detail}) and has been removed: build again, and it is fetched " +
            "or rebuilt. To check every stored blob, run dotnet msbuild -t:PruneContainerState -p:ContainerPruneVerify=true.");

    /// <summary>A new temporary file path in the store's temp folder.</summary>
    public string NewTempPath(string hint = "blob") => Path.Combine(TempDirectory, $"{hint}-{Guid.NewGuid():N}.tmp");

    /// <summary>
    /// Opens a stored blob, hashed in full once per build: a blob this build wrote (its digest computed as it was
    /// written) or already checked is read as it is, its length checked against <paramref name="descriptor"/>; any
    /// other (an earlier build's) is hashed in full first. So a layer the build just wrote is not hashed a second time
    /// on its way into a tarball (issue 14 item 5). A blob of another size than the descriptor's is read through
    /// <see cref="VerifyingStream"/>, which reports it.
    /// </summary>
    /// <exception cref="LivrableException">LIV4001 when the stored copy is damaged: it is evicted, and the message says
    /// the next build fetches or rebuilds it.</exception>
    public Stream Open(Descriptor descriptor)
    {
        var digest = descriptor.Digest;
        string path = PathOf(digest);
        if (File.Exists(path) && !ContainsIntact(digest))
            throw Damaged(digest, "its bytes do not have that digest");
        if (_intact.TryGetValue(digest, out long known) && known == descriptor.Size)
        {
            if (OpenChecked(path, known) is { } file)
            {
                StateFolder.Touch(path);
                return file;
            }
            // Cut or replaced since it was hashed: checked again, as a blob this build never saw.
            _intact.TryRemove(digest, out _);
            if (File.Exists(path) && !ContainsIntact(digest))
                throw Damaged(digest, "it changed after this build checked it");
        }
        var stream = new VerifyingStream(File.OpenRead(path), digest, descriptor.Size, $"Cached blob {digest}",
            onMismatch: message =>
            {
                Evict(digest);
                return Damaged(digest, message);
            });
        StateFolder.Touch(path);
        return stream;
    }

    /// <summary>
    /// The blob file at <paramref name="path"/> when it still has the <paramref name="length"/> it had when it was
    /// hashed; null when it is gone or changed (the caller then reads it through <see cref="VerifyingStream"/>, which
    /// evicts and reports it).
    /// </summary>
    private static FileStream? OpenChecked(string path, long length)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        if (file.Length == length) return file;
        file.Dispose();
        return null;
    }

    /// <summary>Records that the build uses <paramref name="digest"/> now, for least-recently-used eviction.</summary>
    public void Touch(Digest digest) => StateFolder.Touch(PathOf(digest));

    /// <summary>
    /// Copies <paramref name="content"/> into the store as <paramref name="expected"/> (when given, checked with
    /// <paramref name="size"/>), or as whatever digest it has. Returns the digest and size.
    /// </summary>
    public async Task<(Digest Digest, long Size)> PutAsync(Stream content, Digest? expected, long? size, CancellationToken cancellationToken)
    {
        // An entry already there is used only once checked; a damaged one is evicted here and written again.
        if (expected is { } known && ContainsIntact(known, size))
        {
            Touch(known);
            return (known, new FileInfo(PathOf(known)).Length);
        }
        string temp = NewTempPath();
        try
        {
            Digest digest;
            long length;
            // A stream that checks this very digest and size as it is read (a registry's blob, an archive's) throws from
            // its last read when they do not match: its bytes are not hashed a second time here (issue 14: 87 MB of a
            // base's layers hashed twice on a cold pull).
            var checking = content is VerifyingStream verifying && expected is { } e0 && size is { } s0 && verifying.ChecksFromStart(e0, s0)
                ? verifying : null;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                using var hash = checking is not null ? null
                    : (expected ?? default(Digest)).Algorithm is null
                    ? System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256)
                    : expected!.Value.CreateHash();
                var buffer = new byte[1 << 16];
                length = 0;
                int n;
                while ((n = await content.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    hash?.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                    length += n;
                    if (size is { } max && length > max)
                        throw new LivrableException(DiagnosticCodes.DigestMismatch, $"Blob {expected} is longer than the {max} bytes its descriptor gives.");
                }
                if (checking is not null)
                {
                    // Its end was read (the loop stops only on a read of nothing), so its check has run and passed;
                    // said again here, in every build, as nothing else stands between those bytes and the store.
                    if (!checking.Verified)
                        throw new LivrableException(DiagnosticCodes.DigestMismatch, $"Blob {expected} was stored unchecked: its checking stream ended without its check.");
                    digest = expected!.Value;
                }
                else
                {
                    Interlocked.Add(ref _putHashed, length);
                    var h = hash!.GetHashAndReset();
                    digest = expected is { } e ? e.WithHash(h) : Digest.FromSha256Hash(h);
                }
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
    /// If the store holds the blob already (another build stored it first), the file is dropped, unless that entry is
    /// damaged: then the fresh file replaces it (a rename, atomic for readers).
    /// </summary>
    public void Commit(string tempPath, Digest digest)
    {
        string target = PathOf(digest);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        long length = new FileInfo(tempPath).Length;
        try
        {
            File.Move(tempPath, target, overwrite: false);
        }
        catch (IOException) when (File.Exists(target))
        {
            if (ContainsIntact(digest, length))
            {
                TryDelete(tempPath);
                StateFolder.Touch(target);
                return;
            }
            File.Move(tempPath, target, overwrite: true);
        }
        _intact[digest] = length;
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
