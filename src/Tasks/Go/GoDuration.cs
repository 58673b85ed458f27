using System.Globalization;
using System.Text;

namespace Livrable.Go;

/// <summary>
/// Go's <c>time.Duration</c> as text, both ways: <c>time.ParseDuration</c> (https://pkg.go.dev/time#ParseDuration),
/// which HEALTHCHECK's duration flags use, and <c>Duration.String</c>, which BuildKit writes into HEALTHCHECK's
/// history entry. A duration is a count of nanoseconds in an <see cref="long"/>, as Go keeps it. Go's algorithm,
/// overflow checks and float rounding of fractions included, so that the same flag gives the same value (and the
/// same error) as BuildKit. Tested with Go's own tables (tests/Livrable.Tests/Go).
/// </summary>
internal static class GoDuration
{
    private const ulong Limit = 1UL << 63;

    private static readonly (string Unit, ulong Nanoseconds)[] Units =
    [
        ("ns", 1UL), ("us", 1_000UL), ("\u00b5s", 1_000UL), ("\u03bcs", 1_000UL), ("ms", 1_000_000UL),
        ("s", 1_000_000_000UL), ("m", 60_000_000_000UL), ("h", 3_600_000_000_000UL),
    ];

    /// <summary>
    /// Parses <paramref name="text"/> (a signed sequence of decimal numbers, each with a unit, such as
    /// <c>1m30s</c> or <c>1.5h</c>; <c>0</c> alone needs no unit) into nanoseconds; on failure returns null and Go's
    /// message in <paramref name="error"/>.
    /// </summary>
    public static long? TryParse(string text, out string? error)
    {
        error = null;
        string s = text;
        bool negative = false;
        if (s.Length > 0 && s[0] is '-' or '+')
        {
            negative = s[0] == '-';
            s = s[1..];
        }
        if (s == "0") return 0;
        if (s.Length == 0) return Fail("time: invalid duration " + Quote(text), out error);
        ulong total = 0;
        while (s.Length > 0)
        {
            if (!(s[0] == '.' || char.IsAsciiDigit(s[0]))) return Fail("time: invalid duration " + Quote(text), out error);
            int before = s.Length;
            if (!LeadingInt(ref s, out ulong whole)) return Fail("time: invalid duration " + Quote(text), out error);
            bool pre = before != s.Length;
            ulong fraction = 0;
            double scale = 1;
            bool post = false;
            if (s.Length > 0 && s[0] == '.')
            {
                s = s[1..];
                int length = s.Length;
                (fraction, scale) = LeadingFraction(ref s);
                post = length != s.Length;
            }
            if (!pre && !post) return Fail("time: invalid duration " + Quote(text), out error);

            int u = 0;
            while (u < s.Length && s[u] != '.' && !char.IsAsciiDigit(s[u])) u++;
            if (u == 0) return Fail("time: missing unit in duration " + Quote(text), out error);
            string name = s[..u];
            s = s[u..];
            ulong unit = Units.FirstOrDefault(x => x.Unit == name).Nanoseconds;
            if (unit == 0) return Fail($"time: unknown unit {Quote(name)} in duration {Quote(text)}", out error);
            if (whole > Limit / unit) return Fail("time: invalid duration " + Quote(text), out error);
            whole *= unit;
            if (fraction > 0)
            {
                // Go: float64 is needed to be nanosecond accurate for fractions of hours.
                whole += (ulong)(fraction * (unit / scale));
                if (whole > Limit) return Fail("time: invalid duration " + Quote(text), out error);
            }
            total += whole;
            if (total > Limit) return Fail("time: invalid duration " + Quote(text), out error);
        }
        if (negative) return total == Limit ? long.MinValue : -(long)total;
        if (total > Limit - 1) return Fail("time: invalid duration " + Quote(text), out error);
        return (long)total;
    }

