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

    /// <summary>Removes the temporary folder and releases the locks.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        StateFolder.TryRemove(TempDirectory);
        _own.Dispose();
        StateFolder.TryDeleteFile(_own.Path);
        _shared.Dispose();
    }
}
