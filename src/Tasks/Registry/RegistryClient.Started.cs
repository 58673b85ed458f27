using System.Collections.Concurrent;
using Livrable.Diagnostics;
using Livrable.Images;

namespace Livrable.Registry;

public sealed partial class RegistryClient
{
    /// <summary>Images whose pull was started before anyone asked (<see cref="StartImage"/>), by endpoint, repository, reference and platform.</summary>
    private readonly ConcurrentDictionary<string, Task<RegistryImage>> _started = new(StringComparer.Ordinal);

    /// <summary>Stops the pulls started ahead that nobody took, when the client is disposed.</summary>
    private readonly CancellationTokenSource _startedCancel = new();

    /// <summary>
    /// Starts <see cref="GetImageAsync"/> for these arguments now, before the build asks (its manifest HEAD, or GET, and
    /// its config, with this client's authentication, retries and kept documents), so that the build's own call with the
    /// same arguments takes the result instead of asking the registry again (issue 14: the head start of an image build,
    /// <c>Build/ImageBuildHeadStart</c>). Nothing is reported here: a pull that failed before the build asked is asked
    /// again by the build, which meets and reports what is still wrong; one that fails while the build waits for it is
    /// the build's own request, started earlier, and its error is the build's. <paramref name="cancellationToken"/>
    /// (and disposing the client) stops it.
    /// </summary>
    /// <exception cref="LivrableException">LIV2001 or LIV3008 for a registry name <see cref="Resolve"/> refuses (nothing is started).</exception>
    public void StartImage(string registry, string repository, string reference, Platform platform, CancellationToken cancellationToken)
    {
        var endpoint = Resolve(registry);
        repository = endpoint.NormalizeRepository(repository);
        var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _startedCancel.Token);
        _started.GetOrAdd(StartedKey(endpoint, repository, reference, platform), key =>
        {
            var pull = GetImageCoreAsync(endpoint, registry, repository, reference, platform, linked.Token);
            // Observed here (an error nobody takes must not reach the unobserved-exception handler), and the linked source freed.
            pull.ContinueWith(t => { _ = t.Exception; linked.Dispose(); }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return pull;
        });
    }

    /// <summary>
    /// The pull <see cref="StartImage"/> started for these arguments, removed so only one call takes it; null when none
    /// was started, or it failed or was stopped before this call (then the caller asks the registry itself).
    /// </summary>
    private Task<RegistryImage>? TakeStarted(RegistryEndpoint endpoint, string repository, string reference, Platform platform)
    {
        if (_started.IsEmpty || !_started.TryRemove(StartedKey(endpoint, repository, reference, platform), out var started)) return null;
        if (started.IsFaulted || started.IsCanceled)
        {
            _logger.Detail($"  {endpoint.Registry}/{repository}:{reference} ({platform}) failed ahead of the build: asking again");
            return null;
        }
        return started;
    }

    /// <summary>
    /// The pull <see cref="StartImage"/> started for these arguments, left for the build to take; null when none was
    /// started or it was taken already. For a look at what a tag resolves to before the build decides to run
    /// (<c>ImageBuildHeadStart.ResolveTags</c>), without asking the registry a second time.
    /// </summary>
    internal Task<RegistryImage>? PeekStarted(string registry, string repository, string reference, Platform platform)
    {
        if (_started.IsEmpty) return null;
        var endpoint = Resolve(registry);
        return _started.TryGetValue(StartedKey(endpoint, endpoint.NormalizeRepository(repository), reference, platform), out var started) ? started : null;
    }

    /// <summary>The pulls started ahead and not taken yet: how many, and how many of them are done (the head start's log line).</summary>
    internal (int Started, int Done) StartedState()
    {
        var pulls = _started.Values.ToList();
        return (pulls.Count, pulls.Count(t => t.IsCompleted));
    }

    private static string StartedKey(RegistryEndpoint endpoint, string repository, string reference, Platform platform)
        => $"{endpoint.BaseUri}\n{repository}\n{reference}\n{platform}";

    /// <summary>
    /// Stops the pulls started ahead that nobody took and waits for them (a few seconds at most), so none writes to the
    /// blob store after the build's lease on the state folder ends.
    /// </summary>
    private void StopStarted()
    {
        _startedCancel.Cancel();
        var pending = _started.Values.Where(t => !t.IsCompleted).ToArray();
        _started.Clear();
        if (pending.Length == 0) return;
        try
        {
            Task.WaitAll(pending, TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // Stopped: their errors are nobody's.
        }
    }
}
