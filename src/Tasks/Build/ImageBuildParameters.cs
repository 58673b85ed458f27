using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Layers;

namespace Livrable.Build;

/// <summary>
/// The <c>BuildContainerImage</c> task's parameters as plain values (strings, lists, items with their metadata), and
/// the one mapping from them to an <see cref="ImageBuildRequest"/>. The net8.0 task fills it in process; the .NET
/// Framework task writes it as JSON for <c>Livrable.Cli</c>, which reads it back: both paths share this mapping, so
/// they cannot drift. Property names are the task's parameter names, which are also the JSON names.
/// </summary>
public sealed partial class ImageBuildParameters
{
    public string BaseImage { get; set; } = "";
    public string? RuntimeIdentifier { get; set; }
    public string Repository { get; set; } = "";
    public IReadOnlyList<string>? Tags { get; set; }
    public string? Registry { get; set; }
    public string? ArchiveOutputPath { get; set; }
    public string? OciLayoutPath { get; set; }
    public string? LocalRegistry { get; set; }
    public string? ImageFormat { get; set; }

    /// <summary>ContainerLayerCompression: <c>gzip</c> (default) or <c>zstd</c>, for the layers Livrable writes.</summary>
    public string? LayerCompression { get; set; }
    public string? WorkingDirectory { get; set; }
    public string? User { get; set; }

    /// <summary>Whether the base's .NET conventions (APP_UID, ASPNETCORE_* ports) apply, as in the .NET SDK (see <see cref="ConfigChanges.FollowDotNetConventions"/>).</summary>
    public bool FollowDotNetConventions { get; set; }

    /// <summary>Whether to label the image with its base's manifest digest (<see cref="ConfigChanges.BaseDigestLabel"/>).</summary>
    public bool BaseDigestLabel { get; set; }
    public IReadOnlyList<ParameterItem>? Entrypoint { get; set; }
    public IReadOnlyList<ParameterItem>? Cmd { get; set; }
    public IReadOnlyList<ParameterItem>? AppCommand { get; set; }
    public IReadOnlyList<ParameterItem>? AppCommandArgs { get; set; }
    public string? AppCommandInstruction { get; set; }
    public string? AssemblyName { get; set; }
    public bool SelfContained { get; set; }
    public IReadOnlyList<ParameterItem>? EnvironmentVariables { get; set; }
    public IReadOnlyList<ParameterItem>? Labels { get; set; }
    public IReadOnlyList<ParameterItem>? Ports { get; set; }
    public IReadOnlyList<ParameterItem>? Layers { get; set; }
    public IReadOnlyList<ParameterItem>? PublishFiles { get; set; }
    public string? PublishDirectory { get; set; }
    public string? StateDirectory { get; set; }

    /// <summary>ContainerStateMaxSize: the state folder's cap, bytes or with a unit (20GB); 20 GB when empty.</summary>
    public string? StateMaxSize { get; set; }
    public string? SourceDateEpoch { get; set; }
    public IReadOnlyList<string>? InsecureRegistries { get; set; }

    /// <summary>ContainerRegistryTimeout: seconds or a Go duration (90s, 5m); 0 waits forever; 60 s when empty.</summary>
    public string? RegistryTimeout { get; set; }

    /// <summary>ContainerMaxParallelism: a whole number, at least 1; the core count when empty.</summary>
    public string? MaxParallelism { get; set; }
    public bool NoCache { get; set; }

    /// <summary>
    /// <c>-t:ContainerPlan</c>: plan instead of building (<see cref="ImagePlanner"/>); the caller chooses the entry
    /// point, <see cref="ToRequest"/> does not read it. The CLI (the .NET Framework task's) refuses it: LIV2501.
    /// </summary>
    public bool PlanOnly { get; set; }
    public string? Dockerfile { get; set; }
    public string? BuildContext { get; set; }
    public IReadOnlyList<ParameterItem>? BuildArgs { get; set; }
    public IReadOnlyList<ParameterItem>? NamedContexts { get; set; }
    public string? Target { get; set; }

