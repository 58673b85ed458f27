using Livrable.Build;
using Livrable.Diagnostics;
using Microsoft.Build.Framework;

namespace Livrable.MSBuild;

/// <summary>
/// Builds one container image from the project's properties and publish output, in MSBuild's process (or .NET task
/// host). Thin by design: it turns its parameters (BuildContainerImage.Parameters.cs) into
/// <see cref="ImageBuildParameters"/>, calls <see cref="ImageBuilder.BuildAsync"/> (or, for a plan,
/// <see cref="ImagePlanner.PlanAsync"/>) once, and turns exceptions into
/// diagnostics; the defaults live in the targets (Sdk/Sdk.targets, build/Livrable.Sdk.targets).
/// </summary>
public sealed partial class BuildContainerImage
{
    private readonly CancellationTokenSource _cancel = new();

    /// <inheritdoc/>
    public void Cancel() => _cancel.Cancel();

    /// <inheritdoc/>
    public override bool Execute()
    {
        // What this project's StartContainerImageBuild started before the task, if anything; the engine uses it when its
        // settings match, and disposes it in any case (a plan has no use for it).
        var headStart = HeadStarts.Take(BuildEngine, ProjectPath);
        try
        {
            var logger = new MSBuildLogger(Log);
            var request = CreateRequest();
            // The request's description is for the detailed log: not formatted at all when no logger shows it.
            if (Log.LogsMessagesOfImportance(MessageImportance.Low))
                foreach (string line in ImageBuildParameters.Describe(request)) logger.Detail(line);
            if (PlanOnly)
            {
                headStart?.Dispose();
                ImageDigest = ImagePlanner.PlanAsync(request, logger, _cancel.Token).GetAwaiter().GetResult().Digest?.ToString();
                return !Log.HasLoggedErrors;
            }
            var result = ImageBuilder.BuildAsync(request, logger, _cancel.Token, headStart).GetAwaiter().GetResult();
            ImageDigest = result.Digest.ToString();
            ImageReference = result.Reference;
            ArchivePath = request.Destination is ArchiveDestination archive ? archive.Path : null;
            ImageSummary = $"{result.Reference} {result.Digest} ({Units.Bytes(result.Size)}) -> {result.Destination}";
            GeneratedContainerManifest = Text(result.ManifestBytes);
            GeneratedContainerConfiguration = Text(result.ConfigBytes);
            GeneratedImageIndex = Text(result.IndexBytes);
            GeneratedContainerMediaType = result.MediaType;
        }
        catch (Exception e)
        {
            MSBuildLogger.Error(Log, e);
        }
        finally
        {
            // Disposed by the engine once it had it; here when the request could not be made (disposing twice is nothing).
            headStart?.Dispose();
        }
        return !Log.HasLoggedErrors;
    }

    private static string? Text(byte[]? json) => json is null ? null : System.Text.Encoding.UTF8.GetString(json);

    /// <summary>Turns the parameters into the engine's request; LIV2xxx for values of the wrong shape.</summary>
    internal ImageBuildRequest CreateRequest() => ToParameters().ToRequest();

    /// <summary>The parameters as plain values: each item with its custom metadata and its <c>FullPath</c>.</summary>
    internal ImageBuildParameters ToParameters() => new()
    {
        BaseImage = BaseImage,
        RuntimeIdentifier = RuntimeIdentifier,
        Repository = Repository,
        Tags = Tags,
        Registry = Registry,
        ArchiveOutputPath = ArchiveOutputPath,
        OciLayoutPath = OciLayoutPath,
        LocalRegistry = LocalRegistry,
        ImageFormat = ImageFormat,
        LayerCompression = LayerCompression,
        WorkingDirectory = WorkingDirectory,
        User = User,
        FollowDotNetConventions = FollowDotNetConventions,
        BaseDigestLabel = BaseDigestLabel,
        Entrypoint = Items(Entrypoint),
        Cmd = Items(Cmd),
        AppCommand = Items(AppCommand),
        AppCommandArgs = Items(AppCommandArgs),
        AppCommandInstruction = AppCommandInstruction,
        AssemblyName = AssemblyName,
        SelfContained = SelfContained,
        EnvironmentVariables = Items(EnvironmentVariables),
        Labels = Items(Labels),
        Ports = Items(Ports),
        Layers = Items(Layers),
        PublishFiles = Items(PublishFiles),
        PublishDirectory = PublishDirectory,
        StateDirectory = StateDirectory,
        StateMaxSize = StateMaxSize,
        SourceDateEpoch = SourceDateEpoch,
        InsecureRegistries = InsecureRegistries,
        RegistryTimeout = RegistryTimeout,
        MaxParallelism = MaxParallelism,
        NoCache = NoCache,
        PlanOnly = PlanOnly,
        Dockerfile = Dockerfile,
        BuildContext = BuildContext,
        BuildArgs = Items(BuildArgs),
        NamedContexts = Items(NamedContexts),
        Target = Target,
        RuntimePath = RuntimePath,
        CacheFrom = CacheFrom,
        CacheTo = CacheTo,
        Secrets = Items(Secrets),
        Platforms = Platforms,
        PlatformImages = Items(PlatformImages),
        MetadataFile = MetadataFile,
        DigestFile = DigestFile,
        GenerateSbom = GenerateSbom,
        Provenance = Provenance,
        SigningKey = SigningKey,
        SupplyChainOutputBase = SupplyChainOutputBase,
        ProjectPath = ProjectPath,
        SourceRevisionId = SourceRevisionId,
        RepositoryUrl = RepositoryUrl,
    };

    internal static IReadOnlyList<ParameterItem>? Items(ITaskItem[]? items) => items?.Select(item =>
    {
        var metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (System.Collections.DictionaryEntry entry in item.CloneCustomMetadata())
            metadata[(string)entry.Key] = (string?)entry.Value ?? "";
        metadata["FullPath"] = item.GetMetadata("FullPath");
        return new ParameterItem(item.ItemSpec, metadata);
    }).ToList();
}
