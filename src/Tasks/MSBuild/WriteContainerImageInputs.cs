using System;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// Writes the image step's inputs file (<c>obj/.../container/image.inputs</c>, <c>_LivrableComputeImageInputs</c>) and
/// forgets the image record when the step must run whatever changed. It did with MSBuild's Hash, MakeDir,
/// WriteLinesToFile, Message and Delete: in an unchanged publish of an image project those were the only tasks of
/// Microsoft.Build.Tasks.Core, whose load and first task cost about 10 ms of every publish (issue 14). No engine
/// code: compiled into the .NET Framework task assembly too, so every host runs it in MSBuild's process.
/// </summary>
public sealed class WriteContainerImageInputs : Microsoft.Build.Utilities.Task
{
    /// <summary>The inputs file: written only when its text differs, so that its time says when an input changed.</summary>
    [Required] public string InputsFile { get; set; } = "";

    /// <summary>Its lines: every Container* property and item the task reads, one line each (empty ones dropped).</summary>
    public ITaskItem[] Lines { get; set; } = [];

    /// <summary>The step's input files: a hash of their names ends the text (<c>InputNames=</c>), one line for 20,000 files.</summary>
    public ITaskItem[] InputFiles { get; set; } = [];

    /// <summary>The image record (the step's output), deleted below so that MSBuild runs the step.</summary>
    public string RecordFile { get; set; } = "";

    /// <summary>Why the step runs whatever changed (a registry tag, ContainerIncremental=false...): the record is deleted.</summary>
    public string AlwaysBuildReason { get; set; } = "";

    /// <summary>The tarball or layout index.json the step writes: when it is missing, the record is deleted.</summary>
    public string ArchiveOutput { get; set; } = "";

    /// <inheritdoc/>
    public override bool Execute()
    {
        var text = new StringBuilder();
        foreach (var line in Lines)
            if (line.ItemSpec.Length > 0) text.Append(line.ItemSpec).Append(Environment.NewLine);
        text.Append("InputNames=").Append(NamesHash(InputFiles)).Append(Environment.NewLine);
        string inputs = text.ToString();
        if (!File.Exists(InputsFile) || File.ReadAllText(InputsFile) != inputs)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(InputsFile))!);
            File.WriteAllText(InputsFile, inputs);
        }

        if (AlwaysBuildReason.Length > 0)
        {
            Log.LogMessage(MessageImportance.Low, "The image step runs whatever changed: {0}.", AlwaysBuildReason);
            Forget(RecordFile);
        }
        else if (ArchiveOutput.Length > 0 && !File.Exists(ArchiveOutput))
            Forget(RecordFile);
        return !Log.HasLoggedErrors;
    }

    /// <summary>SHA-256 of the names, each ended by a line feed: a name added, removed or renamed changes it.</summary>
    private static string NamesHash(ITaskItem[] files)
    {
        using var sha = SHA256.Create();
        var names = new StringBuilder();
        foreach (var file in files) names.Append(file.ItemSpec).Append('\n');
        byte[] hash = sha.ComputeHash(Encoding.UTF8.GetBytes(names.ToString()));
        var hex = new StringBuilder(hash.Length * 2);
        foreach (byte b in hash) hex.Append(b.ToString("x2"));
        return hex.ToString();
    }

    /// <summary>Deletes the image record, if any.</summary>
    internal static void Forget(string recordFile)
    {
        if (recordFile.Length > 0 && File.Exists(recordFile)) File.Delete(recordFile);
    }
}