    /// <summary>The OCI runtime for RUN (ContainerRuntimePath); runc on PATH when empty.</summary>
    public string? RuntimePath { get; set; }

    /// <summary>Registry references to import the step cache from (ContainerCacheFrom).</summary>
    public IReadOnlyList<string>? CacheFrom { get; set; }

    /// <summary>The registry reference to export the step cache to (ContainerCacheTo).</summary>
    public string? CacheTo { get; set; }

    /// <summary><c>ContainerSecret</c> items: the id, <c>Env</c> or <c>File</c> metadata.</summary>
    public IReadOnlyList<ParameterItem>? Secrets { get; set; }

    /// <summary>ContainerPlatforms: <c>os/arch[/variant]</c> entries; more than none builds an index.</summary>
    public IReadOnlyList<string>? Platforms { get; set; }

    /// <summary>Images built per runtime identifier (<c>RuntimeIdentifier</c> metadata), listed by the index as they are.</summary>
    public IReadOnlyList<ParameterItem>? PlatformImages { get; set; }

    /// <summary>
    /// The engine's request; LIV2xxx for values of the wrong shape. Relative paths are resolved against the current
    /// directory (the project's folder, in MSBuild and in the CLI the .NET Framework task starts).
    /// </summary>
    /// <exception cref="LivrableException">A value has the wrong shape, or a layer input does not exist.</exception>
    public ImageBuildRequest ToRequest()
    {
        if (PlatformImages is { Count: > 0 }) return ToIndexRequest(PlatformImages);
        var request = NullIfEmpty(Dockerfile) is { } dockerfile ? ToDockerfileRequest(dockerfile) : ToPropertiesRequest();
        var platforms = ParsePlatforms(Platforms);
        return platforms.Count == 0 ? request : request with { Platform = platforms[0], Platforms = platforms };
    }

    /// <summary>
    /// ContainerRuntimeIdentifiers: the index over images already built, one per runtime identifier (each item's
    /// <c>RuntimeIdentifier</c> metadata gives its platform); only the outputs apply.
    /// </summary>
    private ImageBuildRequest ToIndexRequest(IReadOnlyList<ParameterItem> items)
    {
        var images = items.Select(item =>
        {
            string rid = item.GetMetadata("RuntimeIdentifier").Trim();
            if (rid.Length == 0 || item.ItemSpec.Trim().Length == 0)
                throw new LivrableException(DiagnosticCodes.InvalidPlatformList,
                    $"The platform image '{item.ItemSpec}' has no RuntimeIdentifier metadata; each needs the runtime identifier it was published for.");
            return new PlatformImage(Platform.FromRuntimeIdentifier(rid), item.ItemSpec.Trim());
        }).ToList();
        return WithOutputs(images[0].Platform) with { PlatformImages = images };
    }

    /// <summary>
    /// ContainerPlatforms entries as platforms, in order: <c>linux/arm64</c> is <c>linux/arm64/v8</c> and
    /// <c>linux/arm</c> <c>linux/arm/v7</c>, as the runtime identifiers map them, so both modes write the same index
    /// entries. LIV2120 for an entry that is not a platform, or one given twice.
    /// </summary>
    internal static IReadOnlyList<Platform> ParsePlatforms(IReadOnlyList<string>? values)
    {
        var platforms = new List<Platform>();
        foreach (string value in (values ?? []).SelectMany(v => v.Split(';', ',')).Select(v => v.Trim()).Where(v => v.Length > 0))
        {
            Platform platform;
            try
            {
                platform = Platform.Parse(value.ToLowerInvariant());
            }
            catch (LivrableException e)
            {
                throw new LivrableException(DiagnosticCodes.InvalidPlatformList, $"ContainerPlatforms: {e.Message}", inner: e);
            }
            platform = platform switch
            {
                { Architecture: "arm64", Variant: null } => platform with { Variant = "v8" },
                { Architecture: "arm", Variant: null } => platform with { Variant = "v7" },
                _ => platform,
            };
            if (platforms.Contains(platform))
                throw new LivrableException(DiagnosticCodes.InvalidPlatformList, $"ContainerPlatforms names {platform} twice; give each platform once.");
            platforms.Add(platform);
        }
        return platforms;
    }

