using System.Diagnostics;
using Livrable.Diagnostics;
using Livrable.Images;
using Livrable.Interop;
using Livrable.Layers;

namespace Livrable.Runtime;

/// <summary>
/// The lower folder of a layer being written, made from its tar bytes as the writer produces them
/// (<see cref="LayerWriteOptions.TarCopy"/>), so the RUN that follows a COPY, ADD, WORKDIR or RUN finds the layer
/// already extracted in <c>rootfs/&lt;diff-id-hex&gt;/</c> instead of reading its blob back, decompressing and
/// extracting it (issue 14's edit loop: the new COPY layer was extracted again by the RUN after it).
/// </summary>
/// <remarks>
/// The folder is what <see cref="LayerRootfs.EnsureAsync"/> would make from the blob, by construction: the same bytes
/// (the blob is their compression) through the same extraction code, so owners, modes, the times the layer records
/// (the epoch, not the files' own), whiteouts and opaque folders are the layer's, and a RUN's runtime stubs, provided
/// files and overlay xattrs are not there (they are not in the tar). The tar is kept in memory while it is written
/// (a layer expected over <see cref="InMemoryLimit"/> is not prepared: its RUN extracts the blob as before) and
/// extracted once the write is done, into <c>rootfs/tmp-written-&lt;guid&gt;</c>, renamed into place with its
/// <c>.done</c> marker after it, under the layer's lock, once the layer is in the store and its diff id known: a build
/// killed half-way leaves a temporary folder no build trusts (removed by <c>StateFolder.CleanUp</c>). When extraction
/// fails, nothing is kept and the RUN extracts the blob as before, which reports what is wrong. A RUN's layer (root
/// and rootless builds, any size) is not extracted at all: the RUN's upper folder, which holds the files the layer was written
/// from, is made equal to it and renamed into place under the same protocol (<see cref="UpperFolderAdoption"/>); the
/// tar, when small enough to be kept, is then only the fallback. Not beside the writer: an extraction fed through a pipe while the writer compressed was measured slower on this
/// 2-core machine than the write and the blob's extraction one after the other (the cold edit loop's 20,000-file RUN
/// layer: 8-16 s against 3.4-7.7 s, under load 18-22), and a full disk could then fail the layer's own write.
/// </remarks>
internal sealed class LowerFolderPreparation : IAsyncDisposable
{
    /// <summary>
    /// The largest tar (as <see cref="Start"/> is told to expect it) kept in memory to be extracted: the layer of an
    /// edit (a COPY of a few files) is; a big RUN layer is not held, the blob is extracted by its RUN instead. Not
    /// higher: the cold edit loop's 20,000-file RUN layer (about 26 MB) extracted after its write took its step
    /// 9.7 s against 3.9 s for the RUN's extraction of the blob later, in one pair of cold builds at load 18-22.
    /// </summary>
    public const long InMemoryLimit = 8L << 20;

    private readonly LayerRootfs _layers;
    private readonly ILogger _logger;
    private readonly MemoryStream? _buffer;
    private readonly string? _upper;
    private string _temp;
    private readonly long _started = Stopwatch.GetTimestamp();
    private bool _adopted;

    private LowerFolderPreparation(LayerRootfs layers, ILogger logger, long? bufferedBytes, string? upper)
    {
        _layers = layers;
        _logger = logger;
        _buffer = bufferedBytes is { } bytes ? new MemoryStream((int)bytes) : null;
        _upper = upper;
        _temp = layers.NewWrittenTemp();
    }

    /// <summary>The stream to give the layer writer as <see cref="LayerWriteOptions.TarCopy"/>; null when the tar is not kept (only the upper folder is adopted).</summary>
    public Stream? TarCopy => _buffer;

    /// <summary>The list to give the layer writer as <see cref="LayerWriteOptions.Written"/> (with its headers, what <see cref="UpperFolderAdoption"/> brings the upper folder to).</summary>
    public List<FileEntry> Written { get; } = [];

