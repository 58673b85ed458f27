using Livrable.Diagnostics;
using Livrable.Dockerfile;
using Xunit;
using Xunit.Abstractions;

namespace Livrable.Tests.Dockerfile;

/// <summary>
/// Issue 10 item 14: one LABEL continued over many lines took 0.6 s for 10k pairs, 3.8 s for 20k and over 240 s for
/// 100k, because the joined line was copied again at every continuation. The check is structural, never timed: the
/// bytes the parser allocates (counted by the runtime for this thread, the same on an idle or a loaded machine) grow
/// in proportion to the Dockerfile, so four times the pairs may cost at most five times the bytes; a quadratic step
/// costs sixteen.
/// </summary>
public sealed class DockerfileScalingTests(ITestOutputHelper output)
{
    private static string ContinuedLabel(int pairs)
    {
        var text = new System.Text.StringBuilder("FROM scratch\nLABEL \\\n");
        for (var i = 0; i < pairs; i++) text.Append("  org.example.key").Append(i).Append("=value").Append(i).Append(" \\\n");
        return text.Append("  last=1\n").ToString();
    }

    private static long ParseAllocations(string text)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var document = DockerfileParser.Parse("Dockerfile", text, NullLogger.Instance);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        var label = Assert.IsType<LabelInstruction>(Assert.Single(document.Stages[0].Instructions));
        Assert.Equal("last", label.Labels[^1].Key);
        return allocated;
    }

    [Fact]
    public void A_LABEL_continued_over_many_lines_parses_in_linear_space()
    {
        ParseAllocations(ContinuedLabel(100)); // warm up: first-call allocations are not the parser's
        long small = ParseAllocations(ContinuedLabel(5_000));
        long large = ParseAllocations(ContinuedLabel(20_000));
        output.WriteLine($"5k pairs: {small:N0} bytes, 20k pairs: {large:N0} bytes ({(double)large / small:0.00}x)");
        Assert.True(large < 5 * small, $"20k pairs allocate {large:N0} bytes, {(double)large / small:0.0} times 5k pairs' {small:N0}: worse than linear");
    }
}