    /// <summary>Properties mode: the base image, the publish output's layers, the config properties.</summary>
    private ImageBuildRequest ToPropertiesRequest()
    {
        var publishFiles = (PublishFiles ?? []).Select(ToPublishFile).ToList();
        // No working directory keeps the base's. An app needs one to go to: the targets resolve it (/app/, the .NET
        // SDK's default, a folder its targets append file names to); the config says /app, as Docker's WORKDIR writes it.
        string? configWorkingDirectory = NullIfEmpty(WorkingDirectory) is { } wd ? (wd.TrimEnd('/') is { Length: > 0 } trimmed ? trimmed : "/")
            : publishFiles.Count > 0 ? Resolved(WorkingDirectory, "WorkingDirectory", "ContainerWorkingDirectory") : null;
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

        // Evaluated in the order of the request's members, so that of several bad values the same one is reported.
        string baseImage = BaseImage.Trim();
        var platform = TargetPlatform();
        var config = new ConfigChanges
        {
            WorkingDirectory = configWorkingDirectory,
            User = NullIfEmpty(User),
            Entrypoint = entrypoint,
            Cmd = cmd,
            Environment = Pairs(EnvironmentVariables, "ContainerEnvironmentVariable"),
            Labels = Pairs(Labels, "ContainerLabel"),
            Ports = (Ports ?? []).Select(ToPort).ToList(),
            FollowDotNetConventions = FollowDotNetConventions,
            BaseDigestLabel = BaseDigestLabel,
        };
        return WithOutputs(platform) with
        {
            BaseImage = baseImage,
            Layers = layers,
            Config = config,
            NoCache = NoCache,
        };
    }

    /// <summary>
    /// Dockerfile mode: the Dockerfile decides the image; of the config properties only ContainerLabel applies (as
    /// <c>docker build --label</c>); the outputs are the same as in properties mode.
    /// </summary>
    private ImageBuildRequest ToDockerfileRequest(string dockerfile)
    {
        string path = Path.GetFullPath(dockerfile);
        var platform = TargetPlatform();
        var build = new DockerfileBuild
        {
            DockerfilePath = path,
            ContextDirectory = NullIfEmpty(BuildContext) is { } context ? Path.GetFullPath(context) : Path.GetDirectoryName(path)!,
            BuildArgs = Map(BuildArgs, "ContainerBuildArg", valueRequired: false),
            NamedContexts = Map(NamedContexts, "ContainerNamedContext", valueRequired: true),
            Target = NullIfEmpty(Target),
            RuntimePath = NullIfEmpty(RuntimePath),
            Secrets = SecretMap(Secrets),
            CacheFrom = (CacheFrom ?? []).Select(r => r.Trim()).Where(r => r.Length > 0).Distinct(StringComparer.Ordinal).ToList(),
            CacheTo = NullIfEmpty(CacheTo)?.Trim(),
        };
        var config = new ConfigChanges { Labels = Pairs(Labels, "ContainerLabel") };
        // ContainerNoCache applies to both modes: here it makes every step run instead of reusing the step cache.
        return WithOutputs(platform) with { Dockerfile = build, Config = config, NoCache = NoCache };
    }

    // The defaults (the runtime identifier, the tags, the state folder) are resolved by Livrable.Sdk.targets, once;
    // the engine receives them, so the two sides cannot disagree (issue 13: the state folder was XDG there and
    // LocalApplicationData here).
    private Platform TargetPlatform() => Platform.FromRuntimeIdentifier(Resolved(RuntimeIdentifier, "RuntimeIdentifier", "ContainerRuntimeIdentifier"));

