using System.Globalization;

namespace Livrable.Diagnostics;

/// <summary>Human-readable quantities for log lines.</summary>
internal static class Units
{
    /// <summary>Bytes in B, kB, MB or GB (powers of 1000, as registries and docker report sizes).</summary>
    public static string Bytes(long n) => n switch
    {
        < 1000 => $"{n} B",
        < 1_000_000 => (n / 1e3).ToString("0.0", CultureInfo.InvariantCulture) + " kB",
        < 1_000_000_000 => (n / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " MB",
        _ => (n / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " GB",
    };

    /// <summary>A step's time as progress lines give it, like BuildKit's <c>DONE 0.4s</c>: <c>0.41s</c>, <c>12.3s</c>.</summary>
    public static string Seconds(TimeSpan elapsed)
        => elapsed.TotalSeconds.ToString(elapsed.TotalSeconds < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture) + "s";

    /// <summary>The time since <paramref name="started"/> (a <see cref="System.Diagnostics.Stopwatch"/> timestamp), as <see cref="Seconds(TimeSpan)"/>.</summary>
    public static string Since(long started) => Seconds(System.Diagnostics.Stopwatch.GetElapsedTime(started));

    /// <summary>
    /// The CPU time (user and system, all threads) the process has used so far: the detailed log's phases give the
    /// CPU they took beside their wall time (<see cref="CpuSince"/>), the figure that stays meaningful on a loaded machine.
    /// </summary>
    public static TimeSpan Cpu()
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }

    /// <summary>
    /// <c>process CPU 1.23s</c>: the process's CPU time since <paramref name="started"/> (<see cref="Cpu"/>), other
    /// threads' work at the same time included (MSBuild's, another stage's).
    /// </summary>
    public static string CpuSince(TimeSpan started) => "process CPU " + Seconds(Cpu() - started);
}
