using System.Runtime.CompilerServices;
using Livrable.Threading;
using Xunit;

namespace Livrable.Tests.Threading;

/// <summary>
/// <see cref="PrecompiledTaskMethodBuilder{TResult}"/> and <see cref="PrecompiledTaskMethodBuilder"/> behave as the
/// base library's builders: each case runs one method written twice, once with Livrable's builder and once with the
/// default, and compares what a caller sees (result, task status, the exception object, <see cref="AsyncLocal{T}"/>
/// values before and after awaits, with flow suppressed). One test checks the builder is really the one used: a
/// suspended method's task is a plain <see cref="Task{TResult}"/>, not the base library's state machine box.
/// </summary>
public sealed class PrecompiledTaskMethodBuilderTests
{
    private static readonly AsyncLocal<string?> Flowing = new();

    // ---- the same bodies under both builders ----

    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    private static async Task<int> SumOurs(int count, bool yield)
    {
        int sum = 0;
        for (int i = 0; i < count; i++)
        {
            if (yield) await Task.Yield();
            else await Task.CompletedTask.ConfigureAwait(false);
            sum += i;
        }
        return sum;
    }

    private static async Task<int> SumTheirs(int count, bool yield)
    {
        int sum = 0;
        for (int i = 0; i < count; i++)
        {
            if (yield) await Task.Yield();
            else await Task.CompletedTask.ConfigureAwait(false);
            sum += i;
        }
        return sum;
    }

    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    private static async Task<int> ThrowOurs(Exception exception, bool afterAwait)
    {
        if (afterAwait) await Task.Delay(1).ConfigureAwait(false);
        throw exception;
    }

