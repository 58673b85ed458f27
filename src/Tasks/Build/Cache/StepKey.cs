using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Livrable.Images;

namespace Livrable.Build.Cache;

/// <summary>
/// A build step's cache key, as BuildKit's cache key chain: a sha256 over the cache format version, the parent's key
/// (the state the step starts from) and every input that can change what the step makes. Each part is written as a
/// name and a length-prefixed UTF-8 value, so no two different lists of parts hash the same text.
/// </summary>
internal sealed class StepKey : IDisposable
{
    /// <summary>
    /// Bumped whenever what a step makes from the same inputs could change (layer writer, history, key parts). v3: a
    /// <c>COPY --from</c> and an ADD of an archive carry file capabilities (a v2 record of such a step lacks them). v4:
    /// every name of one file of an ADD archive or a <c>ContainerLayer</c> tar carries the record of the last entry
    /// naming it (<c>Layers/LinkedCapabilities</c>), as BuildKit's untar leaves it (a v3 record gave a hard link its own).
    /// </summary>
    public const string FormatVersion = "livrable-step-cache-v4";

    /// <summary>The key's hash; null for a fragment, which records its parts instead (<see cref="Fragment"/>).</summary>
    private readonly IncrementalHash? _hash;

    /// <summary>
    /// Parts gathered before they reach the hash: a COPY of 20,000 files adds 40,000 short parts, and a hash update per
    /// part (a call into the native library each) cost more than the rest of the key (issue 14). Same bytes, same key.
    /// </summary>
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _used;

    /// <summary>
    /// The bytes of a fragment's parts (<see cref="Fragment"/>), recorded instead of hashed; null for a key.
    /// </summary>
    private readonly MemoryStream? _recording;

    /// <summary>A key continuing the chain of <paramref name="parent"/>.</summary>
    public StepKey(string parent)
    {
        _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Add("version", FormatVersion);
        Add("parent", parent);
    }

    private StepKey(MemoryStream recording) => _recording = recording;

    /// <summary>
    /// Parts made before the key they belong to can start (its parent, the base's manifest, is not known yet): recorded,
    /// then added to that key in one piece by <see cref="Append"/>, the same bytes as adding them there one by one. A
    /// COPY's 20,000 file parts are made while the stage's FROM asks the registry for its base (issue 14).
    /// <paramref name="capacity"/>: about how many bytes the parts take, so the recording is not copied as it grows.
    /// </summary>
    public static StepKey Fragment(int capacity = 0) => new(new MemoryStream(capacity));

    /// <summary>Adds the parts of <paramref name="fragment"/> (<see cref="Fragment"/>), in their order, as if added here.</summary>
    public StepKey Append(StepKey fragment)
    {
        if (fragment._recording is null || fragment._later is not null) throw new InvalidOperationException("Only a fragment's parts can be appended.");
        // Two steps may append the same fragment (a source copied twice), even at once: its last parts are flushed once.
        lock (fragment._recording) fragment.Flush();
        var bytes = fragment._recording.GetBuffer().AsMemory(0, (int)fragment._recording.Length);
        if (_later is not null)
        {
            _later.Add(() =>
            {
                Flush();
                Emit(bytes.Span);
            });
            return this;
        }
        Flush();
        Emit(bytes.Span);
        return this;
    }

    /// <summary>The key at the start of a stage built from an image: its manifest digest and the stage's platform.</summary>
    public static string OfImage(Digest manifest, Platform platform)
    {
        using var key = new StepKey("");
        key.Add("image", manifest.ToString());
        key.Add("platform", platform.ToString());
        return key.Finish();
    }

    /// <summary>
    /// Whether parts may be given later (<see cref="AddLater"/>): set by the executor when the step cannot be found in
    /// the step cache whatever its key (its parent's chain is new, or ContainerNoCache), so a COPY may hash the files
    /// it reads in the same pass that writes them into the layer (issue 14 item 5).
    /// </summary>
    public bool MayDefer { get; init; }

    /// <summary>Whether a part was deferred: <see cref="Finish"/> then reads the deferred values, in their place in the order.</summary>
    public bool Deferred => _later is not null;

