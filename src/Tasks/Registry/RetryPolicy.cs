using System.Net;

namespace Livrable.Registry;

/// <summary>
/// How a <see cref="RegistryClient"/> tries again when a registry fails in a way that passes: a dropped or reset
/// connection, 408, 429 and 5xx (but 501 and 505, which stay so). Delays grow exponentially from
/// <see cref="BaseDelay"/> up to <see cref="MaxDelay"/>, each drawn at random in its upper half ("equal jitter") so
/// that the four concurrent uploads of one build, or the builds of a CI fleet, do not come back in step and get
/// throttled again together. A <c>Retry-After</c> is honoured (capped at <see cref="MaxDelay"/>). The total waited for
/// one request is bounded by <see cref="MaxTotalDelay"/>: a registry that is down fails the build in bounded time.
/// </summary>
public sealed record RetryPolicy
{
    /// <summary>The registries' usual practice: 6 tries, 0.5 s doubling to at most 10 s, at most 60 s waited per request.</summary>
    public static RetryPolicy Default { get; } = new();

    /// <summary>Tries per request, the first included.</summary>
    public int MaxAttempts { get; init; } = 6;

    /// <summary>The delay before the second try; each later one doubles it.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest single delay, <c>Retry-After</c> included: a registry asking for minutes is better answered by failing.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The most waited, all delays of one request added, before giving up.</summary>
    public TimeSpan MaxTotalDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Whether a status is worth another try: 408, 429 and 5xx but 501 and 505 (not implemented will stay so).</summary>
    public static bool IsTransient(HttpStatusCode status)
        => status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests
           || ((int)status >= 500 && status != HttpStatusCode.NotImplemented && status != HttpStatusCode.HttpVersionNotSupported);

    /// <summary>
    /// The delay before try <paramref name="attempt"/> + 1 after try <paramref name="attempt"/> failed, given what was
    /// already waited; null when no try is left (attempts or total delay used up).
    /// </summary>
    public TimeSpan? NextDelay(int attempt, TimeSpan waited, TimeSpan? retryAfter = null)
    {
        if (attempt >= MaxAttempts) return null;
        TimeSpan delay;
        if (retryAfter is { } asked)
        {
            delay = asked < TimeSpan.Zero ? TimeSpan.Zero : asked > MaxDelay ? MaxDelay : asked;
        }
        else
        {
            double ceiling = Math.Min(MaxDelay.TotalMilliseconds, BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 20)));
            delay = TimeSpan.FromMilliseconds(ceiling / 2 + Random.Shared.NextDouble() * ceiling / 2);
        }
        return waited + delay > MaxTotalDelay ? null : delay;
    }

    /// <summary>The delay a response asks for in <c>Retry-After</c> (seconds or a date), if any.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var ra = response.Headers.RetryAfter;
        return ra?.Delta ?? (ra?.Date is { } d ? d - DateTimeOffset.UtcNow : null);
    }
}
