using System.Reflection;

namespace Livrable.Diagnostics;

/// <summary>
/// The table of diagnostic codes. Groups: 1xxx Dockerfile, 2xxx MSBuild inputs, 3xxx registry and auth,
/// 4xxx layers, blobs and cache, 5xxx RUN, 6xxx outputs, 9xxx internal. A retired code is never reused:
/// leave it here with an <c>[Obsolete]</c> attribute. A unit test keeps the values unique.
/// </summary>
public static class DiagnosticCodes
{
    // 1xxx: Dockerfile. LIV1001-1049: the parser and instruction checking (src/Tasks/Dockerfile, BuildKit's
    // frontend/dockerfile/parser and instructions packages). Errors 1001-1029, warnings 1030-1049.
    /// <summary>A physical line of the Dockerfile is longer than 65535 bytes (BuildKit's scanner limit).</summary>
    public const string DockerfileLineTooLong = "LIV1001";
    /// <summary>A parser directive is given twice (<c>only one escape parser directive can be used</c>).</summary>
    public const string DuplicateParserDirective = "LIV1002";
    /// <summary>The <c># escape=</c> directive names something other than <c>\</c> or <c>`</c>.</summary>
    public const string InvalidEscapeDirective = "LIV1003";
    /// <summary>The Dockerfile holds no instruction: it is empty, or only comments and directives.</summary>
    public const string DockerfileWithoutInstructions = "LIV1004";
    /// <summary>A here-document of RUN, COPY or ADD has no terminator line before the end of the file.</summary>
    public const string UnterminatedHeredoc = "LIV1005";
    /// <summary>A here-document is misused: an unbalanced quote in its delimiter, or a heredoc as COPY/ADD destination.</summary>
    public const string InvalidHeredoc = "LIV1006";
    /// <summary>An exec-form (JSON array) argument list holds something other than strings.</summary>
    public const string JsonArrayNotStrings = "LIV1007";
    /// <summary>An instruction keyword Dockerfiles do not have (<c>unknown instruction: FORM (did you mean FROM?)</c>).</summary>
    public const string UnknownInstruction = "LIV1008";
    /// <summary>A <c>--flag</c> the instruction does not take (<c>COPY --foo</c>, <c>ADD --from</c>).</summary>
    public const string UnknownInstructionFlag = "LIV1009";
    /// <summary>A flag's value is missing or malformed (<c>--from</c> without <c>=</c>, <c>--link=maybe</c>, <c>RUN --network=bridge</c>).</summary>
    public const string InvalidInstructionFlag = "LIV1010";
    /// <summary>A single-value flag is given twice on one instruction.</summary>
    public const string DuplicateInstructionFlag = "LIV1011";
    /// <summary>An instruction has too few or too many arguments (<c>COPY a</c>, <c>WORKDIR</c>, <c>FROM a b</c>).</summary>
    public const string InstructionArgumentCount = "LIV1012";
    /// <summary>An ENV, LABEL or ARG pair is malformed: no <c>=</c> in the <c>k=v</c> form, a blank name, or no value.</summary>
    public const string InvalidKeyValuePair = "LIV1013";
    /// <summary>A build stage name does not match <c>^[a-z][a-z0-9-_.]*$</c> (after lowercasing).</summary>
    public const string InvalidStageName = "LIV1014";
    /// <summary>SHELL is not written as a JSON array.</summary>
    public const string ShellNotJsonForm = "LIV1015";
    /// <summary>A HEALTHCHECK is malformed: a type other than CMD or NONE, NONE with arguments, a bad duration or retries.</summary>
    public const string InvalidHealthcheck = "LIV1016";
    /// <summary>ONBUILD with an instruction that cannot be a trigger (ONBUILD, FROM, MAINTAINER), or a trigger that is not one instruction.</summary>
    public const string InvalidOnbuildTrigger = "LIV1017";
    /// <summary>An instruction other than ARG comes before the first FROM (<c>no build stage in current context</c>).</summary>
    public const string InstructionBeforeFrom = "LIV1018";
    /// <summary>The Dockerfile has no FROM at all (<c>dockerfile contains no stages to build</c>).</summary>
    public const string NoBuildStage = "LIV1019";
    /// <summary><c>COPY --from</c> holds a variable, which BuildKit never expands there.</summary>
    public const string CopyFromVariable = "LIV1020";
    /// <summary>An argument is invalid for its instruction (an empty VOLUME path).</summary>
    public const string InvalidInstructionArgument = "LIV1021";
    /// <summary>A feature only the labs Dockerfile frontend has (<c>RUN --device</c>).</summary>
    public const string UnsupportedDockerfileFeature = "LIV1022";
    /// <summary>
    /// The <c># check=</c> directive does not parse (<c>failed to parse check options: invalid check option ...</c>):
    /// BuildKit fails the build, so a typo cannot silently turn the checks back on or off.
    /// </summary>
    public const string InvalidCheckOptions = "LIV1023";

