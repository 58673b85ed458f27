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

    /// <summary>The index file of <paramref name="folder"/> in the state folder <paramref name="state"/>.</summary>
    private static string IndexOf(string state, string folder)
        => Path.Combine(state, "cache", "files",
            Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(folder)))).ToLowerInvariant() + ".index");

    [Fact]
    public async Task An_index_of_the_first_format_is_read_as_it_was_and_written_back_in_the_second()
    {
        if (!Livrable.Layers.UnixFileStatus.IsAvailable) return;
        using var temp = new TempDirectory();
        string folder = temp["context"];
        Directory.CreateDirectory(Path.Combine(folder, "sub"));
        string a = Path.Combine(folder, "sub", "a.txt"), b = Path.Combine(folder, "b.txt");
        File.WriteAllText(a, "aaaa");
        File.WriteAllText(b, "bb");
        await Task.Delay(LayerCacheRacyWindow + TimeSpan.FromMilliseconds(200));

        // What Livrable before format v2 wrote: the magic, the count, then per file its full path, status and sha256.
        string index = IndexOf(temp["state"], folder);
        Directory.CreateDirectory(Path.GetDirectoryName(index)!);
        using (var writer = new BinaryWriter(File.Create(index), System.Text.Encoding.UTF8))
        {
            writer.Write("livrable-file-digests-v1");
            writer.Write(2);
            foreach (string file in new[] { a, b })
            {
                var s = Livrable.Layers.UnixFileStatus.TryRead(file)!.Value;
                writer.Write(file);
                writer.Write(s.Size);
                writer.Write(s.ModificationTime);
                writer.Write(s.ChangeTime);
                writer.Write(s.Device);
                writer.Write(s.Inode);
                writer.Write(s.Mode);
                writer.Write(SHA256.HashData(File.ReadAllBytes(file)));
            }
        }

        var first = FileDigests.Open(temp["state"], folder);
        Assert.Equal(Sha256Of(a), first.DigestOf(a));
        Assert.Equal(Sha256Of(b), first.DigestOf(b));
        Assert.Equal(0, first.FilesHashed);
        first.Save();
        Assert.Equal("livrable-file-digests-v2", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(index), 1, 24));

        // Read back in the new format: still known, and an edit that keeps size and modification time is still seen.
        var second = FileDigests.Open(temp["state"], folder);
        Assert.Equal(2, second.Loaded);
        Assert.Equal(Sha256Of(a), second.DigestOf(a));
        Assert.Equal(0, second.FilesHashed);
        var time = File.GetLastWriteTimeUtc(b);
        File.WriteAllText(b, "cc");
        File.SetLastWriteTimeUtc(b, time);
        Assert.Equal(Sha256Of(b), second.DigestOf(b));
        Assert.Equal(1, second.FilesHashed);
    }

    [Fact]
    public async Task Files_inside_and_outside_the_folder_are_kept_and_a_gone_file_is_dropped()
    {
        if (!Livrable.Layers.UnixFileStatus.IsAvailable) return;
        using var temp = new TempDirectory();
        string folder = temp["context"];
        Directory.CreateDirectory(folder);
        string inside = Path.Combine(folder, "in.txt"), gone = Path.Combine(folder, "gone.txt"), outside = temp["outside.txt"];
        File.WriteAllText(inside, "in");
        File.WriteAllText(gone, "gone");
        File.WriteAllText(outside, "out");
        await Task.Delay(LayerCacheRacyWindow + TimeSpan.FromMilliseconds(200));

        var first = FileDigests.Open(temp["state"], folder);
        foreach (string file in new[] { inside, gone, outside }) Assert.Equal(Sha256Of(file), first.DigestOf(file));
        first.Save();
        File.Delete(gone);

        // A build that looks up only one file keeps the others that still exist (and saves because it recorded one).
        string added = Path.Combine(folder, "added.txt");
        File.WriteAllText(added, "added");
        await Task.Delay(LayerCacheRacyWindow + TimeSpan.FromMilliseconds(200));
        var second = FileDigests.Open(temp["state"], folder);
        Assert.Equal(3, second.Loaded);
        Assert.Equal(Sha256Of(added), second.DigestOf(added));
        Assert.Equal(1, second.FilesHashed);
        second.Save();

        var third = FileDigests.Open(temp["state"], folder);
        Assert.Equal(3, third.Loaded); // in, out, added; gone dropped
        foreach (string file in new[] { inside, outside, added }) Assert.Equal(Sha256Of(file), third.DigestOf(file));
        Assert.Equal(0, third.FilesHashed);
    }

    [Fact]
    public async Task A_file_the_index_does_not_know_or_knows_with_another_status_is_not_known()
    {
        if (!Livrable.Layers.UnixFileStatus.IsAvailable) return;
        using var temp = new TempDirectory();
        string folder = temp["context"];
        Directory.CreateDirectory(folder);
        string known = Path.Combine(folder, "known.txt"), unknown = Path.Combine(folder, "unknown.txt");
        File.WriteAllText(known, "known");
        File.WriteAllText(unknown, "unknown");
        await Task.Delay(LayerCacheRacyWindow + TimeSpan.FromMilliseconds(200));
        Assert.Null(FileDigests.Open(temp["state"], folder).Sha256Known(known, null, out _)); // an empty index knows nothing
        var first = FileDigests.Open(temp["state"], folder);
        first.DigestOf(known);
        first.Save();

        var second = FileDigests.Open(temp["state"], folder);
        Assert.Equal(Sha256Of(known), Digest.FromSha256Hash(second.Sha256Known(known, null, out _)!.Value.Span));
        Assert.Null(second.Sha256Known(unknown, null, out _));
        var status = Livrable.Layers.UnixFileStatus.TryRead(known)!.Value;
        Assert.Null(second.Sha256Known(known, status with { ChangeTime = status.ChangeTime + 1 }, out _));
        Assert.Null(second.Sha256Known(known, status with { Inode = status.Inode + 1 }, out _));
        Assert.Null(second.Sha256Known(known, status with { Mode = status.Mode ^ 1 }, out _));
    }

    [Fact]
    public async Task A_truncated_index_is_an_empty_one()
    {
        if (!Livrable.Layers.UnixFileStatus.IsAvailable) return;
        using var temp = new TempDirectory();
        string folder = temp["context"];
        Directory.CreateDirectory(folder);
        string file = Path.Combine(folder, "a.txt");
        File.WriteAllText(file, "a");
        await Task.Delay(LayerCacheRacyWindow + TimeSpan.FromMilliseconds(200));
        var first = FileDigests.Open(temp["state"], folder);
        first.DigestOf(file);
        first.Save();
        string index = IndexOf(temp["state"], folder);
        var bytes = File.ReadAllBytes(index);
        File.WriteAllBytes(index, bytes[..^3]);

        var second = FileDigests.Open(temp["state"], folder);
        Assert.Equal(0, second.Loaded);
        Assert.Equal(Sha256Of(file), second.DigestOf(file));
        Assert.Equal(1, second.FilesHashed);
    }

    private static readonly TimeSpan LayerCacheRacyWindow = Livrable.Build.Cache.FileDigests.RacyWindow;
}
