using System.Collections.Concurrent;
using Livrable.Threading;

namespace Livrable.Build;

/// <summary>
/// The bound on a build's work (<c>ContainerMaxParallelism</c>): how many pieces of work run at the same time across
/// the stages of a Dockerfile and the platforms of a multi-platform build. Only work takes a slot (a step that runs
/// because the cache missed, one properties-mode platform build); a platform build or a stage waiting for another
/// stage never holds one, so with a bound of 1 everything runs one piece at a time and nothing can wait for a slot
/// that its own waiting holds. Work is never nested: a piece already holding a slot runs what it starts in that slot.
/// </summary>
public sealed class WorkLimiter
{
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _keys = new(StringComparer.Ordinal);

    // Whether the current asynchronous flow holds a slot: work started inside work shares its slot rather than
    // waiting for a second one (which, with a bound of 1, would never come).
    private readonly AsyncLocal<bool> _holding = new();

    /// <summary>A limiter running at most <paramref name="bound"/> pieces of work at a time (at least 1).</summary>
    public WorkLimiter(int bound)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bound, 1);
        Bound = bound;
        _slots = new SemaphoreSlim(bound, bound);
    }

    /// <summary>The default bound: the machine's logical processors, as BuildKit's and buildah's <c>--jobs</c> defaults do.</summary>
    public static int DefaultBound => Environment.ProcessorCount;

    /// <summary>How many pieces of work may run at the same time.</summary>
    public int Bound { get; }

    /// <summary>Runs <paramref name="work"/> once a slot is free, releasing it when the work ends (or fails).</summary>
    public async Task RunAsync(Func<Task> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        await RunAsync(async () => { await work().ConfigureAwait(false); return true; }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="work"/> once a slot is free, releasing it when the work ends (or fails).</summary>
    /// <remarks>
    /// The base library's builder, not <see cref="PrecompiledTaskMethodBuilder{TResult}"/>: for a reference type
    /// <typeparamref name="T"/> the box is shared generic code crossgen2 does not find ahead of time, so Livrable's box
    /// would be compiled at run time (ReadyToRunPackageTests) where the base library's is anyway.
    /// </remarks>
    public async Task<T> RunAsync<T>(Func<Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (_holding.Value) return await work().ConfigureAwait(false);
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Set in this async method's own context: the work (and tasks it starts) sees it; the caller does not.
            _holding.Value = true;
            return await work().ConfigureAwait(false);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>
    /// Enters the one-at-a-time section of <paramref name="key"/> (a step cache key): the same step wanted by two
    /// platforms at once (a stage <c>FROM --platform=$BUILDPLATFORM</c> that does not read the target platform) runs
    /// once, and the other finds its record in the cache when it enters, as it would have built after it in sequence.
    /// Waiting here holds no slot. Dispose the result to leave.
    /// </summary>
    public async Task<IDisposable> EnterAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var gate = _keys.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Section(gate);
    }

    private sealed class Section(SemaphoreSlim gate) : IDisposable
    {
        private int _left;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) == 0) gate.Release();
        }
    }
}