    /// <summary>Warning: <c># syntax=</c> names an external frontend image, which Livrable does not run; the built-in frontend is used.</summary>
    public const string SyntaxDirectiveIgnored = "LIV1030";
    /// <summary>Warning: an empty line inside a line continuation (BuildKit check <c>NoEmptyContinuation</c>).</summary>
    public const string EmptyContinuationLine = "LIV1031";
    /// <summary>Warning: MAINTAINER is deprecated in favour of a label (<c>MaintainerDeprecated</c>).</summary>
    public const string MaintainerDeprecated = "LIV1032";
    /// <summary>Warning: ENV or LABEL in the legacy <c>key value</c> form (<c>LegacyKeyValueFormat</c>).</summary>
    public const string LegacyKeyValueFormat = "LIV1033";
    /// <summary>Warning: a stage name is not lowercase (<c>StageNameCasing</c>).</summary>
    public const string StageNameCasing = "LIV1034";
    /// <summary>Warning: the casing of <c>AS</c> does not match that of <c>FROM</c> (<c>FromAsCasing</c>).</summary>
    public const string FromAsCasing = "LIV1035";
    /// <summary>Warning: a stage is named <c>scratch</c> or <c>context</c> (<c>ReservedStageName</c>).</summary>
    public const string ReservedStageName = "LIV1036";
    /// <summary>Warning: two stages have the same name (<c>DuplicateStageName</c>).</summary>
    public const string DuplicateStageName = "LIV1037";
    /// <summary>Retired: a <c># check=</c> directive that does not parse was a warning; it is the error LIV1023 now, as in BuildKit.</summary>
    [Obsolete("A # check= directive that does not parse is the error LIV1023 (InvalidCheckOptions).")]
    public const string InvalidCheckDirective = "LIV1038";
    /// <summary>
    /// Warning (BuildKit's <c>SecretsUsedInArgOrEnv</c>): an ARG or ENV name looks like a secret (<c>API_KEY</c>,
    /// <c>DB_PASSWORD</c>, <c>GITHUB_TOKEN</c>...). Its value is kept in the image's history or config, and in the build
    /// log; a secret belongs in <c>RUN --mount=type=secret</c> (ContainerSecret).
    /// </summary>
    public const string SecretsUsedInArgOrEnv = "LIV1039";

    // LIV1050-1079: variable expansion (Dockerfile/ShellExpander) and the build context (Context/).
    /// <summary>
    /// A variable substitution or quote does not parse: <c>${}</c>, <c>${{x}</c>, a missing <c>}</c> or <c>/</c>, an
    /// unterminated quote (BuildKit's <c>syntax error: bad substitution</c> and friends).
    /// </summary>
    public const string ExpansionSyntax = "LIV1050";
    /// <summary>A substitution form BuildKit does not support: <c>${x:=w}</c>, <c>${x=w}</c>, <c>${x:1}</c>, <c>${#x}</c>.</summary>
    public const string ExpansionUnsupportedModifier = "LIV1051";
    /// <summary>A pattern of <c>${x#p}</c>, <c>${x%p}</c> or <c>${x/p/r}</c> has an escape other than <c>\*</c> <c>\?</c> <c>\</c>.</summary>
    public const string ExpansionInvalidPattern = "LIV1052";
    /// <summary><c>${x:?message}</c> or <c>${x?message}</c> met an unset (or empty) variable.</summary>
    public const string ExpansionRequiredVariable = "LIV1053";
    /// <summary>A COPY/ADD source names a path that is not in the build context (or is excluded by .dockerignore).</summary>
    public const string ContextSourceNotFound = "LIV1060";
    /// <summary>A COPY/ADD source is a symbolic link whose target lies outside the build context.</summary>
    public const string ContextSymlinkEscape = "LIV1061";
    /// <summary>A .dockerignore (or <c>--exclude</c>) pattern is malformed: a lone <c>!</c>, an unclosed <c>[</c>.</summary>
    public const string InvalidIgnorePattern = "LIV1062";
    /// <summary>A wildcard in a COPY/ADD source is malformed (Go <c>filepath.Match</c>: <c>[</c> unclosed, <c>[a-]</c>).</summary>
    public const string InvalidSourcePattern = "LIV1063";
    /// <summary>The build context folder does not exist, or a file in it could not be read.</summary>
    public const string ContextUnreadable = "LIV1064";
    // LIV1200-1219: hostile build contexts (docs/security.md).
    /// <summary>
    /// A COPY or ADD would write a file whose name starts with <c>.wh.</c>: in a layer that name is a whiteout (it would
    /// delete a file of the layers below instead of adding one), so it is refused.
    /// </summary>
    public const string WhiteoutNamedSource = "LIV1200";
    // 1xxx: Dockerfile (LIV1100-LIV1149: the build: stages, steps)
    /// <summary>A stage named by ContainerTarget, <c>COPY --from</c> or an index does not exist.</summary>
    public const string StageNotFound = "LIV1100";
    /// <summary>Stages depend on each other in a circle (FROM and <c>COPY --from</c>).</summary>
    public const string StageCycle = "LIV1101";
    /// <summary>A FROM names no image once expanded (blank, or not a reference), or its <c>--platform</c> is not a platform.</summary>
    public const string InvalidBaseImage = "LIV1102";
    /// <summary>A stage reference (<c>COPY --from</c>, also in a trigger) holds a variable, which BuildKit does not expand (the parser checks it first, LIV1020).</summary>
    public const string StageReferenceVariable = "LIV1103";
    /// <summary><c>COPY --from</c> names a stage that is defined at or after the current one.</summary>
    public const string StageOrder = "LIV1104";
    /// <summary>An EXPOSE value is not <c>port[-port][/tcp|udp|sctp]</c>.</summary>
    public const string InvalidExpose = "LIV1105";
    /// <summary>A STOPSIGNAL is neither a non-zero number nor a signal name.</summary>
    public const string InvalidStopSignal = "LIV1106";
    /// <summary>A VOLUME path is empty once expanded.</summary>
    public const string EmptyVolume = "LIV1107";
    /// <summary>COPY was given a URL, which only ADD downloads.</summary>
    public const string UrlInCopy = "LIV1108";
    /// <summary>ADD of a git repository, which Livrable does not support yet.</summary>
    public const string GitSourceNotSupported = "LIV1109";
    /// <summary><c>ADD --checksum</c> without exactly one http(s) source.</summary>
    public const string InvalidChecksum = "LIV1110";
    /// <summary>A <c>COPY --from</c> source path does not exist in that stage or image.</summary>
    public const string SourceNotFound = "LIV1111";
    /// <summary>
    /// A COPY or ADD destination (or one of its parents, or a folder a copied folder holds) is an existing file or
    /// symbolic link of the image where a folder is needed: BuildKit's "cannot copy to non-directory".
    /// </summary>
    public const string NotADirectory = "LIV1112";
    /// <summary>A build argument was given that no ARG of the stages built declares (a warning, as BuildKit's).</summary>
    public const string UnusedBuildArg = "LIV1120";

