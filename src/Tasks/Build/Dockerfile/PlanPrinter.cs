using System.Globalization;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// The lines <c>-t:ContainerPlan</c> prints for a <see cref="DockerfilePlan"/>: each stage the target needs, then its
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
            number++;
            string key = step.Key is null ? new string(' ', KeyPrefix) : step.Key[..Math.Min(KeyPrefix, step.Key.Length)];
            string status = Status(step);
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"    [{number,2}] {key}  {status,-10} {step.Text}"));
            if (step.Reason is { } reason) lines.Add($"         {new string(' ', KeyPrefix)}  {"",-10}   ({reason})");
        }
        return lines;
    }

    /// <summary>A step's outcome as the plan prints it.</summary>
    public static string Status(PlannedStep step) => step.Outcome switch
    {
        StepOutcome.Cached => "CACHED",
        StepOutcome.WouldRun or StepOutcome.Ran => "would run",
        StepOutcome.KnownAfterRunning => "unknown",
        _ => "",
    };
}
