using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Store;

/// <summary>
/// Issue 14 item 4: a base layer pulled from a registry (or read from an image tarball) arrives through a
/// <see cref="VerifyingStream"/>, which hashes it and checks size and digest at its end; the store copied it in and
/// hashed the same bytes a second time (87 MB twice on bench workload a's cold publish). A stream that checks the very
/// digest and size the store is asked for is now stored unhashed by the store, and what it lets through is still only
/// the right bytes: a stream of other bytes, fewer or more, leaves no blob and no temporary file.
/// </summary>
public sealed class VerifiedPutTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static byte[] Random(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static VerifyingStream Checking(byte[] bytes, Digest digest, long size)
        => new(new MemoryStream(bytes, writable: false), digest, size, "Blob from the test registry");

    [Fact]
    public async Task A_blob_its_stream_checks_is_hashed_once_and_stored_whole()
    {
        var store = new BlobStore(_temp["state"]);
        var bytes = Random(300_000, 1);
        var digest = Digest.Sha256(bytes);

        var (stored, size) = await store.PutAsync(Checking(bytes, digest, bytes.Length), digest, bytes.Length, CancellationToken.None);

        Assert.Equal((digest, (long)bytes.Length), (stored, size));
        Assert.Equal(0, store.PutBytesHashed);
        Assert.Equal(bytes, File.ReadAllBytes(store.PathOf(digest)));
        // Another build hashes what it did not write: the stored bytes have their digest.
        Assert.True(new BlobStore(_temp["state"]).ContainsIntact(digest, bytes.Length));
        // A stream that checks nothing is hashed by the store, as before.
        var other = Random(1000, 2);
        await store.PutAsync(new MemoryStream(other), Digest.Sha256(other), other.Length, CancellationToken.None);
        Assert.Equal(other.Length, store.PutBytesHashed);
    }

    public enum Wrong { OneByteFlipped, CutShort, Longer }

    [Theory]
    [InlineData(Wrong.OneByteFlipped)]
    [InlineData(Wrong.CutShort)]
    [InlineData(Wrong.Longer)]
    public async Task Bytes_the_checking_stream_refuses_leave_no_blob_and_no_temporary_file(Wrong wrong)
    {
        var store = new BlobStore(_temp["state"]);
        var bytes = Random(200_000, 3);
        var digest = Digest.Sha256(bytes);
        byte[] sent = wrong switch
        {
            Wrong.OneByteFlipped => [.. bytes[..1000], (byte)(bytes[1000] ^ 1), .. bytes[1001..]],
            Wrong.CutShort => bytes[..150_000],
            _ => [.. bytes, 0],
        };

        var e = await Assert.ThrowsAsync<LivrableException>(() => store.PutAsync(Checking(sent, digest, bytes.Length), digest, bytes.Length, CancellationToken.None));

        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
        Assert.False(File.Exists(store.PathOf(digest)));
        Assert.Empty(Directory.EnumerateFileSystemEntries(store.TempDirectory));
    }

    [Fact]
    public async Task A_stream_that_checks_another_digest_or_size_is_hashed_by_the_store()
    {
        var store = new BlobStore(_temp["state"]);
        var bytes = Random(50_000, 4);
        var digest = Digest.Sha256(bytes);
        var wrong = Digest.Sha256(bytes[1..]);

        // The stream vouches for its own (matching) digest; the store was asked for another, and hashes to find out.
        var e = await Assert.ThrowsAsync<LivrableException>(() => store.PutAsync(Checking(bytes, digest, bytes.Length), wrong, bytes.Length, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
        Assert.False(File.Exists(store.PathOf(wrong)));

        // Asked for the digest the stream checks but another size: hashed and counted by the store, then refused.
        e = await Assert.ThrowsAsync<LivrableException>(() => store.PutAsync(Checking(bytes, digest, bytes.Length), digest, bytes.Length + 1, CancellationToken.None));
        Assert.Equal(DiagnosticCodes.DigestMismatch, e.Code);
        Assert.Equal(2L * bytes.Length, store.PutBytesHashed);
        Assert.False(File.Exists(store.PathOf(digest)));
    }
}