    // 2xxx: MSBuild inputs (properties, items, references given by the user)
    /// <summary>An image reference (base image, repository, registry) does not parse.</summary>
    public const string InvalidReference = "LIV2001";
    /// <summary>A tag is not <c>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}</c>.</summary>
    public const string InvalidTag = "LIV2002";
    /// <summary>A property has a value outside the documented set (ContainerImageFormat=Foo).</summary>
    public const string InvalidPropertyValue = "LIV2003";
    /// <summary>A ContainerPort, ContainerEnvironmentVariable, ContainerLabel or ContainerLayer item is malformed.</summary>
    public const string InvalidItem = "LIV2004";
    /// <summary>No entrypoint can be inferred and none was given.</summary>
    public const string NoEntrypoint = "LIV2005";
    /// <summary>A runtime identifier names no platform Livrable knows.</summary>
    public const string UnknownRuntimeIdentifier = "LIV2006";
    /// <summary>A file or folder named by a property or item does not exist.</summary>
    public const string InputNotFound = "LIV2007";
    /// <summary>The repository name is not a valid OCI repository.</summary>
    public const string InvalidRepository = "LIV2008";
    /// <summary>ContainerEntrypoint, ContainerAppCommand, ContainerAppCommandArgs and ContainerAppCommandInstruction contradict each other.</summary>
    public const string ConflictingEntrypoint = "LIV2010";
    /// <summary>More than one ProjectReference is an image project, so none is the obvious base image (raised by Livrable.Sdk.targets).</summary>
    public const string AmbiguousBaseImageReference = "LIV2011";
    /// <summary>
    /// A program a project's own build step needs is not installed (the samples' debian-base needs mmdebstrap). Raised
    /// by project files, not by the engine; listed here so the code is never given another meaning.
    /// </summary>
    public const string ToolNotFound = "LIV2040";

    /// <summary>
    /// A value Livrable.Sdk.targets resolves reached the engine empty: the state folder (ContainerStateDirectory), the
    /// tags, the runtime identifier, or the working directory of an app's publish output. The targets define each default once and the engine receives it; an empty
    /// one means the task was called without the targets (set the parameter).
    /// </summary>
    public const string UnresolvedDefault = "LIV2520";

