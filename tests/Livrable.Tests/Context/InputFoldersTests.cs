using System.Diagnostics;
using System.Security.Cryptography;
using Livrable.Context;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Context;

/// <summary>
/// The up-to-date walk of the image step's input folders (Context/InputFolders) without MSBuild: what the names'
/// hash and the comparison with the record see, and the bin/ and obj/ rule (ContextExclusions) with the vectors the
/// targets' regular expressions matched before (now the rule's one place).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class InputFoldersTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("bin\nobj\n", true, true)]
    [InlineData("bin/\r\n/obj/\r\n", true, true)]
    [InlineData("  ./bin/**  \n\tobj/*\n", true, true)]
    [InlineData("bin/\nobj/\n!bin/keep\n", false, false)]
    [InlineData("bin/\n  !obj/x\n", false, false)]
    [InlineData("# bin/\nbin2/\nsrc/bin/\nobj/**/x\n", false, false)]
    [InlineData("# !comment\nobj/\n", false, true)]
    [InlineData("", false, false)]
    public void The_dockerignore_leaves_bin_and_obj_out_only_when_it_names_them_and_brings_nothing_back(string text, bool bin, bool obj)
    {
        var left = ContextExclusions.Of("/ctx", text).ToList();
        Assert.Equal(bin, left.Contains("/ctx/bin"));
        Assert.Equal(obj, left.Contains("/ctx/obj"));
    }

    /// <summary>What one walk says: why the step runs (or null), and the names' hash.</summary>
    private (string? Change, string Hash, int Entries) Walk(string folder, string record, params string[] excluded)
    {
        using var names = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var walk = new InputFolders(record, excluded, names);
        walk.Walk(folder);
        walk.Flush();
        return (walk.Change, Convert.ToHexString(names.GetHashAndReset()), walk.Entries);
    }

    private static void Age(string path) => File.SetLastWriteTimeUtc(path, new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc));

    [Fact]
    public void Every_kind_of_change_is_seen_by_the_times_or_the_names_and_what_is_left_out_is_not()
    {
        string ctx = _temp["ctx"], record = _temp["image.record"];
        Directory.CreateDirectory(Path.Combine(ctx, "sub"));
        Directory.CreateDirectory(Path.Combine(ctx, "bin"));
        Directory.CreateDirectory(_temp["outside"]);
        File.WriteAllText(Path.Combine(ctx, "sub", "a.txt"), "a\n");
        File.WriteAllText(_temp["outside", "secret.txt"], "outside\n");
        // A link to a folder outside: an entry itself, never walked into.
        File.CreateSymbolicLink(Path.Combine(ctx, "out-link"), _temp["outside"]);
        Touch(record);

        var first = Walk(ctx, record, Path.Combine(ctx, "bin"));
        Assert.Null(first.Change);
        // The context, sub/, sub/a.txt, the link; not bin/, not what the link points at.
        Assert.Equal(4, first.Entries);
        Assert.Equal(first, Walk(ctx, record, Path.Combine(ctx, "bin")));

        // Left out: bin/ and anything in it; the outside folder the link points at.
        File.WriteAllText(Path.Combine(ctx, "bin", "new.txt"), "new\n");
        File.WriteAllText(_temp["outside", "secret.txt"], "changed\n");
        Assert.Equal(first, Walk(ctx, record, Path.Combine(ctx, "bin")));

        // A chmod: only the change time moves.
        File.SetUnixFileMode(Path.Combine(ctx, "sub", "a.txt"), (UnixFileMode)Convert.ToInt32("755", 8));
        var chmod = Walk(ctx, record, Path.Combine(ctx, "bin"));
        Assert.Equal(Path.Combine(ctx, "sub", "a.txt"), Changed(chmod.Change));
        Assert.Equal(first.Hash, chmod.Hash);

        // A file moved in with an old modification time: the rename moved its change time, and its name is new.
        File.WriteAllText(_temp["old.txt"], "old\n");
        Age(_temp["old.txt"]);
        Touch(record);
        File.Move(_temp["old.txt"], Path.Combine(ctx, "sub", "old.txt"));
        var moved = Walk(ctx, record, Path.Combine(ctx, "bin"));
        Assert.NotNull(moved.Change);
        Assert.NotEqual(first.Hash, moved.Hash);

        // Without a record (the step runs anyway) nothing is a change, and the names are the same.
        var noRecord = Walk(ctx, _temp["missing.record"], Path.Combine(ctx, "bin"));
        Assert.Null(noRecord.Change);
        Assert.Equal(moved.Hash, noRecord.Hash);

        // A rename is a new name; the link pointed elsewhere is a new link (its own times).
        Touch(record);
        File.Move(Path.Combine(ctx, "sub", "old.txt"), Path.Combine(ctx, "sub", "new.txt"));
        Assert.NotEqual(moved.Hash, Walk(ctx, _temp["missing.record"], Path.Combine(ctx, "bin")).Hash);
        Touch(record);
        Assert.Null(Walk(ctx, record, Path.Combine(ctx, "bin")).Change);
        File.Delete(Path.Combine(ctx, "out-link"));
        File.CreateSymbolicLink(Path.Combine(ctx, "out-link"), "sub");
        Assert.NotNull(Walk(ctx, record, Path.Combine(ctx, "bin")).Change);

        // A new empty folder: its parent's times.
        Touch(record);
        Directory.CreateDirectory(Path.Combine(ctx, "sub", "empty"));
        Assert.Equal(Path.Combine(ctx, "sub"), Changed(Walk(ctx, record, Path.Combine(ctx, "bin")).Change));
    }

    [Fact]
    public void A_folder_that_cannot_be_listed_is_a_change_not_an_error()
    {
        string ctx = _temp["ctx"], record = _temp["image.record"];
        Directory.CreateDirectory(Path.Combine(ctx, "sub"));
        File.WriteAllText(record, "record\n");
        // "caf\xe9.txt", Latin-1: .NET cannot open it by that name, the build refuses it (LIV4062).
        using (var sh = Process.Start("sh", ["-c", $"printf 'x' > \"$(printf '{ctx}/sub/caf\\351.txt')\""])) sh.WaitForExit();
        Assert.StartsWith($"the folder '{Path.Combine(ctx, "sub")}' cannot be listed", Walk(ctx, _temp["missing.record"]).Change);
        Assert.StartsWith($"the folder '{_temp["gone"]}' does not exist", Walk(_temp["gone"], record).Change);
        using (var rm = Process.Start("rm", ["-rf", Path.Combine(ctx, "sub")])) rm.WaitForExit();
    }

    /// <summary>The path a change names (<c>'path' changed since the image record</c>).</summary>
    private static string? Changed(string? change)
        => change is not null && change.EndsWith("' changed since the image record", StringComparison.Ordinal) ? change[1..change.IndexOf("' changed", StringComparison.Ordinal)] : change;

    /// <summary>
    /// Writes the record again between two pauses: what was there before is older, what comes after newer (the file
    /// system's clock moves in ticks of a few milliseconds; as MSBuild's, a change must be newer than the record).
    /// </summary>
    private static void Touch(string record)
    {
        Thread.Sleep(20);
        File.WriteAllText(record, "record\n");
        Thread.Sleep(20);
    }
}
