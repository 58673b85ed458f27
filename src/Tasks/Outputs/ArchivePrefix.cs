using Livrable.Images;

namespace Livrable.Outputs;

/// <summary>
/// The start of an image tarball's write, made before the image is complete: the layers already known to open the
/// image (a Dockerfile build's base layers and cached steps, once a step of the target stage has to run) are written
/// to the tarball's temporary file on the thread pool while the build's last steps run (issue 14: pyapp's edit copied
/// its unchanged 248 MB after its last step). <see cref="ArchiveOutput"/> takes the write on when the image is done,
/// if what was written is the start of the whole tarball's entries (<see cref="ImageTarball.Blobs"/> puts the layers
/// first, base first), so the bytes are those of a write in one go whenever the early part finished; otherwise, or
/// when the early part failed, it is thrown away and the tarball written whole.
/// </summary>
/// <remarks>
/// Nothing here touches the target, its record (<see cref="OutputRecord"/>) or its blob map: a build that fails or is
/// cancelled after the start leaves them as they were, and <see cref="DisposeAsync"/> stops the write and deletes the
/// temporary file. The temporary file has the name and the lock a write in one go gives it
/// (<see cref="ArchiveOutput.RemoveStaleTemporaries"/>), so a killed build's is removed the same way.
/// </remarks>
internal sealed class ArchivePrefix : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly Task _writing;
    private FileStream? _file;
    private TarballWriter? _writer;
    private ArchiveBlobMap? _previous;
    private int _owned = 1;

    /// <summary>The folders the write made for the tarball, deepest first.</summary>
    private readonly List<string> _madeFolders = [];

    private ArchivePrefix(string target, DateTimeOffset modificationTime, string? stateDirectory, bool rewrite, IReadOnlyList<ILayer> layers,
        Func<CancellationToken, Task>? beforeLayers, CancellationToken cancellationToken)
    {
        Target = target;
        ModificationTime = modificationTime;
        Temp = ArchiveOutput.TempPathOf(target);
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = _stop.Token;
        _writing = Task.Run(() => WriteAsync(stateDirectory, rewrite, layers, beforeLayers, token), token);
    }

    /// <summary>
    /// Starts writing the tarball at <paramref name="path"/> (<see cref="ArchiveOutput"/>'s arguments: entry time,
    /// state folder, <c>ContainerNoCache</c>) with <paramref name="layers"/>, the first layers of the image, on the
    /// thread pool. Returns at once; nothing it meets is an error of the build (the whole write meets it again).
    /// <paramref name="beforeLayers"/>: run once the file is open, before the layers (tests hold the write back, or fail it).
    /// </summary>
    public static ArchivePrefix Start(string path, DateTimeOffset? modificationTime, string? stateDirectory, bool rewrite,
        IReadOnlyList<ILayer> layers, CancellationToken cancellationToken, Func<CancellationToken, Task>? beforeLayers = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new ArchivePrefix(Path.GetFullPath(path), modificationTime ?? Layers.Reproducibility.DefaultEpoch, stateDirectory, rewrite,
            [.. layers], beforeLayers, cancellationToken);
    }

    /// <summary>The tarball's full path.</summary>
    public string Target { get; }

    /// <summary>The entries' time.</summary>
    public DateTimeOffset ModificationTime { get; }

    /// <summary>The temporary file written, <c>&lt;target&gt;.tmp-&lt;32 hex&gt;</c>.</summary>
    public string Temp { get; }

    /// <summary>The write of the early part, done or under way (tests hold it back or await it).</summary>
    internal Task Writing => _writing;

    private async Task WriteAsync(string? stateDirectory, bool rewrite, IReadOnlyList<ILayer> layers, Func<CancellationToken, Task>? beforeLayers,
        CancellationToken cancellationToken)
    {
        // The folders made for the tarball are removed again if it is never written (a first build that fails).
        for (string? folder = Path.GetDirectoryName(Target); folder is not null && !Directory.Exists(folder); folder = Path.GetDirectoryName(folder))
            _madeFolders.Add(folder);
        Directory.CreateDirectory(Path.GetDirectoryName(Target)!);
        ArchiveOutput.RemoveStaleTemporaries(Target, DateTime.UtcNow);
        // The layers the tarball there already holds are copied from it (ArchiveBlobMap), as a write in one go does.
        _previous = stateDirectory is null || rewrite ? null : ArchiveBlobMap.TryLoad(stateDirectory, Target);
        _file = ImageTarball.CreateFile(Temp);
        _writer = new TarballWriter(_file, ModificationTime, _previous);
        if (beforeLayers is not null) await beforeLayers(cancellationToken).ConfigureAwait(false);
        var blobs = new List<TarballBlob>();
        ImageTarball.LayerBlobs(layers, new HashSet<string>(StringComparer.Ordinal), blobs);
        foreach (var blob in blobs) await _writer.WriteBlobAsync(blob, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The write, handed to <see cref="ArchiveOutput"/> for the tarball at <paramref name="target"/> of
    /// <paramref name="blobs"/> (the whole tarball's, in order), once the early part is done: when it wrote the start of
    /// those blobs, for that path and entry time. Null otherwise (the early part failed, was for another image, or was
    /// taken already): the temporary file is deleted then, and the caller writes the tarball whole.
    /// </summary>
    public async Task<Taken?> TakeAsync(string target, DateTimeOffset modificationTime, IReadOnlyList<TarballBlob> blobs)
    {
        if (Interlocked.Exchange(ref _owned, 0) == 0) return null;
        bool ok;
        try
        {
            await _writing.ConfigureAwait(false);
            ok = target == Target && modificationTime == ModificationTime && StartsWith(blobs, _writer!.Written);
        }
        catch (Exception)
        {
            // Any failure of the early part (an I/O error, a layer that is not what it says): the whole write meets
            // it again and reports it as a write does.
            ok = false;
        }
        if (!ok)
        {
            await CloseAsync().ConfigureAwait(false);
            return null;
        }
        _stop.Dispose();
        return new Taken(_file!, _writer!, _previous, Temp);
    }

    private static bool StartsWith(IReadOnlyList<TarballBlob> blobs, List<TarballBlob> written)
    {
        if (written.Count > blobs.Count) return false;
        for (int i = 0; i < written.Count; i++)
            if (blobs[i].Name != written[i].Name || blobs[i].Size != written[i].Size) return false;
        return true;
    }

    /// <summary>What <see cref="ArchiveOutput"/> takes on: the open temporary file, its writer, the old tarball's map.</summary>
    public sealed record Taken(FileStream File, TarballWriter Writer, ArchiveBlobMap? Previous, string Temp);

    /// <summary>Stops the early write when no one took it, and deletes its temporary file; nothing when it was taken.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _owned, 0) == 0) return;
        await CloseAsync().ConfigureAwait(false);
    }

    /// <summary>Stops the write, closes what it opened, deletes its temporary file and the folders it made.</summary>
    private async Task CloseAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _writing.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Stopped, or failed: either way thrown away.
        }
        if (_writer is not null) await _writer.DisposeAsync().ConfigureAwait(false);
        if (_file is not null) await _file.DisposeAsync().ConfigureAwait(false);
        _previous?.Dispose();
        ImageTarball.TryDelete(Temp);
        foreach (string folder in _madeFolders)
        {
            try
            {
                Directory.Delete(folder);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not empty (another file came), or gone: left as it is.
                break;
            }
        }
        _stop.Dispose();
    }
}