    /// <summary>A ContainerBuildArg or ContainerNamedContext item is malformed.</summary>
    public const string InvalidDockerfileItem = "LIV2070";
    /// <summary>The Dockerfile (ContainerDockerfile) does not exist.</summary>
    public const string DockerfileNotFound = "LIV2071";
    /// <summary>The build context folder (ContainerBuildContext) does not exist.</summary>
    public const string BuildContextNotFound = "LIV2072";
    /// <summary>
    /// ContainerDockerfile names a folder, not a file (<c>docker build -f</c> takes a file; the folder is the build
    /// context, ContainerBuildContext).
    /// </summary>
    public const string DockerfileIsFolder = "LIV2200";
    /// <summary>
    /// ContainerPlatforms or ContainerRuntimeIdentifiers is malformed: an entry that is not a platform, one platform
    /// twice, or a platform image (one publish per runtime identifier) for another platform than it was built for.
    /// </summary>
    public const string InvalidPlatformList = "LIV2120";

    // LIV2510-2519: the build pipeline's inputs (the recipe, the bound on concurrent work).
    /// <summary>
    /// The request mixes two recipes: a Dockerfile with a base image, layers or config changes other than labels, or
    /// images already built per platform with any of those (the engine would otherwise ignore some of them).
    /// </summary>
    public const string MixedRecipe = "LIV2510";
    /// <summary>ContainerMaxParallelism is not a whole number of at least 1 (1 builds one step at a time).</summary>
    public const string InvalidMaxParallelism = "LIV2511";

    // LIV2300-2399: the .NET SDK's container properties (Microsoft.NET.Build.Containers), as Livrable reads them
    // (raised by build/Livrable.Sdk.DotNetSdk.targets unless said otherwise). Warnings 2300-2319, errors 2320-2339.
    /// <summary>A container property of the .NET SDK that Livrable does not honour is set (the warning names it and says why).</summary>
    public const string SdkPropertyNotSupported = "LIV2300";
    /// <summary>ContainerImageName is set: obsolete in the .NET SDK (its CONTAINER003), use ContainerRepository.</summary>
    public const string ContainerImageNameObsolete = "LIV2301";
    /// <summary>
    /// A project Visual Studio's container tools gave a Dockerfile is built from it (found in the project folder, not
    /// chosen by ContainerDockerfile): the warning says with which build context, and how to choose properties mode.
    /// </summary>
    public const string VisualStudioDockerfile = "LIV2302";
    /// <summary>The runtime identifiers mix linux-musl and other ones, so no one inferred base image fits them all (the .NET SDK's CONTAINER2009 rule).</summary>
    public const string MixedMuslRuntimeIdentifiers = "LIV2320";
    /// <summary>ContainerEntrypointArgs is set with no ContainerEntrypoint to add them to, while ContainerDefaultArgs or ContainerAppCommandArgs also are.</summary>
    public const string EntrypointArgsWithoutEntrypoint = "LIV2321";
    /// <summary>LocalRegistry=Auto found neither docker nor podman on PATH.</summary>
    public const string NoLocalEngineFound = "LIV2322";

    // LIV2640-2654: the base an image project (<Project Sdk="Livrable.Sdk">) is built on (src/Sdk/Sdk/Livrable.Sdk.Base.targets).
    /// <summary>
    /// An image project on the Livrable base (LivrableSdkBase=Livrable, the default) has what only Microsoft.NET.Sdk
    /// honours (PackageReference, FrameworkReference, Compile, EmbeddedResource or Reference items, files copied to the
    /// output, IsPackable=true): the warning names them and says to set LivrableSdkBase=Microsoft.NET.Sdk.
    /// </summary>
    public const string NeedsMicrosoftNetSdk = "LIV2640";
    /// <summary>LivrableSdkBase is neither Livrable nor Microsoft.NET.Sdk.</summary>
    public const string InvalidSdkBase = "LIV2641";
    /// <summary>
    /// `dotnet pack` of an image project, which makes no NuGet package on either base (its image is what `dotnet publish`
    /// makes), and which did not say IsPackable=false (in the project or Directory.Build.props): nothing is packed. Not
    /// in a solution's pack, which skips image projects as it skips test projects.
    /// </summary>
    public const string ImageProjectNotPacked = "LIV2650";

