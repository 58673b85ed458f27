using System.Globalization;
using System.Text;

namespace Livrable.Go;

/// <summary>
/// Go's <c>fmt</c> and <c>strconv</c> output for the text BuildKit writes: <c>%q</c> (<c>strconv.Quote</c>) in its
/// error messages and, for a string slice, in history <c>created_by</c> strings of CMD and ENTRYPOINT; <c>%v</c> of a
/// slice for VOLUME, EXPOSE and SHELL (<c>frontend/dockerfile/dockerfile2llb/convert.go</c>). Same text, so that
/// messages and <c>docker history</c> read as for BuildKit. Tested with Go's own tables (tests/Livrable.Tests/Go).
/// </summary>
internal static class GoFormat
{
    /// <summary><c>fmt.Sprintf("%q", []string)</c>: <c>["a" "b"]</c>.</summary>
    public static string QuoteList(IEnumerable<string>? values) => "[" + string.Join(' ', (values ?? []).Select(Quote)) + "]";

    /// <summary><c>fmt.Sprintf("%v", []string)</c>: <c>[a b]</c>.</summary>
    public static string List(IEnumerable<string>? values) => "[" + string.Join(' ', values ?? []) + "]";

    /// <summary>
    /// <c>strconv.Quote</c>: double quotes, Go's escapes, printable Unicode kept as is. A lone surrogate (text no
    /// UTF-8 can hold, where Go would see an invalid byte) is written <c>\ufffd</c>, the rune Go decodes it as.
    /// </summary>
    public static string Quote(string value)
    {
        var b = new StringBuilder(value.Length + 2).Append('"');
        for (int i = 0; i < value.Length;)
        {
            if (Rune.DecodeFromUtf16(value.AsSpan(i), out Rune rune, out int used) != System.Buffers.OperationStatus.Done)
            {
                b.Append("\\ufffd");
                i += Math.Max(used, 1);
                continue;
            }
            i += used;
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
}
