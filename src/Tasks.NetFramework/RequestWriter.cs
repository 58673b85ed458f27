using System.Reflection;
using System.Text;
using Livrable.Cli.Protocol;
using Microsoft.Build.Framework;

namespace Livrable.NetFramework;

/// <summary>
/// Writes a task's input parameters as the JSON request <c>Livrable.Cli</c> reads (<c>Build/ImageBuildParameters</c>
/// in src/Tasks): every public read-write property the task class declares, except <c>[Output]</c> ones, under its
/// own name. Strings and string arrays as such, booleans as booleans, items as
/// <c>{"ItemSpec":..., "Metadata":{...custom..., "FullPath":...}}</c>; <c>FullPath</c> is MSBuild's, computed here
/// against the project's folder. Null parameters are left out. Reflection rather than a list, so a parameter added
/// to BuildContainerImage.Parameters.cs is sent without a change here.
/// </summary>
internal static class RequestWriter
{
    /// <summary>The request for <paramref name="task"/>, one JSON object.</summary>
    /// <exception cref="NotSupportedException">A parameter has a type this writer does not know.</exception>
    public static string Write(object task)
    {
        var json = new StringBuilder("{");
        var properties = task.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(p => p.CanRead && p.CanWrite && !p.IsDefined(typeof(OutputAttribute), inherit: true))
            .OrderBy(p => p.MetadataToken);
        foreach (var property in properties)
        {
            object? value = property.GetValue(task, null);
            if (value is null) continue;
            if (json.Length > 1) json.Append(',');
            JsonText.WriteString(json, property.Name);
            json.Append(':');
            switch (value)
            {
                case string s:
                    JsonText.WriteString(json, s);
                    break;
                case bool b:
                    json.Append(b ? "true" : "false");
                    break;
                case string[] strings:
                    json.Append('[');
                    for (int i = 0; i < strings.Length; i++)
                    {
                        if (i > 0) json.Append(',');
                        JsonText.WriteString(json, strings[i]);
                    }
                    json.Append(']');
                    break;
                case ITaskItem[] items:
                    json.Append('[');
                    for (int i = 0; i < items.Length; i++)
                    {
                        if (i > 0) json.Append(',');
                        WriteItem(json, items[i]);
                    }
                    json.Append(']');
                    break;
                default:
                    throw new NotSupportedException($"The parameter {property.Name} is a {property.PropertyType.Name}, which the request cannot carry yet.");
            }
        }
        return json.Append('}').ToString();
    }

    private static void WriteItem(StringBuilder json, ITaskItem item)
    {
        json.Append("{\"ItemSpec\":");
        JsonText.WriteString(json, item.ItemSpec);
        json.Append(",\"Metadata\":{");
        var metadata = new SortedDictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (System.Collections.DictionaryEntry entry in item.CloneCustomMetadata())
            metadata[(string)entry.Key] = entry.Value as string ?? "";
        metadata["FullPath"] = item.GetMetadata("FullPath");
        bool first = true;
        foreach (var pair in metadata)
        {
            if (!first) json.Append(',');
            first = false;
            JsonText.WriteString(json, pair.Key);
            json.Append(':');
            JsonText.WriteString(json, pair.Value);
        }
        json.Append("}}");
    }
}