    // 3xxx: registries and authentication
    /// <summary>The registry could not be reached (DNS, connection refused, TLS).</summary>
    public const string RegistryUnreachable = "LIV3001";
    /// <summary>The registry answered 401: no credentials, or wrong ones.</summary>
    public const string Unauthorized = "LIV3002";
    /// <summary>The registry answered 403: the credentials lack the right.</summary>
    public const string Forbidden = "LIV3003";
    /// <summary>The image (or tag) does not exist in the registry.</summary>
    public const string ManifestNotFound = "LIV3004";
    /// <summary>The image has no manifest for the wanted platform.</summary>
    public const string PlatformNotFound = "LIV3005";
    /// <summary>The registry answered something outside the distribution spec.</summary>
    public const string RegistryProtocol = "LIV3006";
    /// <summary>A credential helper failed or returned garbage.</summary>
    public const string CredentialHelper = "LIV3007";
    /// <summary>A plain-http registry was asked for that is neither loopback nor allowed.</summary>
    public const string InsecureRegistryRefused = "LIV3008";
    /// <summary>A blob upload failed.</summary>
    public const string PushFailed = "LIV3009";
    /// <summary>
    /// A host the registry sent a request to (a redirect, an upload location) asked for credentials that cannot be
    /// given: the registry's are never sent to another host, and that host refused an anonymous token of its own.
    /// </summary>
    public const string ForeignChallenge = "LIV3010";
    /// <summary>
    /// A redirect or upload location (or an ADD URL's redirect) pointing at a link-local address (169.254.0.0/16,
    /// fe80::/10: cloud metadata), or at a private or loopback address while the origin is public, was not followed.
    /// </summary>
    public const string RedirectRefused = "LIV3011";
    /// <summary>A registry (or the host it redirected to) sent nothing for ContainerRegistryTimeout, on every try.</summary>
    public const string RegistryTimeout = "LIV3012";
    /// <summary>A blob's body broke off before its end on every try (the connection closed early each time).</summary>
    public const string BlobTruncated = "LIV3013";
    /// <summary>ContainerRegistryTimeout is not a duration (seconds, or Go's form such as 90s or 2m).</summary>
    public const string InvalidRegistryTimeout = "LIV3014";
    /// <summary>A pull resumed with a Range request got bytes from another offset than asked.</summary>
    public const string BlobResumeRefused = "LIV3101";
    /// <summary>A registry named a token service on a link-local address (169.254.0.0/16, fe80::/10: cloud metadata).</summary>
    public const string TokenRealmRefused = "LIV3102";

    // 4xxx: images, layers, blobs
    /// <summary>A blob's bytes do not match its digest or size.</summary>
    public const string DigestMismatch = "LIV4001";
    /// <summary>A manifest, index or config is malformed or of an unsupported media type.</summary>
    public const string InvalidImage = "LIV4002";
    /// <summary>A digest string is not <c>algorithm:hex</c> of the right length.</summary>
    public const string InvalidDigest = "LIV4003";
    /// <summary>A tar archive (base layer, ContainerLayer tar, image tarball) is malformed.</summary>
    public const string InvalidArchive = "LIV4004";
    /// <summary>A file could not be read or written while building a layer.</summary>
    public const string LayerIo = "LIV4005";
    /// <summary>The disk is full.</summary>
    public const string DiskFull = "LIV4006";
    /// <summary>
    /// Two inputs of one layer give the same path in the image, or a path is both a file and the parent folder of
    /// another: which one the image should hold cannot be guessed, so the layer is refused rather than one silently dropped.
    /// </summary>
    public const string LayerPathConflict = "LIV4010";
    /// <summary>A path in the image (a file's target, a layer's destination) is not absolute, or climbs out with <c>..</c>.</summary>
    public const string InvalidLayerPath = "LIV4011";
    /// <summary>
    /// A tar given as a layer holds something a layer cannot carry (a GNU sparse or multi-volume entry), or is compressed
    /// with something other than gzip.
    /// </summary>
    public const string UnsupportedArchiveEntry = "LIV4012";
    /// <summary>An image tarball or OCI layout holds no image with the tag asked for, or several and no tag was given.</summary>
    public const string ImageNotInArchive = "LIV4050";

    // Layer compression (Layers/DeterministicGzipStream, Layers/LayerCompression): 4100-4119
    /// <summary>
    /// The runtime's <c>DeflateStream.Flush()</c> did not end a block with a sync flush, so parallel gzip blocks cannot be
    /// joined into one stream: the layer is refused rather than written corrupt.
    /// </summary>
    public const string DeflateFlushUnsupported = "LIV4100";
    /// <summary><c>ContainerLayerCompression=zstd</c> with <c>ContainerImageFormat=Docker</c>: Docker's manifest format has no zstd layer type.</summary>
    public const string ZstdNeedsOciFormat = "LIV4101";
    // LIV4150-4179: the state folder (src/Tasks/Store: StateFolder, FileLock, StatePruner).
    /// <summary>The state folder was written by a newer Livrable (its <c>version</c> file names a later format): use another ContainerStateDirectory or a newer Livrable.</summary>
    public const string StateFormatUnsupported = "LIV4150";
    /// <summary><c>ContainerStateMaxSize</c> is not a size: a whole number of bytes, optionally with a unit (<c>KB</c>, <c>MB</c>, <c>GB</c>, <c>TB</c>, or <c>KiB</c>...).</summary>
    public const string InvalidStateMaxSize = "LIV4151";
    /// <summary>A lock of the state folder stayed held by another build or prune longer than the wait allows; the message names the holder when known.</summary>
    public const string StateLockTimeout = "LIV4152";
    /// <summary>The state folder cannot be created or written (permissions, a file where a folder should be).</summary>
    public const string StateFolderUnusable = "LIV4153";
    /// <summary>The PruneContainerState target ran in MSBuild on .NET Framework, which cannot load its task: run it with <c>dotnet msbuild</c>.</summary>
    public const string PruneNeedsDotNetMSBuild = "LIV4154";