    /// <summary>
    /// Starts making a lower folder in <paramref name="stateDirectory"/>'s extracted layers (root's, or the current
    /// user's namespace's as <see cref="ContainerRun"/> would use) for a layer whose tar should be about
    /// <paramref name="expectedBytes"/>, written from the files of <paramref name="upper"/> when it is a RUN's
    /// (<see cref="RunResult.UpperDirectory"/>), which is then adopted (<see cref="UpperFolderAdoption"/>) and
    /// the tar kept only as the fallback; null when the layer is over <see cref="InMemoryLimit"/> and no upper folder
    /// is given, or where RUN cannot run here (not Linux, no user namespace for a rootless build: the RUN then says why).
    /// </summary>
    public static LowerFolderPreparation? Start(string stateDirectory, ILogger logger, long expectedBytes, string? upper = null)
    {
        if (!OperatingSystem.IsLinux()) return null;
        bool buffered = expectedBytes <= InMemoryLimit;
        if (!buffered && upper is null) return null;
        try
        {
            return new LowerFolderPreparation(new LayerRootfs(Path.GetFullPath(stateDirectory), logger, UserNamespace.ForBuild()), logger, buffered ? expectedBytes : null, upper);
        }
        catch (Exception e) when (e is LivrableException or IOException or UnauthorizedAccessException)
        {
            logger.Detail($"  lower folder: not made from the written tar ({e.Message})");
            return null;
        }
    }

    /// <summary>
    /// After the layer is written (<paramref name="layer"/> in the store, its diff id known, <paramref name="headers"/>
    /// the writer's <see cref="LayerWriteOptions.Headers"/>): adopts the RUN's upper folder, or else extracts the tar
    /// kept in memory, and puts the folder in place as the layer's. False when neither could (then nothing is kept).
    /// </summary>
    public async Task<bool> CompleteAsync(ILayer layer, IReadOnlyList<TarHeader> headers, CancellationToken cancellationToken)
    {
        // A RUN rerun by an edit often writes the very layer an earlier build left extracted: nothing to make (the
        // adoption's normalisation and the deletion of what it made, 20,000 entries, cost seconds for nothing).
        if (LayerRootfs.IsComplete(Path.Combine(_layers.Root, layer.DiffId.Hex)))
        {
            _logger.Detail($"  lower folder: {layer.DiffId.Hex[..12]} already extracted");
            return true;
        }
        if (_upper is not null)
        {
            long adopting = Stopwatch.GetTimestamp();
            string? notAdopted;
            try
            {
                (notAdopted, int rewritten) = await UpperFolderAdoption.MoveAsync(_upper, _temp, headers, Written, _layers, layer, cancellationToken).ConfigureAwait(false);
                if (notAdopted is null)
                {
                    await _layers.AdoptAsync(_temp, layer, cancellationToken).ConfigureAwait(false);
                    _adopted = true;
                    // The stage's tree still holds the RUN's entries: their files are read where they now are.
                    foreach (var folder in Written.Select(e => (e.Open?.Target as UpperFile)?.Folder).OfType<UpperFolder>().Distinct())
                        folder.MovedTo(Path.Combine(_layers.Root, layer.DiffId.Hex));
                    _logger.Detail($"  lower folder: {layer.DiffId.Hex[..12]} adopted from the RUN's upper folder ({headers.Count} entries, {rewritten} written back) {Units.Since(adopting)}");
                    return true;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                notAdopted = e.Message;
            }
            // Part of it may be in the temporary folder: the tar, if kept, is extracted into a new one.
            _logger.Detail($"  lower folder: the RUN's upper folder not adopted ({notAdopted})" + (_buffer is null ? "; RUN extracts the layer" : ""));
            _layers.Abandon(_temp);
            if (_buffer is null) return false;
            _temp = _layers.NewWrittenTemp();
        }
        if (_buffer is null) return false;
        try
        {
            _buffer.Position = 0;
            await _layers.ExtractWrittenAsync(_buffer, _temp, cancellationToken).ConfigureAwait(false);
            await _layers.AdoptAsync(_temp, layer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Whatever it is (a full disk, say), the RUN extracts the blob instead and reports it there.
            _logger.Detail($"  lower folder: not made from the written tar ({e.Message}); RUN extracts the layer");
            return false;
        }
        _adopted = true;
        _logger.Detail($"  lower folder: {layer.DiffId.Hex[..12]} extracted from the written tar {Units.Since(_started)}");
        return true;
    }

    /// <summary>Frees the tar; deletes the folder unless it was put in place (a failed write or extraction).</summary>
    public ValueTask DisposeAsync()
    {
        _buffer?.Dispose();
        if (!_adopted) _layers.Abandon(_temp);
        return ValueTask.CompletedTask;
    }
}
