using System;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using Livrable.Context;
using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// Writes the image step's inputs file (<c>obj/.../container/image.inputs</c>, <c>_LivrableComputeImageInputs</c>) and
/// forgets the image record when the step must run whatever changed. It did with MSBuild's Hash, MakeDir,
/// WriteLinesToFile, Message and Delete: in an unchanged publish of an image project those were the only tasks of
/// Microsoft.Build.Tasks.Core, whose load and first task cost about 10 ms of every publish (issue 14). The folders
/// among the inputs (the build context, ContainerLayer folders) are walked here, by <see cref="InputFolders"/>, not
/// globbed into MSBuild items: a change in them forgets the record too. Compiled into the .NET Framework task assembly
/// too (with the engine's one file it needs), so every host but TaskHost runs it in MSBuild's process.
/// </summary>
public sealed class WriteContainerImageInputs : Microsoft.Build.Utilities.Task
{
    /// <summary>The inputs file: written only when its text differs, so that its time says when an input changed.</summary>
    [Required] public string InputsFile { get; set; } = "";

    /// <summary>Its lines: every Container* property and item the task reads, one line each (empty ones dropped).</summary>
    public ITaskItem[] Lines { get; set; } = [];

    /// <summary>The step's input files: a hash of their names ends the text (<c>InputNames=</c>), one line for 20,000 files.</summary>
    public ITaskItem[] InputFiles { get; set; } = [];

    /// <summary>
    /// Dockerfile mode: the build context, walked whole (<see cref="InputFolders"/>) but for <see cref="ContextExcludes"/>
    /// and, by its <see cref="DockerIgnoreFile"/>, <c>bin/</c> and <c>obj/</c> (<see cref="ContextExclusions"/>).
    /// </summary>
    public string BuildContext { get; set; } = "";

    /// <summary>This project's outputs that may lie in the context, left out of its walk with all they hold: the record folder, the tarball, an OCI layout folder.</summary>
    public ITaskItem[] ContextExcludes { get; set; } = [];

    /// <summary>The <c>.dockerignore</c> in effect, whose lines may leave the context's <c>bin/</c> and <c>obj/</c> out.</summary>
    public string DockerIgnoreFile { get; set; } = "";

    /// <summary>Properties mode: the <c>ContainerLayer</c> folders, each walked whole.</summary>
    public ITaskItem[] LayerFolders { get; set; } = [];

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
        string? change = null;
        using (var names = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            var files = new StringBuilder();
            foreach (var file in InputFiles) files.Append(file.ItemSpec).Append('\n');
            names.AppendData(Encoding.UTF8.GetBytes(files.ToString()));
            // A step that runs whatever changed compares nothing: no folder is walked (the engine walks the context itself).
            if (AlwaysBuildReason.Length == 0) change = WalkFolders(names);
            text.Append("InputNames=").Append(Hex(names.GetHashAndReset())).Append(Environment.NewLine);
        }
        WriteIfDifferent(InputsFile, text.ToString());

        if (AlwaysBuildReason.Length > 0)
        {
            Log.LogMessage(MessageImportance.Low, "The image step runs whatever changed: {0}.", AlwaysBuildReason);
            Forget(RecordFile);
        }
        else if (change is not null)
        {
            Log.LogMessage(MessageImportance.Low, "The image step runs: {0}.", change);
            Forget(RecordFile);
        }
        else if (ArchiveOutput.Length > 0 && !File.Exists(ArchiveOutput))
            Forget(RecordFile);
        return !Log.HasLoggedErrors;
    }

    /// <summary>Walks the context and the layer folders into the names' hash; why the step must run, or null.</summary>
    private string? WalkFolders(IncrementalHash names)
    {
        if (BuildContext.Length == 0 && LayerFolders.Length == 0) return null;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var excluded = ContextExcludes.Select(item => item.ItemSpec).ToList();
        if (BuildContext.Length > 0 && DockerIgnoreFile.Length > 0 && File.Exists(DockerIgnoreFile))
            excluded.AddRange(ContextExclusions.Of(BuildContext, File.ReadAllText(DockerIgnoreFile)));
        var walk = new InputFolders(RecordFile, excluded, names);
        if (BuildContext.Length > 0) walk.Walk(BuildContext);
        foreach (var folder in LayerFolders) walk.Walk(folder.ItemSpec);
        walk.Flush();
        Log.LogMessage(MessageImportance.Low, "Compared {0} entries of the image step's input folders with its record in {1} ms: {2}.",
            walk.Entries, watch.ElapsedMilliseconds, walk.Change ?? "none changed");
        return walk.Change;
    }

    private static string Hex(byte[] hash)
    {
        var hex = new StringBuilder(hash.Length * 2);
        foreach (byte b in hash) hex.Append(b.ToString("x2"));
        return hex.ToString();
    }

    /// <summary>
    /// Writes <paramref name="text"/> to <paramref name="file"/> only when it holds something else (or nothing): the
    /// file's time then says when an input of the image step changed. True when it was written.
    /// </summary>
    internal static bool WriteIfDifferent(string file, string text)
    {
        if (File.Exists(file) && File.ReadAllText(file) == text) return false;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        File.WriteAllText(file, text);
        return true;
    }

    /// <summary>Deletes the image record, if any.</summary>
    internal static void Forget(string recordFile)
    {
        if (recordFile.Length > 0 && File.Exists(recordFile)) File.Delete(recordFile);
    }
}
