using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Livrable.Cli.Protocol;

/// <summary>
/// One line of <c>Livrable.Cli</c>'s standard output: a JSON object with a <c>kind</c>. <c>info</c>, <c>detail</c>,
/// <c>warning</c> and <c>error</c> are log events (the engine's <c>ILogger</c> levels, and errors from the task
/// boundary) with a <c>code</c> and, where known, <c>file</c>, <c>line</c>, <c>column</c>, <c>endLine</c>,
/// <c>endColumn</c>; <c>result</c> is the last line of a successful build, with the task's outputs (<c>digest</c>,
/// <c>reference</c>, <c>archivePath</c>; after <c>--image-inputs</c>, <c>inputFiles</c> and <c>unpinnedImages</c>, each a
/// list joined with line feeds, and <c>message</c> saying why the images could not be told). Compiled into the CLI (which writes it) and the .NET Framework task (which
/// reads it), so both ends share one definition.
/// </summary>
internal sealed class LogLine
{
    public const string Info = "info";
    public const string Detail = "detail";
    public const string Warning = "warning";
    public const string Error = "error";
    public const string Result = "result";

    public string Kind { get; set; } = Info;
    public string? Code { get; set; }
    public string? File { get; set; }
    public int Line { get; set; }
    public int Column { get; set; }
    public int EndLine { get; set; }
    public int EndColumn { get; set; }
    public string? Message { get; set; }
    public string? Digest { get; set; }
    public string? Reference { get; set; }
    public string? ArchivePath { get; set; }

    /// <summary><c>--image-inputs</c>: the files to watch, joined with <c>\n</c> (a path has none).</summary>
    public string? InputFiles { get; set; }

    /// <summary><c>--image-inputs</c>: the images by registry tag, joined with <c>\n</c>.</summary>
    public string? UnpinnedImages { get; set; }

    /// <summary>The line as one JSON object, in ASCII, without a line break; empty members are left out.</summary>
    public string ToJson()
    {
        var json = new StringBuilder("{\"kind\":");
        JsonText.WriteString(json, Kind);
        Member(json, "code", Code);
        Member(json, "file", File);
        Member(json, "line", Line);
        Member(json, "column", Column);
        Member(json, "endLine", EndLine);
        Member(json, "endColumn", EndColumn);
        Member(json, "message", Message);
        Member(json, "digest", Digest);
        Member(json, "reference", Reference);
        Member(json, "archivePath", ArchivePath);
        Member(json, "inputFiles", InputFiles);
        Member(json, "unpinnedImages", UnpinnedImages);
        return json.Append('}').ToString();
    }

    /// <summary>
    /// The protocol line <paramref name="text"/> holds, or null when it is not one (not a JSON object with a string
    /// <c>kind</c>): a stray line on standard output is then relayed as a plain message rather than lost.
    /// </summary>
    public static LogLine? Parse(string text)
    {
        string trimmed = text.Trim();
        if (trimmed.Length == 0 || trimmed[0] != '{') return null;
        Dictionary<string, object?>? o;
        try { o = JsonText.Parse(trimmed) as Dictionary<string, object?>; }
        catch (FormatException) { return null; }
        if (o is null || !(Get(o, "kind") is string kind)) return null;
        return new LogLine
        {
            Kind = kind,
            Code = Get(o, "code") as string,
            File = Get(o, "file") as string,
            Line = Int(Get(o, "line")),
            Column = Int(Get(o, "column")),
            EndLine = Int(Get(o, "endLine")),
            EndColumn = Int(Get(o, "endColumn")),
            Message = Get(o, "message") as string,
            Digest = Get(o, "digest") as string,
            Reference = Get(o, "reference") as string,
            ArchivePath = Get(o, "archivePath") as string,
            InputFiles = Get(o, "inputFiles") as string,
            UnpinnedImages = Get(o, "unpinnedImages") as string,
        };
    }

    private static object? Get(Dictionary<string, object?> o, string name) => o.TryGetValue(name, out var value) ? value : null;

    private static int Int(object? value) => value is long l && l >= int.MinValue && l <= int.MaxValue ? (int)l : 0;

    private static void Member(StringBuilder json, string name, string? value)
    {
        if (value is null) return;
        json.Append(",\"").Append(name).Append("\":");
        JsonText.WriteString(json, value);
    }

    private static void Member(StringBuilder json, string name, int value)
    {
        if (value == 0) return;
        json.Append(",\"").Append(name).Append("\":").Append(value.ToString(CultureInfo.InvariantCulture));
    }
}
