using Livrable.Build;
using Livrable.Diagnostics;
using Livrable.Images;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace Livrable.MSBuild;

/// <summary>
/// Builds one container image from the project's properties and publish output. Thin by design: it turns its
/// parameters into an <see cref="ImageBuildRequest"/>, calls <see cref="ImageBuilder.BuildAsync"/> once, and turns
/// exceptions into diagnostics; the defaults live in the targets (Sdk/Sdk.targets, build/Livrable.Sdk.targets).
/// </summary>
public sealed class BuildContainerImage : Microsoft.Build.Utilities.Task, ICancelableTask
{
    private readonly CancellationTokenSource _cancel = new();

    /// <summary><c>scratch</c>, a registry reference, <c>archive:FILE</c> or <c>oci-layout:DIR</c>.</summary>
    [Required] public string BaseImage { get; set; } = "";

    /// <summary>The .NET runtime identifier of the image's platform (<c>linux-x64</c>); empty for linux-x64.</summary>
    public string? RuntimeIdentifier { get; set; }

    /// <summary>The repository, such as <c>hello</c> or <c>team/hello</c>.</summary>
    [Required] public string Repository { get; set; } = "";

    /// <summary>Tags; <c>latest</c> when none.</summary>
    public string[]? Tags { get; set; }

    /// <summary>The registry to push to (<c>host[:port]</c>).</summary>
    public string? Registry { get; set; }

    /// <summary>Where to write the image tarball when there is no registry and no local engine.</summary>
    public string? ArchiveOutputPath { get; set; }

    /// <summary><c>Docker</c> or <c>Podman</c>: load the image into that engine.</summary>
    public string? LocalRegistry { get; set; }

    /// <summary><c>Oci</c> (default) or <c>Docker</c>.</summary>
    public string? ImageFormat { get; set; }

    /// <summary>The image's working directory, where the publish output goes; empty keeps the base's (<c>/app</c> when there are publish files).</summary>
    public string? WorkingDirectory { get; set; }

    /// <summary>The user the container runs as.</summary>
    public string? User { get; set; }

    /// <summary><c>ContainerEntrypoint</c> items, in order.</summary>
    public ITaskItem[]? Entrypoint { get; set; }

    /// <summary><c>ContainerDefaultArgs</c> items: the CMD, which <c>docker run IMAGE args</c> replaces.</summary>
    public ITaskItem[]? Cmd { get; set; }

    /// <summary><c>ContainerAppCommand</c> items; inferred from the publish output when empty.</summary>
    public ITaskItem[]? AppCommand { get; set; }

    /// <summary><c>ContainerAppCommandArgs</c> items: arguments always passed to the app.</summary>
    public ITaskItem[]? AppCommandArgs { get; set; }

    /// <summary><c>ContainerAppCommandInstruction</c>: Entrypoint, DefaultArgs or None.</summary>
    public string? AppCommandInstruction { get; set; }

    /// <summary>The app's assembly name, to find <c>name</c> (apphost) or <c>name.dll</c> in the publish output.</summary>
    public string? AssemblyName { get; set; }

    /// <summary>Whether the app is self-contained (then its apphost is the app command).</summary>
    public bool SelfContained { get; set; }

    /// <summary><c>ContainerEnvironmentVariable</c> items: name, <c>Value</c> metadata.</summary>
    public ITaskItem[]? EnvironmentVariables { get; set; }

    /// <summary><c>ContainerLabel</c> items: key, <c>Value</c> metadata.</summary>
    public ITaskItem[]? Labels { get; set; }

    /// <summary><c>ContainerPort</c> items: port number, <c>Type</c> metadata <c>tcp</c> (default) or <c>udp</c>.</summary>
    public ITaskItem[]? Ports { get; set; }

    /// <summary>
    /// Extra layers, before the app's: <c>Kind</c> metadata <c>Directory</c> (a folder's tree), <c>Tar</c> (a tar
    /// file's entries) or <c>Files</c> (one file; those with the same <c>CreatedBy</c> share a layer), placed at
    /// <c>Destination</c> (<c>/</c> by default; for a file, a path ending in <c>/</c> keeps its name).
    /// </summary>
    public ITaskItem[]? Layers { get; set; }

