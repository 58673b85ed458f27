using Livrable.Build;
using Xunit;

namespace Livrable.Tests.Build;

/// <summary>
/// <see cref="WorkLimiter"/>: at most its bound of pieces of work at once; work started inside work shares its slot
/// (with a bound of 1 it would otherwise wait forever); one step key at a time.
/// </summary>
public sealed class WorkLimiterTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task No_more_than_the_bound_run_at_once_and_all_run(int bound)
    {
        var limiter = new WorkLimiter(bound);
        int running = 0, most = 0, done = 0;
        var tasks = Enumerable.Range(0, 10).Select(_ => Task.Run(() => limiter.RunAsync(async () =>
        {
            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            await Task.Delay(20);
            Interlocked.Decrement(ref running);
            Interlocked.Increment(ref done);
        }, CancellationToken.None))).ToList();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(10, done);
        Assert.InRange(most, 1, bound);
    }

    [Fact]
    public async Task Work_started_inside_work_shares_its_slot_so_a_bound_of_1_does_not_deadlock()
    {
        var limiter = new WorkLimiter(1);
        int inner = await limiter.RunAsync(() => limiter.RunAsync(() => Task.FromResult(42), CancellationToken.None), CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(42, inner);

        // The caller does not keep the slot after the work: a second piece gets it.
        Assert.Equal(7, await limiter.RunAsync(() => Task.FromResult(7), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_failing_piece_releases_its_slot()
    {
        var limiter = new WorkLimiter(1);
        await Assert.ThrowsAsync<InvalidOperationException>(() => limiter.RunAsync(() => throw new InvalidOperationException(), CancellationToken.None));
        Assert.Equal(1, await limiter.RunAsync(() => Task.FromResult(1), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task One_key_is_entered_once_at_a_time_and_other_keys_are_not_held_up()
    {
        var limiter = new WorkLimiter(4);
        var first = await limiter.EnterAsync("key", CancellationToken.None);
        var second = limiter.EnterAsync("key", CancellationToken.None);
        var other = await limiter.EnterAsync("other", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        await Task.Delay(100);
        Assert.False(second.IsCompleted);
        first.Dispose();
        first.Dispose(); // leaving twice releases once
        (await second.WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
        other.Dispose();
        var third = limiter.EnterAsync("key", CancellationToken.None);
        var fourth = limiter.EnterAsync("key", CancellationToken.None);
        (await third.WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
        (await fourth.WaitAsync(TimeSpan.FromSeconds(30))).Dispose();
    }

    [Fact]
    public void A_bound_below_1_is_refused()
        => Assert.Throws<ArgumentOutOfRangeException>(() => new WorkLimiter(0));

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
