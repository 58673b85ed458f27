using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace Livrable.Threading;

/// <summary>
/// The async method builder of a <see cref="Task{TResult}"/> method, for the methods a publish runs every time (the
/// unchanged path): the task and its completion are exactly <see cref="AsyncTaskMethodBuilder{TResult}"/>'s; only the
/// object that keeps a suspended state machine (its box) is Livrable's own <see cref="StateMachineBox{TStateMachine}"/>.
/// Applied per method: <c>[AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder&lt;&gt;))]</c>.
/// </summary>
/// <remarks>
/// Why: at the first <c>await</c> that does not complete at once, the base library's builder moves the method's state
/// machine (a struct of Livrable's) into <c>AsyncTaskMethodBuilder&lt;TResult&gt;.AsyncStateMachineBox&lt;TStateMachine&gt;</c>,
/// a class of the base library, and runs it through that box's virtual methods. That generic code over a Livrable
/// struct is in no ReadyToRun image (the framework's cannot know the struct; crossgen2 does not compile the box's virtual
/// methods into Livrable's, even with <c>--opt-cross-module</c>), so five methods per suspended async method were
/// JIT-compiled in every build: about 100 on an unchanged publish (README.md). A box defined in this assembly is
/// in its version bubble and precompiled with the rest.
/// What stays the base library's, so behaviour is Task's: <see cref="Start{TStateMachine}"/> (the current
/// <see cref="ExecutionContext"/> and <see cref="SynchronizationContext"/> restored after the synchronous part), the
/// returned <see cref="Task{TResult}"/>, and its completion (<see cref="OperationCanceledException"/> gives a cancelled
/// task that rethrows that same exception; continuations run as with any async method). The box does what the base
/// library's does: it captures the <see cref="ExecutionContext"/> at each suspension (none when flow is suppressed)
/// and resumes the state machine in it, registering its resumption with the awaiter's <c>UnsafeOnCompleted</c> (or
/// <c>OnCompleted</c>), so <c>ConfigureAwait</c> and <see cref="AsyncLocal{T}"/> behave as usual.
/// </remarks>
public struct PrecompiledTaskMethodBuilder<TResult>
{
    private AsyncTaskMethodBuilder<TResult> _builder; // mutable struct: not readonly
    private IStateMachineBox? _box;

    /// <summary>A builder for one call of the method.</summary>
    public static PrecompiledTaskMethodBuilder<TResult> Create() => new() { _builder = AsyncTaskMethodBuilder<TResult>.Create() };

    /// <summary>The method's task.</summary>
    public Task<TResult> Task => _builder.Task;

    /// <summary>Runs the state machine's synchronous part (the base library's <c>Start</c>).</summary>
    public void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine
        => _builder.Start(ref stateMachine);

    /// <summary>Part of the builder pattern; state machines are boxed by the builder, not by this call.</summary>
    public void SetStateMachine(IAsyncStateMachine stateMachine) => _builder.SetStateMachine(stateMachine);

    /// <summary>Completes the task with the method's result.</summary>
    public void SetResult(TResult result) => _builder.SetResult(result);

    /// <summary>Completes the task with the method's exception (cancelled for an <see cref="OperationCanceledException"/>).</summary>
    public void SetException(Exception exception) => _builder.SetException(exception);

    /// <summary>Resumes the state machine when <paramref name="awaiter"/> completes, in the captured context.</summary>
    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion where TStateMachine : IAsyncStateMachine
        => StateMachineBox<TStateMachine>.OnCompleted(ref _box, ref awaiter, ref stateMachine, Task);

    /// <summary>Resumes the state machine when <paramref name="awaiter"/> completes, in the captured context.</summary>
    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion where TStateMachine : IAsyncStateMachine
        => StateMachineBox<TStateMachine>.UnsafeOnCompleted(ref _box, ref awaiter, ref stateMachine, Task);
}

/// <summary>
/// <see cref="PrecompiledTaskMethodBuilder{TResult}"/> for a <see cref="Task"/> method (no result): the same, over
/// <see cref="AsyncTaskMethodBuilder"/>.
/// </summary>
public struct PrecompiledTaskMethodBuilder
{
    private AsyncTaskMethodBuilder _builder; // mutable struct: not readonly
    private IStateMachineBox? _box;

    /// <summary>A builder for one call of the method.</summary>
    public static PrecompiledTaskMethodBuilder Create() => new() { _builder = AsyncTaskMethodBuilder.Create() };

    /// <summary>The method's task.</summary>
    public Task Task => _builder.Task;

    /// <summary>Runs the state machine's synchronous part (the base library's <c>Start</c>).</summary>
    public void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine
        => _builder.Start(ref stateMachine);

    /// <summary>Part of the builder pattern; state machines are boxed by the builder, not by this call.</summary>
    public void SetStateMachine(IAsyncStateMachine stateMachine) => _builder.SetStateMachine(stateMachine);

    /// <summary>Completes the task.</summary>
    public void SetResult() => _builder.SetResult();

    /// <summary>Completes the task with the method's exception (cancelled for an <see cref="OperationCanceledException"/>).</summary>
    public void SetException(Exception exception) => _builder.SetException(exception);