    // Filesystem (Dockerfile frontend): --chown, --chmod (1080-1099); archives, downloads, trees (4070-4089)
    /// <summary><c>--chown</c> names a user that the image's <c>/etc/passwd</c> does not have (or the image has no such file).</summary>
    public const string UnknownUser = "LIV1080";
    /// <summary><c>--chown</c> names a group that the image's <c>/etc/group</c> does not have (or the image has no such file).</summary>
    public const string UnknownGroup = "LIV1081";
    /// <summary>A <c>--chown</c> value is not <c>user[:group]</c> (empty part, a number out of range).</summary>
    public const string InvalidChown = "LIV1082";
    /// <summary>A <c>--chmod</c> value is neither an octal mode up to 07777 nor a symbolic mode as chmod(1) takes.</summary>
    public const string InvalidChmod = "LIV1083";
    /// <summary>An ADD archive has an entry (or a hard link target) that climbs out of the destination with <c>..</c>.</summary>
    public const string UnsafeArchivePath = "LIV4070";
    /// <summary>An ADD download's bytes do not match its <c>--checksum</c>.</summary>
    public const string ChecksumMismatch = "LIV4071";
    /// <summary>An ADD download failed: no answer, an error status, too many redirects, or a scheme other than http(s).</summary>
    public const string DownloadFailed = "LIV4072";
    /// <summary>An ADD archive decompresses to more than the allowed size (a decompression bomb, or a limit to raise).</summary>
    public const string ArchiveTooLarge = "LIV4073";
    /// <summary>Resolving a path in an image's file tree met more than 255 symbolic links (a loop).</summary>
    public const string SymlinkLoop = "LIV4074";
    // LIV4060-4069: hostile files: tar headers, build context files, OCI layout blobs (docs/security.md).
    /// <summary>A tar has a PAX extended header or a GNU long name or link over 1 MiB (Go's limit since CVE-2022-2879): refused before it is read into memory.</summary>
    public const string TarHeaderTooLarge = "LIV4060";
    /// <summary>A COPY or ADD names a socket of the build context, which a layer cannot carry (BuildKit: <c>unsupported mode</c>).</summary>
    public const string ContextSocket = "LIV4061";
    /// <summary>A build context file or folder's name is not valid UTF-8: .NET cannot open it by name, and an image's paths are UTF-8.</summary>
    public const string ContextNameNotUtf8 = "LIV4062";
    /// <summary>A blob, <c>index.json</c> or <c>oci-layout</c> of an OCI layout folder is a symbolic link, or not a regular file (a FIFO, a device): refused unread.</summary>
    public const string LayoutBlobNotRegular = "LIV4063";
    /// <summary>An imported build cache (ContainerCacheFrom) is not one: not Livrable's artifact type, a record that is malformed or names a layer the cache does not hold.</summary>
    public const string CacheImportInvalid = "LIV4180";
    /// <summary>The build cache could not be exported (ContainerCacheTo): a record's layer is no longer in the state folder, or the reference is not a registry's.</summary>
    public const string CacheExportFailed = "LIV4181";
    /// <summary>Warning: no build cache was imported from a ContainerCacheFrom reference (not there yet, or unreachable); the build runs without it.</summary>
    public const string CacheImportSkipped = "LIV4182";
    // LIV4200-4229: hostile layers, archives and documents (docs/security.md).
    /// <summary>
    /// A document read from a file source (OCI layout, image tarball) is too large: a manifest, an index,
    /// <c>index.json</c> or <c>manifest.json</c> over 4 MiB (the limit registries and containerd keep), a config over 16 MiB.
    /// </summary>
    public const string DocumentTooLarge = "LIV4200";
    /// <summary>A layer holds a whiteout that names no file (<c>.wh.</c>) or names <c>.</c> or <c>..</c> (<c>.wh..</c>, <c>.wh...</c>).</summary>
    public const string InvalidWhiteout = "LIV4201";
    /// <summary>A base layer decompresses to more than the allowed size (a decompression bomb).</summary>
    public const string LayerTooLarge = "LIV4202";
    /// <summary>An ADD archive holds an entry named <c>.wh.*</c>, which in the layer would be a whiteout rather than a file.</summary>
    public const string ArchiveWhiteoutEntry = "LIV4203";
    /// <summary>A RUN wrote a file or folder named <c>.wh.*</c>, which in its layer would be a whiteout rather than a file.</summary>
    public const string RunWhiteoutName = "LIV4204";
    // 5xxx: RUN
    /// <summary>A stage that is built holds a RUN, which Livrable cannot execute yet.</summary>
    public const string RunNotSupported = "LIV5001";
    /// <summary>A RUN command exited with a non-zero code (the message holds the code and the last lines of output).</summary>
    public const string RunFailed = "LIV5002";
    /// <summary>RUN cannot execute on this system: not Linux, or a build that does not run as root has no user namespace (no <c>unshare</c>, or user namespaces turned off).</summary>
    public const string RunUnsupportedHost = "LIV5003";
    /// <summary>The OCI runtime (runc) was not found on PATH nor at <c>ContainerRuntimePath</c>.</summary>
    public const string RuntimeNotFound = "LIV5004";
    /// <summary>The OCI runtime could not be started, or failed before the command ran.</summary>
    public const string RuntimeFailed = "LIV5005";
    /// <summary>A layer could not be extracted safely for RUN: an entry leaves its root (<c>..</c>, through a symbolic link, a hard link outside).</summary>
    public const string UnsafeLayerEntry = "LIV5006";
    /// <summary>Extracting a layer for RUN failed (I/O).</summary>
    public const string LayerExtractionFailed = "LIV5007";
    /// <summary>The overlay file system could not be mounted or unmounted for a RUN step.</summary>
    public const string OverlayFailed = "LIV5008";
    /// <summary>The RUN's USER names a user (or group) that the image's <c>/etc/passwd</c> (<c>/etc/group</c>) does not hold.</summary>
    public const string RunUserNotFound = "LIV5009";
    /// <summary>The working directory of a RUN is under <c>/proc/*/fd</c> (CVE-2024-21626): refused.</summary>
    public const string UnsafeWorkingDirectory = "LIV5010";
    /// <summary>A <c>RUN --mount</c> value is malformed (unknown key, missing target, bad value).</summary>
    public const string InvalidRunMount = "LIV5011";
    /// <summary>A <c>RUN --mount</c> type (cache, secret, ssh) or option Livrable does not support yet.</summary>
    public const string RunMountNotSupported = "LIV5012";
    /// <summary>A <c>RUN --mount=type=bind</c> source does not exist or leaves its context.</summary>
    public const string RunMountSourceNotFound = "LIV5013";
    /// <summary>Reading the changes a RUN made (the overlay's upper folder) failed.</summary>
    public const string RunDiffFailed = "LIV5014";
    /// <summary>A RUN option Livrable does not support: <c>--network=host</c> is the default network, <c>--security=insecure</c> is refused.</summary>
    public const string RunOptionNotSupported = "LIV5015";
    /// <summary>Warning: a RUN set file capabilities (<c>security.capability</c>) on something other than a regular file (a folder, a link), which a layer cannot carry: BuildKit's differs carry them on files only.</summary>
    public const string FileCapabilitiesDropped = "LIV5016";
    /// <summary>Warning: overlay could not be mounted, so RUN copies the layers into a scratch root and diffs it (slower).</summary>
    public const string OverlayUnavailable = "LIV5017";
    /// <summary>A required <c>RUN --mount=type=secret</c> names an id no <c>ContainerSecret</c> gives (or whose variable or file is missing).</summary>
    public const string SecretNotFound = "LIV5018";
    /// <summary>Warning: a rootless build's user namespace lacks users or groups a layer's files belong to (no or a too small subordinate id range): RUN sees them as root's.</summary>
    public const string RootlessOwnersLost = "LIV5019";
    /// <summary>A rootless RUN's USER (or one of its groups) does not exist in the build's user namespace: the build's user has no subordinate id range covering it.</summary>
    public const string RootlessUserUnmapped = "LIV5020";
    /// <summary>A rootless RUN's bind mount from a stage or image names a path through a symbolic link, which it cannot resolve safely.</summary>
    public const string RootlessMountSource = "LIV5021";
    // LIV5030-5031: the runtime's own hardening (Runtime/RuntimeVersion, Runtime/SeccompProfile; docs/security.md).
    // LIV5032-5035: file capabilities in RUN layers (Runtime/LayerRootfs, Runtime/UpperDiff, Layers/FileCapability).
    /// <summary>The OCI runtime is an upstream runc build older than 1.2.8, 1.3.3 or 1.4.0-rc.3 (CVE-2025-31133, CVE-2025-52565, CVE-2025-52881), which has no backport: refused.</summary>
    public const string RuntimeUnpatched = "LIV5030";
    /// <summary>Warning: the OCI runtime is a distribution's runc older than those fixes whose package does not say it carries them.</summary>
    public const string RuntimeMayBeUnpatched = "LIV5031";
    /// <summary>Warning: a layer gives files file capabilities (<c>security.capability</c>), which GNU tar could not set in a rootless build's user namespace, so the RUN steps above it run those files without them (the image keeps them).</summary>
    public const string RootlessCapabilitiesNotSet = "LIV5032";
    /// <summary>
    /// A RUN step is for a platform this machine cannot execute: not the host's CPU, and no binfmt_misc handler (QEMU
    /// user emulation) registered for it in <c>/proc/sys/fs/binfmt_misc</c>.
    /// </summary>
    public const string ForeignPlatformRun = "LIV5100";

