using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Livrable.Cli.Protocol;

/// <summary>
/// The little JSON the CLI protocol needs (RFC 8259), written and read without System.Text.Json, which .NET Framework
/// does not have: this file is compiled into <c>Livrable.Cli</c> (net8.0) and <c>Livrable.Tasks.NetFramework</c>
/// (net472). Strings are written in pure ASCII (everything else as <c>\uXXXX</c>), so no console code page can mangle
/// a line between the two processes.
/// </summary>
internal static class JsonText
{
    /// <summary>Appends <paramref name="value"/> as a JSON string, or <c>null</c>.</summary>
    public static void WriteString(StringBuilder json, string? value)
    {
        if (value is null)
        {
            json.Append("null");
            return;
        }
        json.Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                default:
                    if (c < 0x20 || c > 0x7e) json.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else json.Append(c);
                    break;
            }
        }
        json.Append('"');
    }

    /// <summary>
    /// Parses one JSON value: objects become <see cref="Dictionary{TKey,TValue}"/> of string to value, arrays
    /// <see cref="List{T}"/>, numbers <see cref="long"/> (or <see cref="double"/> with a fraction or exponent),
    /// strings, booleans and null.
    /// </summary>
    /// <exception cref="FormatException">The text is not one JSON value.</exception>
    public static object? Parse(string text)
    {
        int i = 0;
        object? value = ParseValue(text, ref i);
        SkipSpace(text, ref i);
        if (i != text.Length) throw Error(text, i, "text after the value");
        return value;
    }

    private static object? ParseValue(string s, ref int i)
    {
        SkipSpace(s, ref i);
        if (i >= s.Length) throw Error(s, i, "end of text");
        char c = s[i];
        if (c == '{') return ParseObject(s, ref i);
        if (c == '[') return ParseArray(s, ref i);
        if (c == '"') return ParseString(s, ref i);
        if (Literal(s, ref i, "true")) return true;
        if (Literal(s, ref i, "false")) return false;
        if (Literal(s, ref i, "null")) return null;
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(s, ref i);
        throw Error(s, i, $"'{c}'");
    }

    private static Dictionary<string, object?> ParseObject(string s, ref int i)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        i++; // {
        SkipSpace(s, ref i);
        if (i < s.Length && s[i] == '}') { i++; return result; }
        while (true)
        {
            SkipSpace(s, ref i);
            if (i >= s.Length || s[i] != '"') throw Error(s, i, "a member without a name");
            string name = ParseString(s, ref i);
            SkipSpace(s, ref i);
            if (i >= s.Length || s[i] != ':') throw Error(s, i, "a member without ':'");
            i++;
            result[name] = ParseValue(s, ref i);
            SkipSpace(s, ref i);
            if (i < s.Length && s[i] == ',') { i++; continue; }
            if (i < s.Length && s[i] == '}') { i++; return result; }
            throw Error(s, i, "an unterminated object");
        }
    }

    private static List<object?> ParseArray(string s, ref int i)
    {
        var result = new List<object?>();
        i++; // [
        SkipSpace(s, ref i);
        if (i < s.Length && s[i] == ']') { i++; return result; }
        while (true)
        {
            result.Add(ParseValue(s, ref i));
            SkipSpace(s, ref i);
            if (i < s.Length && s[i] == ',') { i++; continue; }
            if (i < s.Length && s[i] == ']') { i++; return result; }
            throw Error(s, i, "an unterminated array");
        }
    }

    private static string ParseString(string s, ref int i)
    {
        var result = new StringBuilder();
        i++; // "
        while (i < s.Length)
        {
            char c = s[i++];
            if (c == '"') return result.ToString();
            if (c != '\\') { result.Append(c); continue; }
            if (i >= s.Length) break;
            char e = s[i++];
            switch (e)
            {
                case '"': result.Append('"'); break;
                case '\\': result.Append('\\'); break;
                case '/': result.Append('/'); break;
                case 'b': result.Append('\b'); break;
                case 'f': result.Append('\f'); break;
                case 'n': result.Append('\n'); break;
                case 'r': result.Append('\r'); break;
                case 't': result.Append('\t'); break;
                case 'u':
                    if (i + 4 > s.Length || !int.TryParse(s.Substring(i, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code))
                        throw Error(s, i, "a bad \\u escape");
                    result.Append((char)code);
                    i += 4;
                    break;
                default: throw Error(s, i - 1, $"the escape '\\{e}'");
            }
        }
        throw Error(s, i, "an unterminated string");
    }

    private static object ParseNumber(string s, ref int i)
    {
        int start = i;
        while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0) i++;
        string text = s.Substring(start, i - start);
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long integer)) return integer;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double real)) return real;
        throw Error(s, start, $"the number '{text}'");
    }

    private static bool Literal(string s, ref int i, string literal)
    {
        if (string.CompareOrdinal(s, i, literal, 0, literal.Length) != 0) return false;
        i += literal.Length;
        return true;
    }

    private static void SkipSpace(string s, ref int i)
    {
        while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) i++;
    }

    private static FormatException Error(string s, int i, string what) => new($"Not JSON: {what} at offset {i} of {s.Length}.");
}
