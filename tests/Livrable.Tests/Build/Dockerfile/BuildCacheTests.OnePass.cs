using System.Text.RegularExpressions;
using Xunit;

namespace Livrable.Tests.Build.Dockerfile;

/// <summary>
/// Issue 14 item 5: a COPY that no step cache record can match (a cold state folder, a step after one this build ran,
/// ContainerNoCache) reads the build context once, hashing each file as the layer write reads it, instead of hashing
/// every file for the key first and reading it again for the layer. The key, the record and the layer must be those of
/// a build that hashes first (a warm state folder), so later builds hit either way.
/// </summary>
public sealed partial class BuildCacheTests
{
    private const string CopyAll = "FROM scratch\nCOPY . /data\n";

    /// <summary>A context with what the key treats apart: several reads' worth of bytes, an empty file, a second name of a file, a link.</summary>
    private static async Task WriteOnePassContextAsync(Workspace w)
    {
        // The Dockerfile changes between builds; the key of COPY . must not.
        w.Write(".dockerignore", ".dockerignore\nDockerfile\n");
        w.Write("a.txt", "alpha\n");
        w.Write("empty.txt", "");
        var big = new byte[3 << 20];
        new Random(14).NextBytes(big);
        File.WriteAllBytes(Path.Combine(w.Context, "sub", "big.bin"), big);
        File.CreateSymbolicLink(Path.Combine(w.Context, "sub", "link"), "../a.txt");
        await Tests.Infrastructure.Tools.RunCheckedAsync("ln", Path.Combine(w.Context, "sub", "big.bin"), Path.Combine(w.Context, "big-again.bin"));
    }

    private static IReadOnlyList<string> StepKeys(Built built)
        => built.Logger.Lines.Select(l => Regex.Match(l, @"^detail:   step key ([0-9a-f]{12})")).Where(m => m.Success).Select(m => m.Groups[1].Value).ToList();

    private static bool HashedInLayerWrite(Built built)
        => built.Logger.Lines.Any(l => l.StartsWith("detail:   context hashing: in the layer write's pass", StringComparison.Ordinal));

    [Fact]
    public async Task A_cold_COPY_reads_the_context_once_and_makes_the_key_record_and_layer_a_warm_build_makes()
    {
        using var w = new Workspace();
        Directory.CreateDirectory(Path.Combine(w.Context, "sub"));
        await WriteOnePassContextAsync(w);
        // Out of the racy window, so the digests taken by the layer write are recorded in the context's index.
        await Task.Delay(Livrable.Build.Cache.FileDigests.RacyWindow + TimeSpan.FromMilliseconds(300));

        var cold = await BuildAsync(w, CopyAll);
        Assert.True(HashedInLayerWrite(cold), string.Join('\n', cold.Logger.Lines));
        Assert.Contains(cold.Logger.Lines, l => Regex.IsMatch(l, @"^detail:   step key [0-9a-f]{12}, \d+ context files hashed by the layer write$"));

        // A state folder that holds a record already: the key is complete before the step runs (the files hashed first).
        string warmState = w.NewFolder("warm-state");
        await BuildAsync(w, "FROM scratch\nCOPY a.txt /a\n", stateDirectory: warmState);
        var warm = await BuildAsync(w, CopyAll, stateDirectory: warmState);
        Assert.False(HashedInLayerWrite(warm), string.Join('\n', warm.Logger.Lines));

        Assert.Equal(StepKeys(warm).Last(), StepKeys(cold).Single());
        Assert.Equal(warm.Image.Digest, cold.Image.Digest);
        Assert.Equal(warm.Image.Layers.Select(l => l.Descriptor.Digest), cold.Image.Layers.Select(l => l.Descriptor.Digest));
        Assert.Equal(File.ReadAllBytes(Path.Combine(w.Context, "sub", "big.bin")), File.ReadAllBytes(Path.Combine(cold.Rootfs, "data", "big-again.bin")));

        // The cold build's record answers the next build, and its digests are in the context's index: no file is read.
        var again = await BuildAsync(w, CopyAll);
        Assert.Equal(["COPY . /data"], again.Cached);
        Assert.Contains(again.Logger.Lines, l => l.StartsWith("detail:   step key ", StringComparison.Ordinal) && l.EndsWith(", 0 context files read so far", StringComparison.Ordinal));
        Assert.Equal(cold.Image.Digest, again.Image.Digest);
    }

    [Fact]
    public async Task A_COPY_after_a_step_this_build_ran_or_without_the_cache_hashes_in_the_layer_write_and_one_after_a_hit_does_not()
    {
        using var w = new Workspace();
        Directory.CreateDirectory(Path.Combine(w.Context, "sub"));
        await WriteOnePassContextAsync(w);
        string dockerfile = "FROM scratch\nCOPY a.txt /a\nCOPY . /data\n";
        var first = await BuildAsync(w, dockerfile);

        w.Write("a.txt", "changed\n");
        var edited = await BuildAsync(w, dockerfile);
        // The first COPY misses (its key is complete first: the state folder holds records); the second follows a step
        // this build ran, so nothing can match it.
        Assert.Equal(2, edited.Ran.Count);
        Assert.Single(edited.Logger.Lines, l => l.StartsWith("detail:   context hashing: in the layer write's pass", StringComparison.Ordinal));
        Assert.NotEqual(first.Image.Digest, edited.Image.Digest);

        var uncached = await BuildAsync(w, dockerfile, noCache: true);
        Assert.Equal(2, uncached.Logger.Lines.Count(l => l.StartsWith("detail:   context hashing: in the layer write's pass", StringComparison.Ordinal)));
        Assert.Equal(edited.Image.Digest, uncached.Image.Digest);

        var unchanged = await BuildAsync(w, dockerfile);
        Assert.Empty(unchanged.Ran);
        Assert.False(HashedInLayerWrite(unchanged));
        Assert.Equal(edited.Image.Digest, unchanged.Image.Digest);
    }
}