    /// <summary>LIV2520 for a value the targets always resolve that came empty.</summary>
    private static string Resolved(string? value, string parameter, string property)
        => NullIfEmpty(value) ?? throw new LivrableException(DiagnosticCodes.UnresolvedDefault,
            $"The {parameter} parameter is empty: Livrable.Sdk.targets resolves {property}, and the task receives it; call the task with a value, or through the targets.");

    /// <summary>
    /// What both modes share, the image's <paramref name="platform"/> and where and how it is written: repository,
    /// tags, registry, archive, local engine, format, layer compression, creation time, state folder, insecure registries.
    /// </summary>
    private ImageBuildRequest WithOutputs(Platform platform)
    {
        // Parsed in the order of the request's members, so that of several bad values the same one is reported.
        string? localEngine = ParseLocalRegistry(LocalRegistry);
        var format = ParseFormat(ImageFormat);
        var compression = ParseLayerCompression(LayerCompression, format);
        return new()
        {
            Platform = platform,
            Repository = Repository.Trim(),
            Tags = Tags?.Select(t => t.Trim()).Where(t => t.Length > 0).Distinct(StringComparer.Ordinal).ToList() is { Count: > 0 } tags ? tags
                : throw new LivrableException(DiagnosticCodes.UnresolvedDefault,
                    "The Tags parameter is empty: Livrable.Sdk.targets resolves the tags (ContainerTag, ContainerImageTag, ContainerImageTags, else latest), and the task receives them; call the task with a tag, or through the targets."),
            Registry = NullIfEmpty(Registry),
            ArchivePath = NullIfEmpty(ArchiveOutputPath) is { } archive ? Path.GetFullPath(archive) : null,
            OciLayoutPath = NullIfEmpty(OciLayoutPath) is { } layout ? Path.GetFullPath(layout) : null,
            LocalEngine = localEngine,
            Format = format,
            LayerCompression = compression,
            Created = Reproducibility.FromSourceDateEpoch(SourceDateEpoch),
            StateDirectory = Resolved(StateDirectory, "StateDirectory", "ContainerStateDirectory"),
            StateMaxSize = Store.StatePruner.ParseSize(StateMaxSize),
            InsecureRegistries = (InsecureRegistries ?? []).Select(r => r.Trim()).Where(r => r.Length > 0).ToList(),
            SupplyChain = ToSupplyChainOptions(),
            RegistryTimeout = ParseRegistryTimeout(RegistryTimeout),
            MaxParallelism = ParseMaxParallelism(MaxParallelism),
        };
    }

    /// <summary>ContainerMaxParallelism: a whole number of at least 1; empty is the core count (<see cref="WorkLimiter.DefaultBound"/>).</summary>
    /// <exception cref="LivrableException">LIV2511 for anything else.</exception>
    internal static int ParseMaxParallelism(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return WorkLimiter.DefaultBound;
        if (int.TryParse(text.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int bound) && bound >= 1)
            return bound;
        throw new LivrableException(DiagnosticCodes.InvalidMaxParallelism,
            $"ContainerMaxParallelism '{text}' is not a whole number of at least 1 (1 builds one step at a time; empty is the core count).");
    }