    // 6xxx: outputs
    /// <summary>The image tarball could not be written.</summary>
    public const string ArchiveWriteFailed = "LIV6001";
    /// <summary>Loading into the local engine (docker/podman load) failed.</summary>
    public const string LocalLoadFailed = "LIV6002";
    /// <summary>The local engine program (docker, podman) was not found.</summary>
    public const string LocalEngineNotFound = "LIV6003";
    /// <summary>
    /// <c>ContainerOciLayoutPath</c> names something that is not an OCI image layout (a file, or a folder with other
    /// files and no <c>oci-layout</c>), or a layout whose <c>index.json</c> does not parse: Livrable writes into an empty
    /// folder or a layout, never over anything else.
    /// </summary>
    public const string NotAnOciLayout = "LIV6004";

    // Supply chain (src/Tasks/SupplyChain: SBOM, provenance, referrers, signatures, metadata file).
    /// <summary>ContainerSigningKey cannot be read, is encrypted, or is not a PEM EC P-256 or RSA (2048+) private key.</summary>
    public const string SigningKeyUnusable = "LIV2400";
    /// <summary>ContainerSigningKey is set but the image is not pushed: a cosign signature lives in a registry.</summary>
    public const string SigningNeedsRegistry = "LIV2401";
    /// <summary>VerifyContainerImage without ContainerRegistry (it checks a pushed image), or under MSBuild on .NET Framework (it needs MSBuild on .NET).</summary>
    public const string VerifyNeedsRegistry = "LIV2402";