    /// <summary>Resumes the state machine when <paramref name="awaiter"/> completes, in the captured context.</summary>
    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion where TStateMachine : IAsyncStateMachine
        => StateMachineBox<TStateMachine>.OnCompleted(ref _box, ref awaiter, ref stateMachine, Task);

    /// <summary>Resumes the state machine when <paramref name="awaiter"/> completes, in the captured context.</summary>
    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion where TStateMachine : IAsyncStateMachine
        => StateMachineBox<TStateMachine>.UnsafeOnCompleted(ref _box, ref awaiter, ref stateMachine, Task);
}

/// <summary>A suspended async method's box, as the builders above see it.</summary>
internal interface IStateMachineBox
{
    /// <summary>Runs the state machine's next part (in the box's execution context, which the caller has set).</summary>
    void MoveNextInContext();
}

/// <summary>What the boxes share.</summary>
internal static class StateMachineBox
{
    /// <summary>The callback <see cref="ExecutionContext.Run"/> is given: one for every box.</summary>
    internal static readonly ContextCallback MoveNextCallback = static box => ((IStateMachineBox)box!).MoveNextInContext();

    /// <summary>
    /// An awaiter that throws while registering a continuation: rethrown on the thread pool, as the base library's
    /// builder does (the method cannot go on, and its caller has already been returned its task).
    /// </summary>
    internal static void ThrowOnThreadPool(Exception exception)
    {
        var captured = ExceptionDispatchInfo.Capture(exception);
        ThreadPool.QueueUserWorkItem(static state => ((ExceptionDispatchInfo)state!).Throw(), captured);
    }
}

/// <summary>
/// A suspended async method: its state machine (moved here at its first suspension), the
/// <see cref="ExecutionContext"/> to resume it in, and the one delegate every awaiter is given.
/// </summary>
internal sealed class StateMachineBox<TStateMachine> : IStateMachineBox where TStateMachine : IAsyncStateMachine
{
    /// <summary>The state machine, a copy of the one on the stack at the first suspension; default once the task is complete.</summary>
    public TStateMachine? StateMachine;

    /// <summary>The context captured at the latest suspension; null when its flow was suppressed.</summary>
    private ExecutionContext? _context;

    /// <summary>The method's task, to let go of the state machine once it is complete.</summary>
    private Task? _task;

    /// <summary>Resumes the state machine: given to the awaiters.</summary>
    public readonly Action MoveNextAction;

    private StateMachineBox() => MoveNextAction = MoveNext;

    /// <summary>
    /// The box of the state machine, made at its first suspension (the task made first, so that the copy in the box
    /// and the caller's refer to the same task), with the current execution context captured, as at each suspension.
    /// </summary>
    internal static StateMachineBox<TStateMachine> For(ref IStateMachineBox? field, ref TStateMachine stateMachine, Task task)
    {
        var context = ExecutionContext.Capture();
        if (field is StateMachineBox<TStateMachine> existing)
        {
            existing._context = context;
            return existing;
        }
        var box = new StateMachineBox<TStateMachine> { _context = context, _task = task };
        // Set before the copy: the state machine in the box finds its box at its next suspension.
        field = box;
        box.StateMachine = stateMachine;
        return box;
    }

    /// <summary>
    /// What both builders' <c>AwaitOnCompleted</c> do: the box of <paramref name="stateMachine"/> (see <see cref="For"/>)
    /// given to <paramref name="awaiter"/>; an awaiter that throws while registering has it rethrown on the thread pool.
    /// </summary>
    internal static void OnCompleted<TAwaiter>(ref IStateMachineBox? field, ref TAwaiter awaiter, ref TStateMachine stateMachine, Task task)
        where TAwaiter : INotifyCompletion
    {
        var box = For(ref field, ref stateMachine, task);
        try { awaiter.OnCompleted(box.MoveNextAction); }
        catch (Exception e) { StateMachineBox.ThrowOnThreadPool(e); }
    }

    /// <summary><see cref="OnCompleted{TAwaiter}"/> through the awaiter's <c>UnsafeOnCompleted</c> (the box flows the context itself).</summary>
    internal static void UnsafeOnCompleted<TAwaiter>(ref IStateMachineBox? field, ref TAwaiter awaiter, ref TStateMachine stateMachine, Task task)
        where TAwaiter : ICriticalNotifyCompletion
    {
        var box = For(ref field, ref stateMachine, task);
        try { awaiter.UnsafeOnCompleted(box.MoveNextAction); }
        catch (Exception e) { StateMachineBox.ThrowOnThreadPool(e); }
    }

    void IStateMachineBox.MoveNextInContext() => StateMachine!.MoveNext();

    private void MoveNext()
    {
        var context = _context;
        if (context is null) StateMachine!.MoveNext();
        else ExecutionContext.Run(context, StateMachineBox.MoveNextCallback, this);
        if (_task!.IsCompleted)
        {
            // As the base library's box: what the state machine refers to is not kept alive by whoever keeps the task.
            StateMachine = default;
            _context = null;
        }
    }
}
