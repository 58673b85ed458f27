using System.Globalization;

namespace Livrable.Build;

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
}
