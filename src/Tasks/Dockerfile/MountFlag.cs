using System.Text;
using Livrable.Diagnostics;

namespace Livrable.Dockerfile;

/// <summary>
/// The value of <c>RUN --mount=</c> as text: one CSV record split as BuildKit's <c>go-csvvalue</c> splits it, and the
/// checks BuildKit makes when it parses the Dockerfile, before any step runs (<c>instructions/commands_runmount.go</c>,
/// <c>parseMount</c> without an expander). What a field means is the build's business
/// (<c>Build/Dockerfile/RunMountSpec</c>), after ARG and ENV expansion.
/// </summary>
internal static class MountFlag
{
    /// <summary>
    /// Checks <paramref name="value"/> at parse time: it must be a CSV record (an empty value is not), and its
    /// <c>from=</c> may not hold a variable (BuildKit resolves stages before it expands anything).
    /// </summary>
    /// <exception cref="LivrableException">LIV5011 with BuildKit's message, at <paramref name="span"/>.</exception>
    public static void Check(string value, SourceSpan span)
    {
        foreach (string field in Fields(value, span))
        {
            int eq = field.IndexOf('=');
            if (eq < 0 || !field[..eq].Equals("from", StringComparison.OrdinalIgnoreCase)) continue;
            string from = field[(eq + 1)..];
            int dollar = from.IndexOf('$');
            if (dollar >= 0 && dollar != from.Length - 1)
                throw new LivrableException(DiagnosticCodes.InvalidRunMount,
                    "'from' doesn't support variable expansion, define alias stage instead", span);
        }
    }

    /// <summary>
    /// The fields of one CSV record as <c>csvvalue.Fields</c> returns them: commas separate; a field that starts with
    /// <c>"</c> is quoted (<c>""</c> inside is a quote) and must end at a comma or the end; a quote inside an unquoted
    /// field is an error; empty fields are kept; a trailing newline is allowed; an empty record is an error (EOF).
    /// </summary>
    /// <exception cref="LivrableException">LIV5011: <c>failed to parse csv mounts: ...</c>, at <paramref name="span"/>.</exception>
    public static List<string> Fields(string value, SourceSpan? span)
    {
        string line = value;
        if (line.EndsWith('\n')) line = line.EndsWith("\r\n", StringComparison.Ordinal) ? line[..^2] : line[..^1];
        if (line.Length == 0) throw Invalid("EOF");
        var fields = new List<string>();
        int pos = 0;
        while (true)
        {
            if (pos >= line.Length || line[pos] != '"')
            {
                int comma = line.IndexOf(',', pos);
                string field = comma >= 0 ? line[pos..comma] : line[pos..];
                if (field.IndexOf('"') is int quote and >= 0)
                    throw Invalid($"parse error on line 1, column {Column(pos + quote)}: bare \" in non-quoted-field");
                fields.Add(field);
                if (comma < 0) return fields;
                pos = comma + 1;
                continue;
            }
            // A quoted field: up to the quote that is not doubled, then a comma or the end.
            var quoted = new StringBuilder();
            int i = pos + 1;
            while (true)
            {
                int close = line.IndexOf('"', i);
                if (close < 0) throw Invalid($"parse error on line 1, column {Column(line.Length)}: extraneous or missing \" in quoted-field");
                quoted.Append(line, i, close - i);
                i = close + 1;
                if (i < line.Length && line[i] == '"')
                {
                    quoted.Append('"');
                    i++;
                    continue;
                }
                if (i == line.Length)
                {
                    fields.Add(quoted.ToString());
                    return fields;
                }
                if (line[i] == ',')
                {
                    fields.Add(quoted.ToString());
                    pos = i + 1;
                    break;
                }
                throw Invalid($"parse error on line 1, column {Column(close)}: extraneous or missing \" in quoted-field");
            }
        }

        // encoding/csv counts columns in bytes, from 1.
        int Column(int index) => Encoding.UTF8.GetByteCount(line.AsSpan(0, Math.Min(index, line.Length))) + 1;
        LivrableException Invalid(string reason) => new(DiagnosticCodes.InvalidRunMount, $"failed to parse csv mounts: {reason}", span);
    }
}
