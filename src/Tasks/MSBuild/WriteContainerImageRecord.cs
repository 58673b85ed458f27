using System;
using System.IO;
using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// The image step's record (<c>_LivrableBuildImage</c>): with <see cref="Forget"/>, before the build, deletes it, so a
/// failed build leaves none; after a successful one, writes the manifest, config and index JSON beside it (each only
/// when it differs, each deleted when the build made none) and then the record itself (always: its time is the step's
/// output). It did with MSBuild's Delete and WriteLinesToFile, the only tasks of Microsoft.Build.Tasks.Core in an
/// unchanged publish besides <see cref="WriteContainerImageInputs"/>'s. No engine code: compiled into the .NET
/// Framework task assembly too.
/// </summary>
public sealed class WriteContainerImageRecord : Microsoft.Build.Utilities.Task
{
    /// <summary>The record: <c>obj/.../container/image.record</c>; the JSON files go in its folder.</summary>
    [Required] public string RecordFile { get; set; } = "";

    /// <summary>Only delete the record (before the build).</summary>
    public bool Forget { get; set; }

    /// <summary>The image's reference, for the record's <c>reference=</c> line.</summary>
    public string Reference { get; set; } = "";

    /// <summary>Its digest (<c>digest=</c>).</summary>
    public string Digest { get; set; } = "";

    /// <summary>The tarball it went to, if any (<c>archive=</c>).</summary>
    public string Archive { get; set; } = "";

    /// <summary>The build's final line without timings (<c>summary=</c>), printed by an up-to-date publish.</summary>
    public string Summary { get; set; } = "";

    /// <summary>The manifest written (the .NET SDK's GeneratedContainerManifest), kept as <c>image.manifest.json</c>.</summary>
    public string Manifest { get; set; } = "";

    /// <summary>The config written (GeneratedContainerConfiguration), kept as <c>image.config.json</c>.</summary>
    public string Configuration { get; set; } = "";

    /// <summary>The index written (GeneratedImageIndex), kept as <c>image.index.json</c>.</summary>
    public string Index { get; set; } = "";

    /// <inheritdoc/>
    public override bool Execute()
    {
        if (Forget)
        {
            WriteContainerImageInputs.Forget(RecordFile);
            return true;
        }

        string folder = Path.GetDirectoryName(Path.GetFullPath(RecordFile))!;
        Directory.CreateDirectory(folder);
        Keep(Path.Combine(folder, "image.manifest.json"), Manifest);
        Keep(Path.Combine(folder, "image.config.json"), Configuration);
        Keep(Path.Combine(folder, "image.index.json"), Index);
        string nl = Environment.NewLine;
        File.WriteAllText(RecordFile, $"reference={Reference}{nl}digest={Digest}{nl}archive={Archive}{nl}summary={Summary}{nl}");
        return true;
    }

    /// <summary>One JSON file: deleted when empty, else written when its text differs (an unchanged build rewrites none).</summary>
    private static void Keep(string file, string json)
    {
        if (json.Length == 0)
        {
            if (File.Exists(file)) File.Delete(file);
            return;
        }
        string text = json + Environment.NewLine;
        if (!File.Exists(file) || File.ReadAllText(file) != text) File.WriteAllText(file, text);
    }
}
