using System.Collections.Concurrent;
using System.Security.Cryptography;
using Livrable.Build.Cache;
using Livrable.Images;
using Livrable.Layers;
using Livrable.Store;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// A COPY's build context files hashed in the pass that writes them into the layer, instead of in a pass of their own
/// before it (issue 14 item 5: a cold build read the 300 MB of workload b twice). Used only when the step cannot be
/// found in the step cache whatever its key (<see cref="StepKey.MayDefer"/>): its key's content digests are then
/// deferred (<see cref="StepKey.AddLater"/>) and taken from here once the layer is written. Each file read whole is
/// recorded in the context's digest index (<see cref="FileDigests.Record"/>, with its racy-window and status checks),
/// so the next build finds it there as if it had been hashed for the key. A file the layer did not read whole (a
/// second name of a hard-linked file, an empty file, a read that failed) is hashed on its own when the key asks.
/// </summary>
internal sealed class ContextReads(FileDigests digests)
{
    private readonly ConcurrentDictionary<string, Digest> _read = new(StringComparer.Ordinal);

    /// <summary>How many files the layer write hashed as it read them (the detailed log's count).</summary>
    public int FilesHashed => _read.Count;

    /// <summary>
    /// Opens the context file <paramref name="fullPath"/>, which the plan says has <paramref name="size"/> bytes: its
    /// sha256 is taken as the layer write reads it, and kept when it read exactly that many bytes.
    /// </summary>
    public Stream Open(string fullPath, long size)
    {
        var before = UnixFileStatus.TryRead(fullPath);
        // Synchronous and unbuffered, as File.OpenRead serves the tar writer, which reads into its own large buffer.
        var file = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        return new HashingReader(file, size, hash =>
        {
            _read[fullPath] = Digest.FromSha256Hash(hash);
            if (before is { } status && status.Size == size) digests.Record(fullPath, status, hash);
        });
    }

    /// <summary>The content digest of <paramref name="fullPath"/>: as the layer write read it, else from the index or the file.</summary>
    public Digest DigestOf(string fullPath) => _read.TryGetValue(fullPath, out var digest) ? digest : digests.DigestOf(fullPath);

    /// <summary>Passes reads through, hashing them; when exactly the expected bytes were read, hands the hash over at dispose.</summary>
    private sealed class HashingReader(Stream inner, long expected, Action<byte[]> onComplete) : ReadOnlyStreamBase
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private long _read;

        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            Account(buffer[..n]);
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            Account(buffer.Span[..n]);
            return n;
        }

        private void Account(ReadOnlySpan<byte> data)
        {
            _hash.AppendData(data);
            _read += data.Length;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                // The layer holds exactly the bytes hashed only when the plan's size was read, and no byte more is there.
                if (_read == expected && inner.Length == expected) onComplete(_hash.GetHashAndReset());
                inner.Dispose();
                _hash.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