    /// <summary>Go's <c>Duration.String</c>: <c>0s</c>, <c>1.5s</c>, <c>1m30s</c>, <c>1h0m0s</c>, <c>500ms</c>, <c>1.5µs</c>.</summary>
    public static string Format(long nanoseconds)
    {
        if (nanoseconds == 0) return "0s";
        bool negative = nanoseconds < 0;
        ulong u = negative ? (ulong)(-(nanoseconds + 1)) + 1 : (ulong)nanoseconds;
        string text;
        if (u < 1_000_000_000UL)
        {
            text = u < 1_000UL ? u.ToString(CultureInfo.InvariantCulture) + "ns"
                : u < 1_000_000UL ? Fraction(u, 3) + "µs"
                : Fraction(u, 6) + "ms";
        }
        else
        {
            string seconds = Fraction(u % 60_000_000_000UL, 9) + "s";
            ulong minutes = u / 60_000_000_000UL;
            text = minutes == 0 ? seconds
                : minutes < 60 ? minutes.ToString(CultureInfo.InvariantCulture) + "m" + seconds
                : (minutes / 60).ToString(CultureInfo.InvariantCulture) + "h" + (minutes % 60).ToString(CultureInfo.InvariantCulture) + "m" + seconds;
        }
        return negative ? "-" + text : text;
    }

    /// <summary><see cref="Format(long)"/> of a <see cref="TimeSpan"/> (100 ns ticks).</summary>
    public static string Format(TimeSpan duration) => Format(duration.Ticks * 100);

    private static long? Fail(string message, out string? error)
    {
        error = message;
        return null;
    }

    // Go's leadingInt: the digits at the start of s, false on overflow past 1<<63.
    private static bool LeadingInt(ref string s, out ulong value)
    {
        value = 0;
        int i = 0;
        for (; i < s.Length && char.IsAsciiDigit(s[i]); i++)
        {
            if (value > Limit / 10) return false;
            value = value * 10 + (ulong)(s[i] - '0');
            if (value > Limit) return false;
        }
        s = s[i..];
        return true;
    }

    // Go's leadingFraction: the digits after the point as value / scale; digits past what fits are dropped.
    private static (ulong Value, double Scale) LeadingFraction(ref string s)
    {
        ulong value = 0;
        double scale = 1;
        bool overflow = false;
        int i = 0;
        for (; i < s.Length && char.IsAsciiDigit(s[i]); i++)
        {
            if (overflow) continue;
            if (value > (Limit - 1) / 10)
            {
                overflow = true;
                continue;
            }
            ulong next = value * 10 + (ulong)(s[i] - '0');
            if (next > Limit)
            {
                overflow = true;
                continue;
            }
            value = next;
            scale *= 10;
        }
        s = s[i..];
        return (value, scale);
    }

    // v / 10^digits with the fraction's trailing zeros (and a bare point) left out, as Go's fmtFrac does.
    private static string Fraction(ulong v, int digits)
    {
        ulong scale = 1;
        for (int i = 0; i < digits; i++) scale *= 10;
        string whole = (v / scale).ToString(CultureInfo.InvariantCulture);
        string fraction = (v % scale).ToString(CultureInfo.InvariantCulture).PadLeft(digits, '0').TrimEnd('0');
        return fraction.Length == 0 ? whole : whole + "." + fraction;
    }

    // The time package's own quote for its messages: ASCII kept (with " and \ escaped), everything else as the
    // \x escapes of its UTF-8 bytes.
    private static string Quote(string s)
    {
        var b = new StringBuilder(s.Length + 2).Append('"');
        Span<byte> bytes = stackalloc byte[4];
        for (int i = 0; i < s.Length;)
        {
            bool valid = Rune.DecodeFromUtf16(s.AsSpan(i), out Rune rune, out int used) == System.Buffers.OperationStatus.Done;
            i += Math.Max(used, 1);
            if (valid && rune.Value is >= ' ' and < 0x80)
            {
                if (rune.Value is '"' or '\\') b.Append('\\');
                b.Append((char)rune.Value);
                continue;
            }
            int n = (valid ? rune : Rune.ReplacementChar).EncodeToUtf8(bytes);
            for (int j = 0; j < n; j++) b.Append("\\x").Append(bytes[j].ToString("x2", CultureInfo.InvariantCulture));
        }
        return b.Append('"').ToString();
    }
}