    /// <summary>
    /// ContainerRegistryTimeout: a whole number of seconds, or a Go duration (<c>90s</c>, <c>1m30s</c>, the form
    /// HEALTHCHECK's flags take); <c>0</c> is no timeout (<see cref="Timeout.InfiniteTimeSpan"/>); empty is 60 s.
    /// </summary>
    /// <exception cref="LivrableException">LIV3014 for anything else, or a negative duration.</exception>
    internal static TimeSpan ParseRegistryTimeout(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return Livrable.Registry.RegistryOptions.DefaultIdleTimeout;
        string value = text.Trim();
        long? nanoseconds = long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long seconds)
            && seconds <= int.MaxValue
            ? seconds * 1_000_000_000L
            : Livrable.Go.GoDuration.TryParse(value, out _);
        if (nanoseconds is not { } ns || ns < 0)
            throw new LivrableException(DiagnosticCodes.InvalidRegistryTimeout,
                $"ContainerRegistryTimeout '{text}' is not a duration: give seconds (60) or a duration such as 90s or 5m; 0 waits forever.");
        return ns == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromTicks(Math.Max(1, ns / 100));
    }

    /// <summary>Items <c>Include="name" Value="..."</c> as a map (a later item wins); LIV2070 for a bad name or a missing value.</summary>
    private static IReadOnlyDictionary<string, string> Map(IReadOnlyList<ParameterItem>? items, string what, bool valueRequired)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in items ?? [])
        {
            string name = item.ItemSpec.Trim();
            string value = item.GetMetadata("Value");
            if (name.Length == 0 || name.Contains('=') || name.Any(char.IsWhiteSpace))
                throw new LivrableException(DiagnosticCodes.InvalidDockerfileItem, $"{what} '{item.ItemSpec}' is not a valid name.");
            if (valueRequired && value.Trim().Length == 0)
                throw new LivrableException(DiagnosticCodes.InvalidDockerfileItem,
                    $"{what} '{name}' has no Value: give the image it stands for, such as Value=\"archive:base.tar\" or Value=\"debian:bookworm\".");
            map[name] = valueRequired ? value.Trim() : value;
        }
        return map;
    }

    /// <summary><c>ContainerSecret</c> items as secrets by id; LIV2070 for a bad id or neither (or both) of Env and File.</summary>
    private static IReadOnlyDictionary<string, BuildSecret> SecretMap(IReadOnlyList<ParameterItem>? items)
    {
        var map = new Dictionary<string, BuildSecret>(StringComparer.Ordinal);
        foreach (var item in items ?? [])
        {
            string id = item.ItemSpec.Trim();
            string env = item.GetMetadata("Env").Trim();
            string file = item.GetMetadata("File").Trim();
            if (id.Length == 0 || id.Any(char.IsWhiteSpace) || id.Contains(','))
                throw new LivrableException(DiagnosticCodes.InvalidDockerfileItem, $"ContainerSecret '{item.ItemSpec}' is not a valid id.");
            if ((env.Length == 0) == (file.Length == 0))
                throw new LivrableException(DiagnosticCodes.InvalidDockerfileItem,
                    $"ContainerSecret '{id}' needs exactly one of Env (an environment variable's name) or File (a path).");
            map[id] = env.Length > 0 ? new BuildSecret(env, null) : new BuildSecret(null, Path.GetFullPath(file));
        }
        return map;
    }

    /// <summary>The request, one line per field, for the detailed log.</summary>
    public static IEnumerable<string> Describe(ImageBuildRequest r)
    {
        if (r.Dockerfile is { } build)
        {
            yield return $"Livrable request: Dockerfile {build.DockerfilePath}, context {build.ContextDirectory}, target {build.Target ?? "(last stage)"}, platform {r.Platform}, repository {r.Repository}, tags {string.Join(",", r.Tags)}";
            yield return $"  build args=[{string.Join(", ", build.BuildArgs.Select(a => a.Key + "=" + (SupplyChain.Redaction.IsSecretName(a.Key) ? SupplyChain.Redaction.Redacted : a.Value)))}] named contexts=[{string.Join(", ", build.NamedContexts.Select(a => a.Key + "=" + a.Value))}] secrets=[{string.Join(", ", build.Secrets.Keys.Order(StringComparer.Ordinal))}] cache from=[{string.Join(", ", build.CacheFrom)}] cache to={build.CacheTo ?? "-"}";
            yield return $"  output: registry={r.Registry ?? "-"} local={r.LocalEngine ?? "-"} archive={r.ArchivePath ?? "-"} format={r.Format} layers={r.LayerCompression}";
            yield return $"  labels=[{string.Join(", ", r.Config.Labels.Select(e => e.Key + "=" + e.Value))}] created={r.Created:O} state={r.StateDirectory} cap={r.StateMaxSize} parallelism={r.MaxParallelism}";
            if (r.Platforms.Count > 0) yield return $"  platforms=[{string.Join(", ", r.Platforms)}]";
            yield break;
        }
        if (r.PlatformImages.Count > 0)
        {
            yield return $"Livrable request: index over {r.PlatformImages.Count} platform images, repository {r.Repository}, tags {string.Join(",", r.Tags)}";
            foreach (var image in r.PlatformImages) yield return $"  {image.Platform}: {image.Image}";
            yield return $"  output: registry={r.Registry ?? "-"} local={r.LocalEngine ?? "-"} archive={r.ArchivePath ?? "-"} format={r.Format}";
            yield break;
        }
        if (r.Platforms.Count > 0) yield return $"Livrable request: platforms [{string.Join(", ", r.Platforms)}]";
        yield return $"Livrable request: base {r.BaseImage}, platform {r.Platform}, repository {r.Repository}, tags {string.Join(",", r.Tags)}";
        yield return $"  output: registry={r.Registry ?? "-"} local={r.LocalEngine ?? "-"} archive={r.ArchivePath ?? "-"} format={r.Format} layers={r.LayerCompression}";
        yield return $"  config: workdir={r.Config.WorkingDirectory} user={r.Config.User ?? "-"} entrypoint=[{Join(r.Config.Entrypoint)}] cmd=[{Join(r.Config.Cmd)}]";
        yield return $"  env=[{string.Join(", ", r.Config.Environment.Select(e => e.Key + "=" + e.Value))}] labels=[{string.Join(", ", r.Config.Labels.Select(e => e.Key + "=" + e.Value))}] ports=[{string.Join(", ", r.Config.Ports)}]";
        yield return $"  created={r.Created:O} state={r.StateDirectory} cap={r.StateMaxSize} insecure=[{string.Join(", ", r.InsecureRegistries)}] registry-timeout={(r.RegistryTimeout == Timeout.InfiniteTimeSpan ? "none" : r.RegistryTimeout.TotalSeconds + " s")} parallelism={r.MaxParallelism}";
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

    private PublishFile ToPublishFile(ParameterItem item)
    {
        string relative = NullIfEmpty(item.GetMetadata("RelativePath")) ?? Path.GetFileName(item.ItemSpec);
        // The copy dotnet publish made, where there is one: the image then holds exactly the publish folder's bytes.
        string source = item.FullPath;
        if (!string.IsNullOrEmpty(PublishDirectory) && Path.Combine(Path.GetFullPath(PublishDirectory!), relative) is var published && File.Exists(published))
            source = published;
        return PublishFile.FromMetadata(source, relative, item.GetMetadata("NuGetPackageId"), item.GetMetadata("AssetType"), item.GetMetadata("RuntimePackAsset"));
    }

    private IEnumerable<LayerSpec> ExtraLayers()
    {
        var filesLayers = new Dictionary<string, List<LayerFile>>(StringComparer.Ordinal);
        foreach (var item in Layers ?? [])
        {
            string path = item.FullPath;
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

    private static string ToPort(ParameterItem item)
    {
        string type = NullIfEmpty(item.GetMetadata("Type"))?.ToLowerInvariant() ?? "tcp";
        if (!int.TryParse(item.ItemSpec.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port)
            || port is < 1 or > 65535 || type is not ("tcp" or "udp"))
            throw new LivrableException(DiagnosticCodes.InvalidItem,
                $"ContainerPort '{item.ItemSpec}' (Type '{type}') is not a port: expected a number from 1 to 65535 and Type tcp or udp.");
        return $"{port}/{type}";
    }

    private static IReadOnlyList<KeyValuePair<string, string>> Pairs(IReadOnlyList<ParameterItem>? items, string what)
        => (items ?? []).Select(i =>
        {
            string key = i.ItemSpec.Trim();
            if (key.Length == 0 || key.Contains('=') && what == "ContainerEnvironmentVariable")
                throw new LivrableException(DiagnosticCodes.InvalidItem, $"{what} '{i.ItemSpec}' is not a valid name.");
            return new KeyValuePair<string, string>(key, i.GetMetadata("Value"));
        }).ToList();

    private static IReadOnlyList<string> Values(IReadOnlyList<ParameterItem>? items) => (items ?? []).Select(i => i.ItemSpec).ToList();

    private static ImageFormat ParseFormat(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "oci" => Images.ImageFormat.Oci,
        "docker" => Images.ImageFormat.Docker,
        _ => throw new LivrableException(DiagnosticCodes.InvalidPropertyValue, $"ContainerImageFormat '{value}' is not Oci or Docker."),
    };

    /// <summary>gzip or zstd; LIV2xxx for another value, LIV4101 for zstd in a Docker image, whose manifest has no zstd layer type.</summary>
    private static global::Livrable.Layers.LayerCompression ParseLayerCompression(string? value, ImageFormat format)
    {
        var compression = global::Livrable.Layers.LayerCompressions.Parse(value)
            ?? throw new LivrableException(DiagnosticCodes.InvalidPropertyValue, $"ContainerLayerCompression '{value}' is not gzip or zstd.");
        if (compression == global::Livrable.Layers.LayerCompression.Zstd && format == Images.ImageFormat.Docker)
            throw new LivrableException(DiagnosticCodes.ZstdNeedsOciFormat,
                "ContainerLayerCompression=zstd needs ContainerImageFormat=OCI: Docker's manifest format has no zstd layer type. Use gzip, or the OCI format.");
        return compression;
    }

    private static string? ParseLocalRegistry(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "docker" => "docker",
        "podman" => "podman",
        // As the .NET SDK's detection: docker when it is there, else podman.
        "auto" => Outputs.LocalEngineOutput.FindOnPath("docker") is not null ? "docker"
            : Outputs.LocalEngineOutput.FindOnPath("podman") is not null ? "podman"
            : throw new LivrableException(DiagnosticCodes.NoLocalEngineFound,
                "LocalRegistry=Auto found neither docker nor podman on PATH; install one, or leave LocalRegistry empty to write a tarball."),
        _ => throw new LivrableException(DiagnosticCodes.InvalidPropertyValue, $"LocalRegistry '{value}' is not Docker, Podman or Auto."),
    };

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}

/// <summary>
/// An MSBuild item as plain values: its item spec and its metadata (custom metadata, plus <c>FullPath</c>, which
/// MSBuild computes against the project's folder and which a process elsewhere could not recompute).
/// </summary>
public sealed class ParameterItem
{
    private readonly Dictionary<string, string> _metadata;

    public ParameterItem(string itemSpec, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ItemSpec = itemSpec;
        // Metadata names are case-insensitive in MSBuild.
        _metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in metadata ?? new Dictionary<string, string>()) _metadata[name] = value;
    }

    /// <summary>The item's <c>Include</c>.</summary>
    public string ItemSpec { get; }

    /// <summary>The metadata, by name (case-insensitive).</summary>
    public IReadOnlyDictionary<string, string> Metadata => _metadata;

    /// <summary>The <c>FullPath</c> metadata, else the item spec made absolute against the current directory.</summary>
    public string FullPath => NullIfEmpty(GetMetadata("FullPath")) ?? Path.GetFullPath(ItemSpec);

    /// <summary>A metadata value; empty when the item has none, as in MSBuild.</summary>
    public string GetMetadata(string name) => _metadata.TryGetValue(name, out var value) ? value : "";

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