    // Plans (src/Tasks/Build/ImagePlanner: -t:ContainerPlan, -p:ContainerDryRun=true).
    /// <summary>
    /// ContainerPlan (or ContainerDryRun) on an index of images published one per runtime identifier: each is a build
    /// of its own, so plan one of them (<c>-p:RuntimeIdentifier=...</c>). Nothing was built.
    /// </summary>
    public const string PlanOfPrebuiltImages = "LIV2500";
    /// <summary>ContainerPlan under MSBuild on .NET Framework (the out-of-process task cannot plan): run it with <c>dotnet msbuild</c>.</summary>
    public const string PlanNeedsDotNetMSBuild = "LIV2501";
    /// <summary>The referrers tag (<c>sha256-HEX</c>) of a registry without the referrers API names something other than an OCI index.</summary>
    public const string ReferrersTagNotIndex = "LIV3040";
    /// <summary>VerifyContainerImage: the image has no cosign signature that verifies with the public key and names its digest.</summary>
    public const string SignatureNotVerified = "LIV3041";
    /// <summary>VerifyContainerImage: an SBOM or provenance attached to the image describes another digest.</summary>
    public const string AttestationSubjectMismatch = "LIV3042";
    /// <summary>VerifyContainerImage with ContainerVerifyRebuild: the rebuilt image's digest is not the pushed one (the build is not reproducible, or the inputs changed).</summary>
    public const string RebuildDigestMismatch = "LIV3043";
    /// <summary>Warning: a package record of the image (dpkg status, METADATA...) is too large to read; its packages are not in the SBOM.</summary>
    public const string PackageRecordSkipped = "LIV4300";
    /// <summary>The metadata, digest, SBOM or provenance file cannot be written.</summary>
    public const string SupplyChainWriteFailed = "LIV6050";

    // 9xxx: internal
    /// <summary>A bug: an exception Livrable did not expect.</summary>
    public const string Internal = "LIV9001";
    /// <summary>The build was cancelled.</summary>
    public const string Cancelled = "LIV9002";
    /// <summary>
    /// The .NET Framework task could not run the engine out of process: no <c>dotnet</c> found, <c>Livrable.Cli.dll</c>
    /// missing from the package, or the process ended without an error or a result.
    /// </summary>
    public const string OutOfProcessFailed = "LIV9003";
    // LIV9100-9109: JSON documents of the image spec (docs/security.md).
    /// <summary>
    /// A manifest, index, config or layout document has the same key twice in one object: readers disagree on which
    /// one counts (Go keeps the last), so the document is refused rather than read one way here and another elsewhere.
    /// </summary>
    public const string DuplicateJsonKey = "LIV9100";

    private static readonly HashSet<string> Known = typeof(DiagnosticCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral && f.FieldType == typeof(string))
        .Select(f => (string)f.GetRawConstantValue()!)
        .ToHashSet(StringComparer.Ordinal);

    /// <summary>All codes in the table (retired ones too).</summary>
    public static IReadOnlyCollection<string> All => Known;

    /// <summary>Whether <paramref name="code"/> is in the table.</summary>
    public static bool IsKnown(string code) => Known.Contains(code);
}
