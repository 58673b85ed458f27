using System.Diagnostics;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Interop;
using Livrable.Layers;

namespace Livrable.Runtime;

/// <summary>
/// The lower folder of a layer being written, made from its tar bytes as the writer produces them
/// (<see cref="LayerWriteOptions.TarCopy"/>), so the RUN that follows a COPY, ADD or RUN finds the layer already
/// extracted in <c>rootfs/&lt;diff-id-hex&gt;/</c> instead of reading its blob back, decompressing and extracting it
/// (issue 14: that second extraction was most of a one-line edit's RUN set-up).
/// </summary>
/// <remarks>
/// The folder is what <see cref="LayerRootfs.EnsureAsync"/> would make from the blob, by construction: the same bytes
/// (the blob is their compression) through the same extraction code, so owners, modes, the times the layer records
/// (the epoch, not the files' own), whiteouts and opaque folders are the layer's, and a RUN's runtime stubs, provided
/// files and overlay xattrs are not there (they are not in the tar). It is extracted into <c>rootfs/tmp-written-&lt;guid&gt;</c>
/// and renamed into place, with its <c>.done</c> marker after it, under the layer's lock, only once the layer is in the
/// store and its diff id known: a build killed half-way leaves a temporary folder no build trusts (removed by
/// <c>StateFolder.CleanUp</c>). A small layer's tar is kept in memory and extracted after the write; a big one's is
/// extracted beside the compression (another core) through a bounded pipe. When extraction fails, nothing is kept and
/// the RUN extracts the blob as before, which reports what is wrong.
/// </remarks>
internal sealed class LowerFolderPreparation : IAsyncDisposable
{
    /// <summary>
    /// A layer expected to be at most this big (its tar) is kept in memory as it is written and extracted after the
    /// write, on the build's own flow: for the small layer of an edit (a COPY of a few files) that is the extraction
    /// alone, with no thread beside the writer. A bigger one goes through a <see cref="StreamPipe"/> to an extraction
    /// running beside the compression, memory bounded.
    /// </summary>
    public const long InMemoryLimit = 8L << 20;

    private readonly LayerRootfs _layers;
    private readonly ILogger _logger;
    private readonly StreamPipe? _pipe;
    private readonly MemoryStream? _buffer;
    private readonly string _temp;
    private readonly Task<Exception?>? _extraction;
    private readonly long _started = Stopwatch.GetTimestamp();
    private bool _adopted;

    private LowerFolderPreparation(LayerRootfs layers, ILogger logger, long expectedBytes, CancellationToken cancellationToken)
    {
        _layers = layers;
        _logger = logger;
        _temp = layers.NewWrittenTemp();
        if (expectedBytes <= InMemoryLimit)
        {
            _buffer = new MemoryStream();
            return;
        }
        _pipe = new StreamPipe();
        _extraction = Task.Run(() => ExtractAsync(_pipe.Reader, cancellationToken), cancellationToken);
    }

    /// <summary>The stream to give the layer writer as <see cref="LayerWriteOptions.TarCopy"/>.</summary>
    public Stream TarCopy => (Stream?)_buffer ?? _pipe!.Writer;

    /// <summary>
    /// Starts making a lower folder in <paramref name="stateDirectory"/>'s extracted layers (root's, or the current
    /// user's namespace's as <see cref="ContainerRun"/> would use) for a layer whose tar should be about
    /// <paramref name="expectedBytes"/>; null where RUN cannot run here (not Linux, no user namespace for a rootless
    /// build): the RUN then says why.
    /// </summary>
    public static LowerFolderPreparation? Start(string stateDirectory, ILogger logger, long expectedBytes, CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            var userNamespace = Native.IsRoot ? null : UserNamespace.ForCurrentUser();
            return new LowerFolderPreparation(new LayerRootfs(Path.GetFullPath(stateDirectory), logger, userNamespace), logger, expectedBytes, cancellationToken);
        }
        catch (Exception e) when (e is LivrableException or IOException or UnauthorizedAccessException)
        {
            logger.Detail($"  lower folder: not made while writing ({e.Message})");
            return null;
        }
    }

    private async Task<Exception?> ExtractAsync(Stream tar, CancellationToken cancellationToken)
    {
        try
        {
            await _layers.ExtractWrittenAsync(tar, _temp, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Whatever it is, the RUN extracts the blob instead and reports it there.
            return e;
        }
        finally
        {
            // The writer's later bytes (the tar's end, or all of it after a failure) are dropped, never waited for.
            await tar.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// After the layer is written (<paramref name="layer"/> in the store, its diff id known): extracts the tar kept in
    /// memory, or waits for the extraction beside the writer, and puts the folder in place as the layer's. False when
    /// the extraction failed (then nothing is kept).
    /// </summary>
    public async Task<bool> CompleteAsync(ILayer layer, CancellationToken cancellationToken)
    {
        Exception? failure;
        if (_buffer is not null)
        {
            _buffer.Position = 0;
            failure = await ExtractAsync(_buffer, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            _pipe!.Complete();
            failure = await _extraction!.ConfigureAwait(false);
        }
        if (failure is not null)
        {
            _logger.Detail($"  lower folder: not made while writing ({failure.Message}); RUN extracts the layer");
            return false;
        }
        try
        {
            await _layers.AdoptAsync(_temp, layer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is LivrableException or IOException or UnauthorizedAccessException)
        {
            _logger.Detail($"  lower folder: not kept ({e.Message}); RUN extracts the layer");
            return false;
        }
        _adopted = true;
        _logger.Detail($"  lower folder: {layer.DiffId.Hex[..12]} extracted {(_buffer is null ? "while written" : "from the written tar")} {Units.Since(_started)}");
        return true;
    }

    /// <summary>Abandons a preparation not completed (the layer write failed): the extraction stops and its folder is deleted.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_adopted) return;
        if (_pipe is not null)
        {
            _pipe.Complete(new OperationCanceledException("The layer was not written."));
            try
            {
                await _extraction!.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        _buffer?.Dispose();
        _layers.Abandon(_temp);
    }
}
