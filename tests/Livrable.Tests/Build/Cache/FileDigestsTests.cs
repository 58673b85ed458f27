using System.Security.Cryptography;
using Livrable.Build.Cache;
using Livrable.Images;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Build.Cache;

/// <summary>
/// The file digest index: a file whose status is unchanged is not read again, even by a new build (the index is
/// saved and loaded); a content change with size and modification time put back is caught by the change time; a file
/// changed within the racy window is hashed but not recorded.
/// </summary>
public sealed class FileDigestsTests
{
    private static Digest Sha256Of(string path) => Digest.FromSha256Hash(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public void A_file_just_written_is_hashed_every_time_until_it_is_older_than_the_racy_window()
    {
        using var temp = new TempDirectory();
        string folder = temp["context"];
        Directory.CreateDirectory(folder);
        string file = Path.Combine(folder, "fresh.txt");
        File.WriteAllText(file, "fresh");

        var digests = FileDigests.Open(temp["state"], folder);
        Assert.Equal(Sha256Of(file), digests.DigestOf(file));
        Assert.Equal(Sha256Of(file), digests.DigestOf(file));
        Assert.Equal(2, digests.FilesHashed);
    }

    [Fact]
    public async Task An_unchanged_file_is_read_once_across_builds_and_a_same_size_same_time_edit_is_read_again()
    {
        using var temp = new TempDirectory();
        string folder = temp["context"];
        Directory.CreateDirectory(folder);
        string file = Path.Combine(folder, "a.txt");
        File.WriteAllText(file, "aaaa");
        // Out of the racy window, so the digest is recorded (a wait, not a timing assertion).
        await Task.Delay(LayerCacheRacyWindow + TimeSpan.FromMilliseconds(200));

        var first = FileDigests.Open(temp["state"], folder);
        Assert.Equal(Sha256Of(file), first.DigestOf(file));
        Assert.Equal(Sha256Of(file), first.DigestOf(file));
        Assert.Equal(1, first.FilesHashed);
        first.Save();

        var second = FileDigests.Open(temp["state"], folder);
        Assert.Equal(Sha256Of(file), second.DigestOf(file));
        Assert.Equal(0, second.FilesHashed);

        var time = File.GetLastWriteTimeUtc(file);
        File.WriteAllText(file, "bbbb");
        File.SetLastWriteTimeUtc(file, time);
        Assert.Equal(Sha256Of(file), second.DigestOf(file));
        Assert.Equal(1, second.FilesHashed);
    }

    [Fact]
    public void A_damaged_index_is_an_empty_one()
    {
        using var temp = new TempDirectory();
        string folder = temp["context"];
        Directory.CreateDirectory(folder);
        string file = Path.Combine(folder, "a.txt");
        File.WriteAllText(file, "a");
        string index = temp["state", "cache", "files"];
        Directory.CreateDirectory(index);
        string name = Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(folder)))).ToLowerInvariant();
        File.WriteAllBytes(Path.Combine(index, name + ".index"), [1, 2, 3]);

        var digests = FileDigests.Open(temp["state"], folder);
        Assert.Equal(Sha256Of(file), digests.DigestOf(file));
    }

    [Fact]
    public async Task A_status_the_walk_read_is_taken_as_it_is_and_not_asked_again()
    {
        if (!Livrable.Layers.UnixFileStatus.IsAvailable) return;
        using var temp = new TempDirectory();
        string folder = temp["context"];
        Directory.CreateDirectory(folder);
        string file = Path.Combine(folder, "a.txt");
        File.WriteAllText(file, "aaaa");
        await Task.Delay(LayerCacheRacyWindow + TimeSpan.FromMilliseconds(200));
        var before = Sha256Of(file);
        var first = FileDigests.Open(temp["state"], folder);
        Assert.Equal(before, first.DigestOf(file));
        first.Save();

        // The walk's status, then an edit that changes the file's change time: the lookup with the walk's status
        // answers for the file as the walk saw it, without reading it or asking for its status again.
        var walked = Livrable.Layers.UnixFileStatus.TryRead(file)!.Value;
        var time = File.GetLastWriteTimeUtc(file);
        File.WriteAllText(file, "bbbb");
        File.SetLastWriteTimeUtc(file, time);
        var second = FileDigests.Open(temp["state"], folder);
        Assert.Equal(before, second.DigestOf(file, walked, out var status));
        Assert.Equal(walked, status);
        Assert.Equal(0, second.FilesHashed);

        // Asked without it, the lookup reads the status, sees the edit and hashes the file.
        Assert.Equal(Sha256Of(file), second.DigestOf(file, out _));
        Assert.Equal(1, second.FilesHashed);
    }

    private static readonly TimeSpan LayerCacheRacyWindow = Livrable.Build.Cache.FileDigests.RacyWindow;
}
