using System.Diagnostics;
using System.Runtime.CompilerServices;
using Livrable.Build.Cache;
using Livrable.Build.Dockerfile;
using Livrable.Context;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Registry;
using Livrable.Registry.Credentials;
using Livrable.Sources;
using Livrable.Store;
using Livrable.Threading;

namespace Livrable.Build;

/// <summary>
/// What an image build can start before its task runs (<see cref="ImageBuildHeadStart"/>): the images it resolves
/// first and the settings of the registry client that resolves them, the state folder, and the build context whose
/// digest index it reads.
/// </summary>
public sealed record ImageBuildHeadStartRequest
{
    /// <summary>The images the build reads: the base in properties mode, or the Dockerfile and its arguments.</summary>
    public required ImageInputsRequest Images { get; init; }

    /// <summary>ContainerStateDirectory, as the build receives it.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>ContainerInsecureRegistries and the environment's lists, as the build receives them.</summary>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];

    /// <summary>ContainerRegistryTimeout, parsed.</summary>
    public TimeSpan RegistryTimeout { get; init; } = RegistryOptions.DefaultIdleTimeout;

    /// <summary>Dockerfile mode: the build context folder, whose digest index is read ahead; null for none.</summary>
    public string? ContextDirectory { get; init; }
}

/// <summary>
/// The <c>StartContainerImageBuild</c> task's parameters as plain values: those of <see cref="ImageInputsParameters"/>
/// and the registry and state settings of <see cref="ImageBuildParameters"/>, mapped by the same rules.
/// </summary>
public sealed class ImageBuildHeadStartParameters
{
    /// <summary>The images' parameters (base image, runtime identifier, Dockerfile, arguments, named contexts, platforms).</summary>
    public required ImageInputsParameters Images { get; init; }

    /// <summary>ContainerStateDirectory.</summary>
    public string? StateDirectory { get; set; }

    /// <summary>The insecure registries, as BuildContainerImage receives them.</summary>
    public IReadOnlyList<string>? InsecureRegistries { get; set; }

    /// <summary>ContainerRegistryTimeout.</summary>
    public string? RegistryTimeout { get; set; }

    /// <summary>ContainerBuildContext (Dockerfile mode).</summary>
    public string? BuildContext { get; set; }

    /// <summary>The request; LIV2xxx and LIV3014 for values of the wrong shape (the build reports them).</summary>
    /// <exception cref="LivrableException">A value has the wrong shape, or the state folder is not given.</exception>
    public ImageBuildHeadStartRequest ToRequest()
    {
        var images = Images.ToRequest();
        if (string.IsNullOrWhiteSpace(StateDirectory))
            throw new LivrableException(DiagnosticCodes.UnresolvedDefault, "StateDirectory is empty.");
        return new ImageBuildHeadStartRequest
        {
            Images = images,
            StateDirectory = StateDirectory,
            InsecureRegistries = (InsecureRegistries ?? []).Select(r => r.Trim()).Where(r => r.Length > 0).ToList(),
            RegistryTimeout = ImageBuildParameters.ParseRegistryTimeout(RegistryTimeout),
            ContextDirectory = images.DockerfilePath is { } dockerfile
                ? string.IsNullOrWhiteSpace(BuildContext) ? Path.GetDirectoryName(dockerfile) : Path.GetFullPath(BuildContext, images.BaseDirectory)
                : null,
        };
    }
}

