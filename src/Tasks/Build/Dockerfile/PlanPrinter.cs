using System.Globalization;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// The lines <c>-t:ContainerPlan</c> prints for a <see cref="DockerfilePlan"/> (and, through <see cref="Line"/>, for
/// properties mode's layers): each stage the target needs, then its
/// steps in order, numbered as a build numbers them, each with its key's first 12 characters and its outcome:
/// <c>CACHED</c>, <c>would run</c>, <c>known after running</c> (and why), or nothing for a metadata step or FROM.
/// </summary>
internal static class PlanPrinter
{
    /// <summary>The width of a key prefix, as the detailed log's <c>step key</c> lines show it.</summary>
    public const int KeyPrefix = 12;

    public static IReadOnlyList<string> Lines(DockerfilePlan plan)
    {
        var lines = new List<string>();
        int? stage = null;
        int number = 0;
        foreach (var step in plan.Steps)
        {
            if (step.Stage != stage)
            {
                stage = step.Stage;
                lines.Add($"  stage {step.StageName}");
            }
            lines.Add(Line(++number, step.Key, step.Outcome, step.Text));
            if (step.Reason is { } reason) lines.Add($"         {new string(' ', KeyPrefix)}  {"",-10}   ({reason})");
        }
        return lines;
    }

    /// <summary>
    /// One step's line, <c>[ n] key-prefix  status  text</c>: a Dockerfile's steps and properties mode's layers are
    /// printed alike (the tests and users read one format).
    /// </summary>
    public static string Line(int number, string? key, StepOutcome outcome, string text)
    {
        string shown = key is null ? new string(' ', KeyPrefix) : key[..Math.Min(KeyPrefix, key.Length)];
        return string.Create(CultureInfo.InvariantCulture, $"    [{number,2}] {shown}  {Status(outcome),-10} {text}");
    }

    /// <summary>A step's outcome as the plan prints it.</summary>
    private static string Status(StepOutcome outcome) => outcome switch
    {
        StepOutcome.Cached => "CACHED",
        StepOutcome.WouldRun or StepOutcome.Ran => "would run",
        StepOutcome.KnownAfterRunning => "unknown",
        _ => "",
    };
}
