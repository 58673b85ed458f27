namespace Livrable.Store;

/// <summary>
/// One build's use of the <see cref="StateFolder"/>: the shared state lock (no eviction while it is held), the build's
/// own lease lock, and the temporary folder <c>tmp/&lt;id&gt;/</c> that lease owns. A later build removes that folder
/// once the lease lock is free, which the kernel guarantees when the build dies, however it dies.
/// </summary>
public sealed class StateLease : IDisposable
{
    private readonly FileLock _shared;
    private readonly FileLock _own;
    private readonly List<Task> _deferred = [];
    private bool _disposed;

    internal StateLease(StateFolder folder, string id, string tempDirectory, FileLock shared, FileLock own)
    {
        Folder = folder;
        Id = id;
        TempDirectory = tempDirectory;
        _shared = shared;
        _own = own;
    }

    /// <summary>The state folder leased.</summary>
    public StateFolder Folder { get; }

    /// <summary>The lease's name: the process id and a random part.</summary>
    public string Id { get; }

    /// <summary>This build's temporary folder, on the state folder's file system.</summary>
    public string TempDirectory { get; }

    /// <summary>
    /// Work on the temporary folder left to run beside the rest of the build (the removal of a Dockerfile build's
    /// step folders while the image is written: issue 14, a few hundred milliseconds of unlinks on a loaded disk), which
    /// <see cref="Dispose"/> waits for before it removes the folder and releases the lease. The work handles its own
    /// failures; one that escapes is ignored here, as the folder's removal then takes what is left.
    /// </summary>
    public void Defer(Task work)
    {
        ArgumentNullException.ThrowIfNull(work);
        lock (_deferred) _deferred.Add(work);
    }

    /// <summary>Waits for the deferred work (<see cref="Defer"/>), removes the temporary folder and releases the locks.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Task[] deferred;
        lock (_deferred) deferred = [.. _deferred];
        try
        {
            Task.WaitAll(deferred);
        }
        catch (AggregateException)
        {
            // The folder's removal below takes what the work left.
        }
        StateFolder.TryRemove(TempDirectory);
        _own.Dispose();
        StateFolder.TryDeleteFile(_own.Path);
        _shared.Dispose();
    }
}