/// <summary>
/// The part of an image build that needs nothing the build's earlier targets write, started before the build's task
/// (issue 14: an unchanged publish of a Dockerfile build from a registry tag spent its first 100 ms in the task
/// starting .NET's HTTP stack for the base's manifest HEAD, beside the context walk, on the same two cores): the state
/// folder's lease, the build's <see cref="RegistryClient"/> and through it each base image resolved as the build's FROM
/// (or properties mode's base) resolves it (<see cref="RegistryClient.StartImage"/>: authentication, the kept manifest,
/// redirects, retries, all the engine's own), and the build context's digest index read (<see cref="FileDigests"/>,
/// state checked entry by entry when used). Never the context walk: what runs between may write into the context.
/// </summary>
/// <remarks>
/// <see cref="ImageBuilder.BuildAsync"/> takes it (<see cref="TakeAsync"/>) when its request has the same state folder,
/// insecure registries, registry timeout and credential environment; then the build's client is this one, and each of
/// its image pulls and the digest index are used only for the same reference and platform, or the same context root.
/// Otherwise it is disposed and the build does what it does without one. Nothing is reported from here: a failure
/// ahead (the state folder, a registry) is met again by the build, which reports it with its code and span; lines the
/// early work logs are kept and given to the build's log when it takes them. Dispose stops whatever is still running
/// and releases the lease. Nothing is written outside the state folder.
/// </remarks>
public sealed class ImageBuildHeadStart : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly RelayLogger _log = new();
    private readonly Settings _settings;
    private readonly Task<Parts> _parts;
    private readonly string? _contextRoot;
    private readonly Task<FileDigests>? _digests;
    private readonly IReadOnlyList<(ImageReference Reference, Platform Platform)> _images;
    private readonly long _started = Stopwatch.GetTimestamp();
    private int _taken;
    private int _disposed;

    private ImageBuildHeadStart(Settings settings, IReadOnlyList<(ImageReference Reference, Platform Platform)> images, string? contextRoot)
    {
        _settings = settings;
        _images = images;
        var token = _cancel.Token;
        // Threads of their own: at this point of a build MSBuild holds the pool's (ImageBuilder's StartNow, the same reason).
        _parts = StartNow(() => Open(settings, images, _log, _started, token));
        if (contextRoot is not null)
        {
            _contextRoot = contextRoot;
            _digests = StartNow(() => FileDigests.Open(settings.StateDirectory, contextRoot, _log));
        }
        Observe(_parts);
        if (_digests is not null) Observe(_digests);
    }

    /// <summary>What the head start resolves, for the log: the references and platforms, and the context.</summary>
    public string Description { get; private set; } = "";

    /// <summary>
    /// Starts the head start of <paramref name="request"/>'s build: null when there is nothing worth starting (no image in
    /// a registry by tag: then the step may be up to date, and nothing must hold the state folder for it). Errors of
    /// the images' names are not thrown: the build reports them.
    /// </summary>
    public static ImageBuildHeadStart? Start(ImageBuildHeadStartRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var images = new List<(ImageReference, Platform)>();
        try
        {
            var names = new List<(string Name, Platform Platform)>();
            var inputs = request.Images;
            if (inputs.DockerfilePath is { } path)
            {
                var document = Livrable.Dockerfile.DockerfileParser.Parse(path, File.ReadAllText(path), NullLogger.Instance);
                names.AddRange(DockerfileImageNames.BasesAhead(document, inputs.BuildArgs, inputs.NamedContexts, inputs.Target, inputs.Platforms));
            }
            else if (!string.IsNullOrWhiteSpace(inputs.BaseImage) && inputs.Platforms.Count == 1)
            {
                names.Add((inputs.BaseImage.Trim(), inputs.Platforms[0]));
            }
            foreach (var (name, platform) in names)
            {
                if (inputs.ReferencedImages.Contains(name, StringComparer.Ordinal)) continue;
                var location = ImageSources.Locate(name, inputs.BaseDirectory);
                if (location.Kind == ImageLocationKind.Registry) images.Add((location.Reference!, platform));
            }
            if (!images.Any(i => i.Item1.Digest is null)) return null;
        }
        catch (Exception e) when (e is LivrableException or IOException or UnauthorizedAccessException)
        {
            // The Dockerfile does not parse, a name is malformed...: the build says so.
            return null;
        }
        string? contextRoot = null;
        if (request.ContextDirectory is { } context && Directory.Exists(context))
        {
            try
            {
                contextRoot = BuildContext.RealRoot(context);
            }
            catch (LivrableException)
            {
                // Links that loop: the build reports them.
            }
        }
        var headStart = new ImageBuildHeadStart(Settings.Of(request.StateDirectory, request.InsecureRegistries, request.RegistryTimeout), images, contextRoot)
        {
            Description = string.Join(", ", images.Select(i => $"{i.Item1} ({i.Item2})")) + (contextRoot is null ? "" : $"; the digest index of {contextRoot}"),
        };
        return headStart;
    }

    /// <summary>Stops the early work (MSBuild's cancellation of the task that started it).</summary>
    public void Cancel()
    {
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed meanwhile: stopped already.
        }
    }

    /// <summary>
    /// The state folder, lease, blob store and registry client for <paramref name="request"/>'s build, when the head
    /// start was made for the same settings and got that far; null otherwise (this object is then disposed, and the
    /// build opens its own). The build owns what it takes: it disposes the client and the lease. From now on the early
    /// work logs to <paramref name="logger"/> and stops with <paramref name="cancellationToken"/>. Taken once.
    /// </summary>
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    internal async Task<Parts?> TakeAsync(ImageBuildRequest request, ILogger logger, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _taken, 1) != 0) return null;
        double since = Stopwatch.GetElapsedTime(_started).TotalMilliseconds;
        var wanted = Settings.Of(request.StateDirectory, request.InsecureRegistries, request.RegistryTimeout);
        if (wanted != _settings)
        {
            logger.Detail($"  head start: not used (it was started for other registry or state folder settings): {Description}");
            Dispose();
            return null;
        }
        _log.Attach(logger);
        var stop = cancellationToken.Register(Cancel);
        Parts parts;
        try
        {
            parts = await _parts.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Met again, and reported, by the build's own lease and requests.
            logger.Detail($"  head start: not used ({e.GetType().Name}: {e.Message})");
            stop.Dispose();
            Dispose();
            return null;
        }
        parts.Stop = stop;
        var (pulls, done) = parts.Registries.StartedState();
        logger.Detail($"  head start: started {since:0} ms before the task, lease and registry client ready at {parts.ReadyAt:0} ms, "
            + $"{done} of {pulls} base pulls done, digest index {(_digests is null ? "not read" : _digests.IsCompleted ? "read" : "being read")}: {Description}");
        return parts;
    }

    /// <summary>
    /// The registry tags among <paramref name="names"/> (image names as the Dockerfile or ContainerBaseImage write them,
    /// located from <paramref name="baseDirectory"/>), each as its pull ahead resolved it: one line per tag, sorted,
    /// <c>reference platform index-digest manifest-digest</c>; null when one of them is not among the head start's
    /// images or its pull failed (the step then runs and asks, and reports what is wrong). Waits for the pulls (the
    /// manifest HEAD, the state folder's kept documents), without taking them: a step that runs takes them as before.
    /// Issue 14: an unchanged publish from a registry tag ran the image step to learn that the tag had not moved; with
    /// these lines among the step's inputs (<c>WriteContainerImageTags</c>), MSBuild skips it as for a pinned base.
    /// </summary>
    internal IReadOnlyList<string>? ResolveTags(IReadOnlyList<string> names, string baseDirectory, CancellationToken cancellationToken)
    {
        Parts parts;
        try
        {
            parts = _parts.WaitAsync(cancellationToken).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        var lines = new List<string>();
        foreach (string name in names)
        {
            ImageReference? reference;
            try
            {
                var location = ImageSources.Locate(name, baseDirectory);
                reference = location.Kind == ImageLocationKind.Registry ? location.Reference : null;
            }
            catch (LivrableException)
            {
                return null;
            }
            if (reference is null) return null;
            var matches = _images.Where(i => i.Reference.ToString() == reference.ToString()).ToList();
            if (matches.Count == 0) return null;
            foreach (var (image, platform) in matches)
            {
                if (parts.Registries.PeekStarted(image.Registry, image.Repository, image.ManifestReference, platform) is not { } pull) return null;
                try
                {
                    var resolved = pull.WaitAsync(cancellationToken).GetAwaiter().GetResult();
                    lines.Add($"{image} {platform} {resolved.IndexDigest?.ToString() ?? "-"} {resolved.Digest}");
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    return null;
                }
            }
        }
        lines.Sort(StringComparer.Ordinal);
        return lines.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// The digest index of the build context <paramref name="root"/> (<see cref="BuildContext.Root"/>), read ahead; null
    /// when the head start read another context's, or its read failed (the step opens it, as without a head start).
    /// Taken once.
    /// </summary>
    internal FileDigests? TakeContextDigests(string root)
    {
        if (_digests is null || !string.Equals(root, _contextRoot, StringComparison.Ordinal)) return null;
        if (Interlocked.Exchange(ref _digestsTaken, 1) != 0) return null;
        try
        {
            return _digests.GetAwaiter().GetResult();
        }
        catch (Exception)
        {
            return null;
        }
    }

    private int _digestsTaken;

    /// <summary>Stops the early work, waits for it, and releases what it holds (when the build did not take it).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Cancel();
        bool taken = Volatile.Read(ref _taken) != 0 && _parts.IsCompletedSuccessfully && _parts.Result.Stop is not null;
        if (!taken)
        {
            try
            {
                var parts = _parts.GetAwaiter().GetResult();
                parts.Registries.Dispose();
                parts.Lease.Dispose();
            }
            catch (Exception)
            {
                // Failed or stopped: it holds nothing.
            }
        }
        try
        {
            _digests?.Wait();
        }
        catch (Exception)
        {
            // Nobody's error.
        }
        _cancel.Dispose();
    }

    /// <summary>The state folder opened and leased, the store and the build's registry client, and the images' pulls started on it.</summary>
    private static Parts Open(Settings settings, IReadOnlyList<(ImageReference Reference, Platform Platform)> images, ILogger logger, long started,
        CancellationToken cancellationToken)
    {
        var state = StateFolder.Open(settings.StateDirectory);
        var lease = state.AcquireLeaseAsync(logger, timeout: null, cancellationToken).GetAwaiter().GetResult();
        try
        {
            var store = new BlobStore(state, lease);
            double ready = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var registries = ImageBuilder.NewRegistryClient(settings.InsecureRegistries.Split(';', StringSplitOptions.RemoveEmptyEntries), settings.RegistryTimeout, store, logger);
            foreach (var (reference, platform) in images)
            {
                try
                {
                    registries.StartImage(reference.Registry, reference.Repository, reference.ManifestReference, platform, cancellationToken);
                }
                catch (LivrableException)
                {
                    // A registry name the client refuses: the build reports it.
                }
            }
            return new Parts(state, lease, store, registries) { ReadyAt = ready };
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    }

    private static Task<T> StartNow<T>(Func<T> work)
        => Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static void Observe(Task task)
        => task.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>What the build takes: the state folder, its lease, the store and the registry client (with the images' pulls started).</summary>
    internal sealed class Parts(StateFolder state, StateLease lease, BlobStore store, RegistryClient registries)
    {
        public StateFolder State { get; } = state;
        public StateLease Lease { get; } = lease;
        public BlobStore Store { get; } = store;
        public RegistryClient Registries { get; } = registries;

        /// <summary>When the lease was taken, in ms from the head start's start (the log's line).</summary>
        public double ReadyAt { get; init; }

        /// <summary>The build's cancellation, registered to stop the early work; set when taken.</summary>
        public CancellationTokenRegistration? Stop { get; set; }
    }

    /// <summary>
    /// What decides the registry client and the state folder: equal settings make the same client. The credential
    /// environment is a hash (<see cref="CredentialResolver.EnvironmentFingerprint"/>).
    /// </summary>
    private sealed record Settings(string StateDirectory, string InsecureRegistries, TimeSpan RegistryTimeout, int Credentials)
    {
        public static Settings Of(string stateDirectory, IReadOnlyList<string> insecure, TimeSpan timeout)
            => new(Path.GetFullPath(stateDirectory), string.Join(";", insecure.Select(r => r.Trim()).Where(r => r.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)),
                timeout, CredentialResolver.EnvironmentFingerprint());
    }

    /// <summary>
    /// The early work's log: kept until the build takes the head start, then given to the build's logger, and every later
    /// line too. What a head start nobody takes logged is dropped with it (the build that runs without it logs its own).
    /// </summary>
    private sealed class RelayLogger : ILogger
    {
        private const int MaxKept = 1000;
        private readonly object _gate = new();
        private List<Action<ILogger>>? _kept = [];
        private ILogger? _target;

        public void Attach(ILogger target)
        {
            List<Action<ILogger>> kept;
            lock (_gate)
            {
                kept = _kept ?? [];
                _kept = null;
                _target = target;
            }
            foreach (var line in kept) line(target);
        }

        public void Info(string message) => Relay(l => l.Info(message));
        public void Detail(string message) => Relay(l => l.Detail(message));
        public void Warning(string code, string message, SourceSpan? span = null) => Relay(l => l.Warning(code, message, span));

        private void Relay(Action<ILogger> line)
        {
            ILogger? target;
            lock (_gate)
            {
                target = _target;
                if (target is null)
                {
                    if (_kept is { Count: < MaxKept }) _kept.Add(line);
                    return;
                }
            }
            line(target);
        }
    }
}
