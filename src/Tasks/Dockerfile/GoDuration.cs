using System.Globalization;

namespace Livrable.Dockerfile;

/// <summary>
/// Go's <c>time.ParseDuration</c> (https://pkg.go.dev/time#ParseDuration), which HEALTHCHECK's duration flags use:
/// a signed sequence of decimal numbers, each with a unit (<c>ns us µs μs ms s m h</c>), such as <c>1m30s</c> or
/// <c>1.5h</c>; <c>0</c> alone needs no unit. The result is in nanoseconds, as Go keeps it.
/// </summary>
internal static class GoDuration
{
    private static readonly (string Unit, long Nanoseconds)[] Units =
    [
        ("ns", 1L), ("us", 1_000L), ("\u00b5s", 1_000L), ("\u03bcs", 1_000L), ("ms", 1_000_000L),
        ("s", 1_000_000_000L), ("m", 60_000_000_000L), ("h", 3_600_000_000_000L),
    ];

    /// <summary>Parses <paramref name="text"/>; on failure returns null and Go's message in <paramref name="error"/>.</summary>
    public static long? TryParse(string text, out string? error)
    {
        error = null;
        var quoted = "\"" + text + "\"";
        var s = text;
        var negative = false;
        if (s.Length > 0 && s[0] is '-' or '+')
        {
            negative = s[0] == '-';
            s = s[1..];
        }
        if (s == "0")
            return 0;
        if (s.Length == 0)
        {
            error = "time: invalid duration " + quoted;
            return null;
        }
        decimal total = 0;
        while (s.Length > 0)
        {
            var i = 0;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
                i++;
            var intPart = s[..i];
            var fracPart = "";
            if (i < s.Length && s[i] == '.')
            {
                var j = i + 1;
                while (j < s.Length && char.IsAsciiDigit(s[j]))
                    j++;
                fracPart = s[(i + 1)..j];
                i = j;
            }
            if (intPart.Length == 0 && fracPart.Length == 0)
            {
                error = "time: invalid duration " + quoted;
                return null;
            }
            s = s[i..];
            var u = 0;
            while (u < s.Length && s[u] != '.' && !char.IsAsciiDigit(s[u]))
                u++;
            if (u == 0)
            {
                error = "time: missing unit in duration " + quoted;
                return null;
            }
            var unit = s[..u];
            s = s[u..];
            var scale = Units.FirstOrDefault(x => x.Unit == unit).Nanoseconds;
            if (scale == 0)
            {
                error = $"time: unknown unit \"{unit}\" in duration {quoted}";
                return null;
            }
            try
            {
                var number = decimal.Parse((intPart.Length == 0 ? "0" : intPart) + (fracPart.Length == 0 ? "" : "." + fracPart),
                    CultureInfo.InvariantCulture);
                total += number * scale;
            }
            catch (OverflowException)
            {
                error = "time: invalid duration " + quoted;
                return null;
            }
            if (total > long.MaxValue)
            {
                error = "time: invalid duration " + quoted;
                return null;
            }
        }
        var nanoseconds = (long)decimal.Truncate(total);
        return negative ? -nanoseconds : nanoseconds;
    }
}