    /// <summary>The parts after the first deferred one, replayed in order by <see cref="Finish"/>.</summary>
    private List<Action>? _later;

    /// <summary>
    /// The sha256 (hex) of the parts before the first deferred one: what stands for the step until its key is known
    /// (two platforms' identical steps have the same), so that such steps still run one at a time.
    /// </summary>
    public string? DeferredFrom { get; private set; }

    /// <summary>
    /// Adds a part whose value is known later (a file's content digest, once the layer write has read the file);
    /// every part added after it waits too, so the order is the one of the calls. Only when <see cref="MayDefer"/>.
    /// </summary>
    public StepKey AddLater(string name, Func<string> value)
    {
        if (!MayDefer) throw new InvalidOperationException("This key's parts cannot be deferred.");
        if (_later is null)
        {
            Flush(); // the parts gathered so far, so that the hash below is of all of them
            DeferredFrom = Convert.ToHexString(_hash!.GetCurrentHash()).ToLowerInvariant();
            _later = [];
        }
        _later.Add(() => AddNow(name, value()));
        return this;
    }

    /// <summary>Adds one named part; null and empty differ.</summary>
    public StepKey Add(string name, string? value)
    {
        if (_later is not null)
        {
            _later.Add(() => AddNow(name, value));
            return this;
        }
        return AddNow(name, value);
    }

    /// <summary>
    /// Adds one named part from characters the caller reuses (a context source's file parts: 20,000 strings for b's
    /// COPY, issue 14); the same bytes as <see cref="Add(string, string?)"/> given that text.
    /// </summary>
    public StepKey Add(string name, ReadOnlySpan<char> value)
    {
        if (_later is not null) return Add(name, value.ToString());
        Write(name);
        Write(value);
        return this;
    }

    private StepKey AddNow(string name, string? value)
    {
        Write(name);
        if (value is null)
        {
            WriteLength(-1);
        }
        else
        {
            Write(value);
        }
        return this;
    }

    /// <summary>Adds a named list of parts, its count first.</summary>
    public StepKey Add(string name, IEnumerable<string> values)
    {
        var list = values.ToList();
        if (_later is not null)
        {
            _later.Add(() => AddNow(name, list));
            return this;
        }
        return AddNow(name, list);
    }

    private StepKey AddNow(string name, List<string> list)
    {
        AddNow(name, list.Count.ToString(CultureInfo.InvariantCulture));
        foreach (string value in list) Write(value);
        return this;
    }

    /// <summary>Adds a number.</summary>
    public StepKey Add(string name, long value) => Add(name, value.ToString(CultureInfo.InvariantCulture));

    /// <summary>The key: lowercase hex of the sha256. The builder cannot be used afterwards.</summary>
    public string Finish()
    {
        if (_hash is null) throw new InvalidOperationException("A fragment has no key of its own: append it to one.");
        var later = _later;
        _later = null;
        foreach (var part in later ?? []) part();
        Flush();
        return Convert.ToHexString(_hash.GetHashAndReset()).ToLowerInvariant();
    }

    private void Write(ReadOnlySpan<char> text)
    {
        int length = Encoding.UTF8.GetByteCount(text);
        WriteLength(length);
        if (length > _buffer.Length - _used) Flush();
        if (length > _buffer.Length)
        {
            var bytes = new byte[length];
            Encoding.UTF8.GetBytes(text, bytes);
            Emit(bytes);
            return;
        }
        _used += Encoding.UTF8.GetBytes(text, _buffer.AsSpan(_used));
    }

    private void WriteLength(int length)
    {
        if (_buffer.Length - _used < 4) Flush();
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_used), length);
        _used += 4;
    }

    private void Flush()
    {
        Emit(_buffer.AsSpan(0, _used));
        _used = 0;
    }

    /// <summary>Bytes into the hash, or into the recording of a fragment.</summary>
    private void Emit(ReadOnlySpan<byte> bytes)
    {
        if (_recording is not null) _recording.Write(bytes);
        else _hash!.AppendData(bytes);
    }

    public void Dispose() => _hash?.Dispose();
}
