using System.Globalization;
using System.Text;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// Go's <c>fmt</c> output for the values BuildKit writes into history <c>created_by</c> strings
/// (<c>frontend/dockerfile/dockerfile2llb/convert.go</c>): <c>%q</c> of a string slice for CMD and ENTRYPOINT,
/// <c>%v</c> of a slice for VOLUME, EXPOSE and SHELL, <c>time.Duration</c>'s String for HEALTHCHECK. Same text, so
/// that <c>docker history</c> reads the same as for an image BuildKit built.
/// </summary>
internal static class GoFormat
{
    /// <summary><c>fmt.Sprintf("%q", []string)</c>: <c>["a" "b"]</c>.</summary>
    public static string QuoteList(IEnumerable<string>? values) => "[" + string.Join(' ', (values ?? []).Select(Quote)) + "]";

    /// <summary><c>fmt.Sprintf("%v", []string)</c>: <c>[a b]</c>.</summary>
    public static string List(IEnumerable<string>? values) => "[" + string.Join(' ', values ?? []) + "]";

    /// <summary><c>strconv.Quote</c>: double quotes, Go escapes, printable Unicode kept as is.</summary>
    public static string Quote(string value)
    {
        var b = new StringBuilder(value.Length + 2).Append('"');
        foreach (var rune in value.EnumerateRunes())
        {
            int c = rune.Value;
            switch (c)
            {
                case '"': b.Append("\\\""); continue;
                case '\\': b.Append("\\\\"); continue;
                case '\a': b.Append("\\a"); continue;
                case '\b': b.Append("\\b"); continue;
                case '\f': b.Append("\\f"); continue;
                case '\n': b.Append("\\n"); continue;
                case '\r': b.Append("\\r"); continue;
                case '\t': b.Append("\\t"); continue;
                case '\v': b.Append("\\v"); continue;
            }
            if (IsPrint(rune)) b.Append(rune.ToString());
            else if (c < 0x80) b.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            else if (c == 0xFFFD) b.Append("\\ufffd");
            else if (c < 0x10000) b.Append("\\u").Append(c.ToString("x4", CultureInfo.InvariantCulture));
            else b.Append("\\U").Append(c.ToString("x8", CultureInfo.InvariantCulture));
        }
        return b.Append('"').ToString();
    }

    // Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
    private static bool IsPrint(Rune rune)
    {
        if (rune.Value == ' ') return true;
        var category = Rune.GetUnicodeCategory(rune);
        return category switch
        {
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
                or UnicodeCategory.OtherNotAssigned or UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator
                or UnicodeCategory.ParagraphSeparator => false,
            _ => true,
        };
    }

    /// <summary>Go's <c>time.Duration.String</c>: <c>0s</c>, <c>1.5s</c>, <c>1m30s</c>, <c>1h0m0s</c>, <c>500ms</c>, <c>1.5µs</c>.</summary>
    public static string Duration(TimeSpan duration)
    {
        // TimeSpan counts 100 ns ticks; Go counts nanoseconds.
        long ns = duration.Ticks * 100;
        if (ns == 0) return "0s";
        bool negative = ns < 0;
        ulong u = negative ? (ulong)(-ns) : (ulong)ns;
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

    // v / 10^digits with the fraction's trailing zeros (and a bare point) left out, as Go's fmtFrac does.
    private static string Fraction(ulong v, int digits)
    {
        ulong scale = 1;
        for (int i = 0; i < digits; i++) scale *= 10;
        string whole = (v / scale).ToString(CultureInfo.InvariantCulture);
        string fraction = (v % scale).ToString(CultureInfo.InvariantCulture).PadLeft(digits, '0').TrimEnd('0');
        return fraction.Length == 0 ? whole : whole + "." + fraction;
    }
}