    /// <summary>The <c>ResolvedFileToPublish</c> items (with <c>RelativePath</c>), split into runtime, dependencies and application layers.</summary>
    public ITaskItem[]? PublishFiles { get; set; }

    /// <summary>The publish folder, to resolve relative item paths.</summary>
    public string? PublishDirectory { get; set; }

    /// <summary>Livrable's state folder (blob store, caches).</summary>
    public string? StateDirectory { get; set; }

    /// <summary>SOURCE_DATE_EPOCH: the time written into the image, in seconds since 1970.</summary>
    public string? SourceDateEpoch { get; set; }

    /// <summary>Registries (<c>host[:port]</c>) that may be reached over plain http.</summary>
    public string[]? InsecureRegistries { get; set; }

    /// <summary>The digest of the image's manifest.</summary>
    [Output] public string? ImageDigest { get; set; }

    /// <summary>The image's full reference.</summary>
    [Output] public string? ImageReference { get; set; }

    /// <summary>The tarball written, when the image went to one.</summary>
    [Output] public string? ArchivePath { get; set; }

    /// <inheritdoc/>
    public void Cancel() => _cancel.Cancel();

    /// <inheritdoc/>
    public override bool Execute()
    {
        try
        {
            var logger = new MSBuildLogger(Log);
            var request = CreateRequest();
            foreach (string line in Describe(request)) logger.Detail(line);
            var result = ImageBuilder.BuildAsync(request, logger, _cancel.Token).GetAwaiter().GetResult();
            ImageDigest = result.Digest.ToString();
            ImageReference = result.Reference;
            ArchivePath = request.Registry is null && request.LocalEngine is null ? request.ArchivePath : null;
        }
        catch (LivrableException e)
        {
            Log.LogError(subcategory: null, errorCode: e.Code, helpKeyword: null, file: e.Span?.File,
                lineNumber: e.Span?.Line ?? 0, columnNumber: e.Span?.Column ?? 0,
                endLineNumber: e.Span?.EndLine ?? 0, endColumnNumber: e.Span?.EndColumn ?? 0,
                message: "{0}", messageArgs: e.Message);
        }
        catch (OperationCanceledException)
        {
            Log.LogError(null, DiagnosticCodes.Cancelled, null, null, 0, 0, 0, 0, "The image build was cancelled.");
        }
        catch (Exception e)
        {
            Log.LogError(null, DiagnosticCodes.Internal, null, null, 0, 0, 0, 0,
                "Livrable failed unexpectedly ({0}): {1}", e.GetType().Name, e.Message);
            Log.LogMessage(MessageImportance.Low, "{0}", e.ToString());
        }
        return !Log.HasLoggedErrors;
    }