    private static async Task<int> ThrowTheirs(Exception exception, bool afterAwait)
    {
        if (afterAwait) await Task.Delay(1).ConfigureAwait(false);
        throw exception;
    }

    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder))]
    private static async Task ThrowNoResultOurs(Exception exception)
    {
        await Task.Yield();
        throw exception;
    }

    private static async Task ThrowNoResultTheirs(Exception exception)
    {
        await Task.Yield();
        throw exception;
    }

    // What the method sees of the caller's AsyncLocal before and after its awaits, and what it sets.
    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    private static async Task<string> FlowOurs(bool configureAwait)
    {
        string seen = "start=" + Flowing.Value;
        Flowing.Value = "set-in-sync-part";
        await Task.Delay(1).ConfigureAwait(configureAwait);
        seen += " resumed=" + Flowing.Value;
        Flowing.Value = "set-after-await";
        await Task.Yield();
        seen += " again=" + Flowing.Value;
        return seen;
    }

    private static async Task<string> FlowTheirs(bool configureAwait)
    {
        string seen = "start=" + Flowing.Value;
        Flowing.Value = "set-in-sync-part";
        await Task.Delay(1).ConfigureAwait(configureAwait);
        seen += " resumed=" + Flowing.Value;
        Flowing.Value = "set-after-await";
        await Task.Yield();
        seen += " again=" + Flowing.Value;
        return seen;
    }

    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder))]
    private static async Task CountOurs(int[] counter, int awaits)
    {
        for (int i = 0; i < awaits; i++)
        {
            await Task.Run(() => { }).ConfigureAwait(false);
            counter[0]++;
        }
    }

    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    private static async Task<int> Nested(int depth)
    {
        if (depth == 0)
        {
            await Task.Yield();
            return 0;
        }
        return 1 + await Nested(depth - 1).ConfigureAwait(false);
    }

    // ---- the tests ----

    [Fact]
    public async Task A_method_that_never_suspends_returns_a_completed_task()
    {
        var ours = SumOurs(100, yield: false);
        var theirs = SumTheirs(100, yield: false);
        Assert.True(ours.IsCompletedSuccessfully);
        Assert.True(theirs.IsCompletedSuccessfully);
        Assert.Equal(await theirs, await ours);
        Assert.Equal(4950, await ours);
    }

    [Fact]
    public async Task Many_awaits_give_the_same_result()
    {
        Assert.Equal(await SumTheirs(2000, yield: true), await SumOurs(2000, yield: true));
        int[] counter = [0];
        await CountOurs(counter, 500);
        Assert.Equal(500, counter[0]);
        Assert.Equal(200, await Nested(200));
    }

    [Fact]
    public async Task A_suspended_method_runs_in_Livrables_box_not_the_base_librarys()
    {
        var ours = SumOurs(3, yield: true);
        var theirs = SumTheirs(3, yield: true);
        // The base library's builder returns its box (a subclass of Task<int>) as the task; this one, a plain task.
        Assert.Equal(typeof(Task<int>), ours.GetType());
        Assert.NotEqual(typeof(Task<int>), theirs.GetType());
        Assert.Equal(await theirs, await ours);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_exception_faults_the_task_with_the_same_object(bool afterAwait)
    {
        var thrownOurs = new InvalidOperationException("ours");
        var thrownTheirs = new InvalidOperationException("theirs");
        var ours = ThrowOurs(thrownOurs, afterAwait);
        var theirs = ThrowTheirs(thrownTheirs, afterAwait);
        Assert.Same(thrownOurs, await Assert.ThrowsAsync<InvalidOperationException>(() => ours));
        Assert.Same(thrownTheirs, await Assert.ThrowsAsync<InvalidOperationException>(() => theirs));
        Assert.Equal(theirs.Status, ours.Status);
        Assert.Equal(TaskStatus.Faulted, ours.Status);
        Assert.Same(thrownOurs, Assert.Single(ours.Exception!.InnerExceptions));
        // The stack trace still names the method that threw.
        Assert.Contains(nameof(ThrowOurs), thrownOurs.StackTrace);

        var noResult = new ArgumentException("no result");
        var task = ThrowNoResultOurs(noResult);
        Assert.Same(noResult, await Assert.ThrowsAsync<ArgumentException>(() => task));
        var theirsNoResult = ThrowNoResultTheirs(new ArgumentException("theirs"));
        await Assert.ThrowsAsync<ArgumentException>(() => theirsNoResult);
        Assert.Equal(theirsNoResult.Status, task.Status);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Cancellation_gives_a_cancelled_task_that_rethrows_the_same_exception(bool afterAwait)
    {
        using var source = new CancellationTokenSource();
        source.Cancel();
        // HttpClient's timeout: a TaskCanceledException with a TimeoutException inside, which callers tell apart.
        var timeout = new TaskCanceledException("timed out", new TimeoutException());
        var cancelled = new OperationCanceledException(source.Token);
        foreach (var (ours, theirs, thrown) in new[]
        {
            (ThrowOurs(timeout, afterAwait), ThrowTheirs(timeout, afterAwait), (OperationCanceledException)timeout),
            (ThrowOurs(cancelled, afterAwait), ThrowTheirs(cancelled, afterAwait), cancelled),
        })
        {
            var caught = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ours);
            Assert.Same(thrown, caught);
            Assert.Same(thrown, await Assert.ThrowsAnyAsync<OperationCanceledException>(() => theirs));
            Assert.Equal(TaskStatus.Canceled, ours.Status);
            Assert.Equal(theirs.Status, ours.Status);
        }
        Assert.IsType<TimeoutException>(timeout.InnerException);
        Assert.Equal(source.Token, cancelled.CancellationToken);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AsyncLocal_values_flow_as_with_the_base_library(bool configureAwait)
    {
        Flowing.Value = "caller";
        string ours = await FlowOurs(configureAwait);
        Assert.Equal("caller", Flowing.Value); // what the method set does not come back to its caller
        Flowing.Value = "caller";
        string theirs = await FlowTheirs(configureAwait);
        Assert.Equal("caller", Flowing.Value);
        Assert.Equal(theirs, ours);
        Assert.Equal("start=caller resumed=set-in-sync-part again=set-after-await", ours);

        // Without awaiting: the synchronous part's change is undone when the method returns its task.
        Flowing.Value = "caller";
        var pending = FlowOurs(configureAwait);
        Assert.Equal("caller", Flowing.Value);
        await pending;
    }

    [Fact]
    public async Task With_flow_suppressed_no_context_is_captured_as_with_the_base_library()
    {
        Flowing.Value = "caller";
        Task<string> ours, theirs;
        using (ExecutionContext.SuppressFlow()) ours = FlowOurs(configureAwait: false);
        using (ExecutionContext.SuppressFlow()) theirs = FlowTheirs(configureAwait: false);
        Assert.Equal(await theirs, await ours);
        Assert.Equal("caller", Flowing.Value);
    }
}
