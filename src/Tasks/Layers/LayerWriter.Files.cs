using Livrable.Diagnostics;

namespace Livrable.Layers;

// FilesLayerSpec: listed files at their paths in the image.
public static partial class LayerWriter
{
    /// <summary>
    /// Each listed file at its path, with every parent directory (0755, the spec's owner). A file is read through
    /// symbolic links. The same source listed twice for one path is written once; two different sources for one path,
    /// or a path that is both a file and a parent, is LIV4010: Livrable does not guess which one was meant.
    /// </summary>
    private static async Task WriteFilesAsync(FilesLayerSpec spec, Context context)
    {
        var files = new Dictionary<string, LayerFile>(StringComparer.Ordinal);
        foreach (var file in spec.Files)
        {
            string path = LayerPath.FromImagePath(file.TargetPath, "The target path of " + file.SourcePath);
            if (path.Length == 0)
                throw new LivrableException(DiagnosticCodes.InvalidLayerPath, $"'{file.SourcePath}' cannot be copied to '/' itself; give a file path.");
            if (files.TryGetValue(path, out var other) && !SameSource(other.SourcePath, file.SourcePath))
                throw new LivrableException(DiagnosticCodes.LayerPathConflict,
                    $"'{other.SourcePath}' and '{file.SourcePath}' are both copied to '/{path}'.");
            files[path] = file;
        }

        var directories = new HashSet<string>(StringComparer.Ordinal);
        foreach (string path in files.Keys)
            foreach (string ancestor in LayerPath.Ancestors(path))
                directories.Add(ancestor);
        foreach (string directory in directories)
            if (files.TryGetValue(directory, out var clash))
                throw new LivrableException(DiagnosticCodes.LayerPathConflict,
                    $"'/{directory}' is both the file '{clash.SourcePath}' and the parent folder of other files.");

        var entries = new List<PlannedEntry>(files.Count + directories.Count);
        foreach (string directory in directories)
            entries.Add(new PlannedEntry(DirectoryHeader(directory, context, spec.Uid, spec.Gid)));
        foreach (var (path, file) in files)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            if (!File.Exists(file.SourcePath))
                throw new LivrableException(DiagnosticCodes.InputNotFound,
                    Directory.Exists(file.SourcePath)
                        ? $"'{file.SourcePath}' is a folder; a listed file must be a file (copy a folder with a folder layer)."
                        : $"The file '{file.SourcePath}' (for '/{path}') does not exist.");
            var header = new TarHeader
            {
                Name = path,
                Mode = FileModes.ForRegularFile(IsExecutable(file.SourcePath, path, context.Options)),
                Uid = spec.Uid,
                Gid = spec.Gid,
                ModificationTime = context.Epoch,
            };
            entries.Add(new PlannedEntry(header, file.SourcePath));
        }
        await WriteSortedAsync(entries, context).ConfigureAwait(false);
    }

    private static bool SameSource(string a, string b)
        => string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    /// <summary>
    /// Whether the owner may execute <paramref name="source"/> (following links). Windows has no such bit: there, the
    /// names in <see cref="LayerWriteOptions.ExecutableNames"/> are executable and nothing else is.
    /// </summary>
    private static bool IsExecutable(string source, string imagePath, LayerWriteOptions options)
    {
        if (OperatingSystem.IsWindows())
            return options.ExecutableNames.Contains(imagePath[(imagePath.LastIndexOf('/') + 1)..]);
        return (File.GetUnixFileMode(source) & UnixFileMode.UserExecute) != 0;
    }
}