    /// <summary>Turns the parameters into the engine's request; LIV2xxx for values of the wrong shape.</summary>
    internal ImageBuildRequest CreateRequest()
    {
        var publishFiles = (PublishFiles ?? []).Select(ToPublishFile).ToList();
        // No working directory keeps the base's, unless there is an app to put somewhere.
        string? configWorkingDirectory = NullIfEmpty(WorkingDirectory) ?? (publishFiles.Count > 0 ? "/app" : null);
        string workingDirectory = configWorkingDirectory ?? "/";
        var layers = new List<LayerSpec>(ExtraLayers());
        layers.AddRange(PublishLayers.Split(publishFiles, workingDirectory));

        var instruction = EntrypointInference.ParseInstruction(AppCommandInstruction);
        IReadOnlyList<string> appCommand = Values(AppCommand);
        if (appCommand.Count == 0 && instruction != Build.AppCommandInstruction.None && publishFiles.Count > 0 && !string.IsNullOrEmpty(AssemblyName))
        {
            appCommand = EntrypointInference.InferAppCommand(publishFiles.Select(f => f.RelativePath), AssemblyName!, workingDirectory, SelfContained)
                ?? throw new LivrableException(DiagnosticCodes.NoEntrypoint,
                    $"The publish output has neither '{AssemblyName}' nor '{AssemblyName}.dll' to start; set ContainerAppCommand (or ContainerEntrypoint).");
        }
        var (entrypoint, cmd) = EntrypointInference.Resolve(Values(Entrypoint), appCommand, Values(AppCommandArgs), Values(Cmd), instruction);

        return new ImageBuildRequest
        {
            BaseImage = BaseImage.Trim(),
            Platform = Platform.FromRuntimeIdentifier(string.IsNullOrWhiteSpace(RuntimeIdentifier) ? "linux-x64" : RuntimeIdentifier!),
            Layers = layers,
            Config = new ConfigChanges
            {
                WorkingDirectory = configWorkingDirectory,
                User = NullIfEmpty(User),
                Entrypoint = entrypoint,
                Cmd = cmd,
                Environment = Pairs(EnvironmentVariables, "ContainerEnvironmentVariable"),
                Labels = Pairs(Labels, "ContainerLabel"),
                Ports = (Ports ?? []).Select(ToPort).ToList(),
            },
            Repository = Repository.Trim(),
            Tags = Tags is { Length: > 0 } ? Tags.Select(t => t.Trim()).Where(t => t.Length > 0).Distinct(StringComparer.Ordinal).ToList() : ["latest"],
            Registry = NullIfEmpty(Registry),
            ArchivePath = NullIfEmpty(ArchiveOutputPath) is { } archive ? Path.GetFullPath(archive) : null,
            LocalEngine = ParseLocalRegistry(LocalRegistry),
            Format = ParseFormat(ImageFormat),
            Created = Reproducibility.FromSourceDateEpoch(SourceDateEpoch),
            StateDirectory = NullIfEmpty(StateDirectory)
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "livrable"),
            InsecureRegistries = (InsecureRegistries ?? []).Select(r => r.Trim()).Where(r => r.Length > 0).ToList(),
        };
    }

    /// <summary>The request, one line per field, for the detailed log.</summary>
    internal static IEnumerable<string> Describe(ImageBuildRequest r)
    {
        yield return $"Livrable request: base {r.BaseImage}, platform {r.Platform}, repository {r.Repository}, tags {string.Join(",", r.Tags)}";
        yield return $"  output: registry={r.Registry ?? "-"} local={r.LocalEngine ?? "-"} archive={r.ArchivePath ?? "-"} format={r.Format}";
        yield return $"  config: workdir={r.Config.WorkingDirectory} user={r.Config.User ?? "-"} entrypoint=[{Join(r.Config.Entrypoint)}] cmd=[{Join(r.Config.Cmd)}]";
        yield return $"  env=[{string.Join(", ", r.Config.Environment.Select(e => e.Key + "=" + e.Value))}] labels=[{string.Join(", ", r.Config.Labels.Select(e => e.Key + "=" + e.Value))}] ports=[{string.Join(", ", r.Config.Ports)}]";
        yield return $"  created={r.Created:O} state={r.StateDirectory} insecure=[{string.Join(", ", r.InsecureRegistries)}]";
        foreach (var layer in r.Layers)
        {
            yield return layer switch
            {
                FilesLayerSpec f => $"  layer: {f.CreatedBy}: {string.Join(", ", f.Files.Take(5).Select(x => x.TargetPath))}{(f.Files.Count > 5 ? ", ..." : "")}",
                DirectoryLayerSpec d => $"  layer: {d.CreatedBy}: folder {d.SourceDirectory} -> {d.Destination}",
                TarLayerSpec t => $"  layer: {t.CreatedBy}: tar {t.TarPath} -> {t.Destination}",
                _ => $"  layer: {layer.CreatedBy}",
            };
        }

        static string Join(IReadOnlyList<string>? values) => values is null ? "(base)" : string.Join(", ", values.Select(v => '"' + v + '"'));
    }

    private PublishFile ToPublishFile(ITaskItem item)
    {
        string relative = NullIfEmpty(item.GetMetadata("RelativePath")) ?? Path.GetFileName(item.ItemSpec);
        // The copy dotnet publish made, where there is one: the image then holds exactly the publish folder's bytes.
        string source = item.GetMetadata("FullPath");
        if (!string.IsNullOrEmpty(PublishDirectory) && Path.Combine(Path.GetFullPath(PublishDirectory!), relative) is var published && File.Exists(published))
            source = published;
        return PublishFile.FromMetadata(source, relative, item.GetMetadata("NuGetPackageId"), item.GetMetadata("AssetType"), item.GetMetadata("RuntimePackAsset"));
    }

    private IEnumerable<LayerSpec> ExtraLayers()
    {
        var filesLayers = new Dictionary<string, List<LayerFile>>(StringComparer.Ordinal);
        foreach (var item in Layers ?? [])
        {
            string path = item.GetMetadata("FullPath");
            string destination = NullIfEmpty(item.GetMetadata("Destination")) ?? "/";
            string kind = NullIfEmpty(item.GetMetadata("Kind")) ?? (Directory.Exists(path) ? "Directory" : IsTarName(path) ? "Tar" : "Files");
            string? createdBy = NullIfEmpty(item.GetMetadata("CreatedBy"));
            if (!File.Exists(path) && !Directory.Exists(path))
                throw new LivrableException(DiagnosticCodes.InputNotFound, $"The ContainerLayer '{item.ItemSpec}' does not exist ({path}).");
            switch (kind.ToLowerInvariant())
            {
                case "directory":
                    yield return new DirectoryLayerSpec(path, destination) { CreatedBy = createdBy ?? $"Livrable: folder {item.ItemSpec} -> {destination}" };
                    break;
                case "tar":
                    yield return new TarLayerSpec(path, destination) { CreatedBy = createdBy ?? $"Livrable: tar {Path.GetFileName(path)} -> {destination}" };
                    break;
                case "files":
                    string target = destination.EndsWith('/') ? destination + Path.GetFileName(path) : destination;
                    string key = createdBy ?? "Livrable: files";
                    if (!filesLayers.TryGetValue(key, out var list))
                    {
                        filesLayers[key] = list = [];
                        // The layer takes the place of its first file; later files with the same CreatedBy join it.
                        yield return new FilesLayerSpec(list) { CreatedBy = key };
                    }
                    list.Add(new LayerFile(path, PublishLayers.TargetPath("/", target)));
                    break;
                default:
                    throw new LivrableException(DiagnosticCodes.InvalidItem,
                        $"The ContainerLayer '{item.ItemSpec}' has Kind '{kind}'; expected Directory, Tar or Files.");
            }
        }
    }

    private static bool IsTarName(string path)
        => path.EndsWith(".tar", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase)
           || path.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase);

    private static string ToPort(ITaskItem item)
    {
        string type = NullIfEmpty(item.GetMetadata("Type"))?.ToLowerInvariant() ?? "tcp";
        if (!int.TryParse(item.ItemSpec.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port)
            || port is < 1 or > 65535 || type is not ("tcp" or "udp"))
            throw new LivrableException(DiagnosticCodes.InvalidItem,
                $"ContainerPort '{item.ItemSpec}' (Type '{type}') is not a port: expected a number from 1 to 65535 and Type tcp or udp.");
        return $"{port}/{type}";
    }

    private static IReadOnlyList<KeyValuePair<string, string>> Pairs(ITaskItem[]? items, string what)
        => (items ?? []).Select(i =>
        {
            string key = i.ItemSpec.Trim();
            if (key.Length == 0 || key.Contains('=') && what == "ContainerEnvironmentVariable")
                throw new LivrableException(DiagnosticCodes.InvalidItem, $"{what} '{i.ItemSpec}' is not a valid name.");
            return new KeyValuePair<string, string>(key, i.GetMetadata("Value"));
        }).ToList();

    private static IReadOnlyList<string> Values(ITaskItem[]? items) => (items ?? []).Select(i => i.ItemSpec).ToList();

    private static ImageFormat ParseFormat(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "oci" => Images.ImageFormat.Oci,
        "docker" => Images.ImageFormat.Docker,
        _ => throw new LivrableException(DiagnosticCodes.InvalidPropertyValue, $"ContainerImageFormat '{value}' is not Oci or Docker."),
    };

    private static string? ParseLocalRegistry(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "docker" => "docker",
        "podman" => "podman",
        _ => throw new LivrableException(DiagnosticCodes.InvalidPropertyValue, $"LocalRegistry '{value}' is not Docker or Podman."),
    };

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
