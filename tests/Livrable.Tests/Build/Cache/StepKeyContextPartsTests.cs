using System.Security.Cryptography;
using System.Text;
using Livrable.Build.Cache;
using Livrable.Build.Dockerfile;
using Livrable.Context;
using Livrable.Images;
using Livrable.Layers;
using Xunit;

namespace Livrable.Tests.Build.Cache;

/// <summary>
/// A context source's key parts, written into one reused buffer (issue 14), give the key the interpolated strings gave
/// before: the step records of earlier builds still hit. The old formula is written out here.
/// </summary>
public sealed class StepKeyContextPartsTests
{
    [Fact]
    public void The_buffered_parts_give_the_key_of_the_old_formula()
    {
        var entries = new List<ContextEntry>
        {
            new("app", "/ctx/app", ContextEntryType.Directory, 0b111_101_101, 0, null),
            new("app/a.txt", "/ctx/app/a.txt", ContextEntryType.File, 0b110_100_100, 5, null),
            new("app/big.bin", "/ctx/app/big.bin", ContextEntryType.File, 0b100_111_101_101, 53_687_091_200, null),
            new("app/empty", "/ctx/app/empty", ContextEntryType.File, 0, 0, null),
            new("app/h1", "/ctx/app/h1", ContextEntryType.File, 0b110_100_100, 12, null),
            new("app/h2", "/ctx/app/h2", ContextEntryType.File, 0b110_100_100, 12, null),
            new("app/link", "/ctx/app/link", ContextEntryType.Symlink, 0b111_111_111, 0, "../ünï côdé/target"),
            new("app/ünï", "/ctx/app/ünï", ContextEntryType.File, 0b111_000_000, 1, null),
        };
        byte[]?[] contents = entries.Select(e => e.Type == ContextEntryType.File ? SHA256.HashData(Encoding.UTF8.GetBytes(e.RelativePath)) : null).ToArray();
        // h1 and h2 are one file with two names; the others have one.
        UnixFileStatus? StatusOf(int i) => entries[i].RelativePath is "app/h1" or "app/h2"
            ? new UnixFileStatus(UnixFileKind.RegularFile, 0b110_100_100, 7, 42, 2, 0, 0)
            : new UnixFileStatus(UnixFileKind.RegularFile, 0b110_100_100, 7, (ulong)(100 + i), 1, 0, 0);

        using var now = new StepKey("parent");
        ContextSources.AddParts(entries, "app", now, i => contents[i], StatusOf);

        using var before = new StepKey("parent");
        before.Add("context source", "app").Add("files", entries.Count);
        var firstNames = new Dictionary<(ulong, ulong), string>();
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            string linked = "";
            if (e.Type == ContextEntryType.File && StatusOf(i) is { LinkCount: > 1 } s)
                linked = " =" + (firstNames.TryAdd((s.Device, s.Inode), e.RelativePath) ? e.RelativePath : firstNames[(s.Device, s.Inode)]);
            string? content = contents[i] is { } hash ? Digest.FromSha256Hash(hash).ToString() : null;
            before.Add(e.RelativePath, $"{e.Type} {Convert.ToString(e.Mode, 8)} {e.Size} {e.LinkTarget} {content}{linked}");
        }

        Assert.Equal(before.Finish(), now.Finish());
    }

    /// <summary>3,000 files, one of them a link whose 200,000-byte target is longer than the key's buffer, and their digests.</summary>
    private static (List<ContextEntry> Entries, byte[]?[] Contents) ManyEntries()
    {
        string target = new('t', 200_000);
        var entries = Enumerable.Range(0, 3000)
            .Select(i => new ContextEntry($"f{i:D5}", $"/ctx/f{i:D5}", i == 7 ? ContextEntryType.Symlink : ContextEntryType.File, 0b110_100_100, i,
                i == 7 ? target : null))
            .ToList();
        return (entries, entries.Select(e => e.Type == ContextEntryType.File ? SHA256.HashData(Encoding.UTF8.GetBytes(e.FullPath)) : null).ToArray());
    }

    [Fact]
    public void A_part_longer_than_the_buffer_and_one_of_many_parts_keep_their_bytes()
    {
        var (entries, contents) = ManyEntries();

        using var now = new StepKey("p");
        ContextSources.AddParts(entries, ".", now, i => contents[i], _ => null);
        using var before = new StepKey("p");
        before.Add("context source", ".").Add("files", entries.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            string? content = contents[i] is { } hash ? Digest.FromSha256Hash(hash).ToString() : null;
            before.Add(e.RelativePath, $"{e.Type} {Convert.ToString(e.Mode, 8)} {e.Size} {e.LinkTarget} {content}");
        }
        Assert.Equal(before.Finish(), now.Finish());
    }

    [Fact]
    public void A_fragment_appended_gives_the_key_of_its_parts_added_in_place_even_twice_and_after_a_deferred_part()
    {
        var (entries, contents) = ManyEntries();
        using var fragment = StepKey.Fragment();
        ContextSources.AddParts(entries, ".", fragment, i => contents[i], _ => null);
        Assert.Throws<InvalidOperationException>(() => fragment.Finish());

        using var inPlace = new StepKey("p");
        inPlace.Add("instruction", "COPY . /data");
        ContextSources.AddParts(entries, ".", inPlace, i => contents[i], _ => null);
        inPlace.Add("after", "x");
        ContextSources.AddParts(entries, ".", inPlace, i => contents[i], _ => null);
        using var appended = new StepKey("p");
        appended.Add("instruction", "COPY . /data").Append(fragment).Add("after", "x").Append(fragment);
        Assert.Equal(inPlace.Finish(), appended.Finish());

        // Appended after a deferred part: replayed in its place when the key is finished.
        using var deferredInPlace = new StepKey("p") { MayDefer = true };
        deferredInPlace.AddLater("later", () => "value");
        ContextSources.AddParts(entries, ".", deferredInPlace, i => contents[i], _ => null);
        using var deferredAppended = new StepKey("p") { MayDefer = true };
        deferredAppended.AddLater("later", () => "value").Append(fragment);
        Assert.Equal(deferredInPlace.Finish(), deferredAppended.Finish());
    }
}
