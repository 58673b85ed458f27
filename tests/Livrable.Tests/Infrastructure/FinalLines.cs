using System.Text.RegularExpressions;
using Xunit;

namespace Livrable.Tests.Infrastructure;

/// <summary>
/// The digest a publish's final line gives for an image reference, asserted present: built, found already written by a
/// run of the image step (<c>in 0.4s</c>), or reported up to date from the record when MSBuild skipped the step (no
/// time). Shared by the up-to-date tests, which tell these three apart.
/// </summary>
public static class FinalLines
{
    /// <summary>The digest of <c>Built &lt;reference&gt; sha256:...</c>.</summary>
    public static string Built(ToolResult publish, string reference)
    {
        var match = Regex.Match(publish.Stdout, $@"^\s*(?:\d+>)?\s*Built {Regex.Escape(reference)} (sha256:[0-9a-f]{{64}}) ", RegexOptions.Multiline);
        Assert.True(match.Success, $"{reference} was not built:\n{publish.Output}");
        return match.Groups[1].Value;
    }

    /// <summary>The digest of a run of the image step: built, or found already written ("Up to date: ... in 0.4s").</summary>
    public static string Ran(ToolResult publish, string reference)
    {
        var match = Regex.Match(publish.Stdout, $@"^\s*(?:\d+>)?\s*(?:Built|Up to date:) {Regex.Escape(reference)} (sha256:[0-9a-f]{{64}}) \([^)]*\) -> \S+ in [0-9.]+s", RegexOptions.Multiline);
        Assert.True(match.Success, $"the image step of {reference} did not run:\n{publish.Output}");
        return match.Groups[1].Value;
    }

    /// <summary>The digest of the record's line when the step was skipped ("Up to date: ... -> path", no time).</summary>
    public static string UpToDate(ToolResult publish, string reference)
    {
        var match = Regex.Match(publish.Stdout, $@"^\s*(?:\d+>)?\s*Up to date: {Regex.Escape(reference)} (sha256:[0-9a-f]{{64}}) \([^)]*\) -> \S+\s*$", RegexOptions.Multiline);
        Assert.True(match.Success, $"{reference} was not reported up to date:\n{publish.Output}");
        return match.Groups[1].Value;
    }
}
