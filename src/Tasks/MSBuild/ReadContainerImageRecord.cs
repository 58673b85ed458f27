using System;
using System.IO;
using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// A publish whose image step MSBuild skipped (up to date): reads the last build's record
/// (<see cref="WriteContainerImageRecord"/>) into the outputs a build sets, and prints its final line as
/// <c>Up to date: ...</c>. The target did it with four regular expressions (MSBuild's reflection path, 5-8 ms for a
/// process's first) and a Message task (Microsoft.Build.Tasks.Core's load, about 10 ms): issue 14. No engine code:
/// compiled into the .NET Framework task assembly too.
/// </summary>
public sealed class ReadContainerImageRecord : Microsoft.Build.Utilities.Task
{
    /// <summary>The record, <c>obj/.../container/image.record</c>; nothing is read or printed when there is none.</summary>
    [Required] public string RecordFile { get; set; } = "";

    /// <summary>The image's reference (ContainerImageReference).</summary>
    [Output] public string Reference { get; set; } = "";

    /// <summary>Its digest (ContainerImageDigest).</summary>
    [Output] public string Digest { get; set; } = "";

    /// <summary>The tarball it went to, if any (ContainerArchivePath).</summary>
    [Output] public string Archive { get; set; } = "";

    /// <summary>The build's final line without timings.</summary>
    [Output] public string Summary { get; set; } = "";

    /// <inheritdoc/>
    public override bool Execute()
    {
        if (!File.Exists(RecordFile)) return true;
        foreach (string line in File.ReadAllLines(RecordFile))
        {
            int equals = line.IndexOf('=');
            if (equals < 0) continue;
            string value = line.Substring(equals + 1);
            switch (line.Substring(0, equals))
            {
                case "reference": Reference = value; break;
                case "digest": Digest = value; break;
                case "archive": Archive = value; break;
                case "summary": Summary = value; break;
            }
        }
        if (Summary.Length > 0) Log.LogMessage(MessageImportance.High, "Up to date: {0}", Summary);
        return true;
    }
}
