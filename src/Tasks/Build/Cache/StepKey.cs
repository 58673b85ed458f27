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
    /// <summary>Bumped whenever what a step makes from the same inputs could change (layer writer, history, key parts).</summary>
    public const string FormatVersion = "livrable-step-cache-v1";

    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    /// <summary>
    /// Parts gathered before they reach the hash: a COPY of 20,000 files adds 40,000 short parts, and a hash update per
    /// part (a call into the native library each) cost more than the rest of the key (issue 14). Same bytes, same key.
    /// </summary>
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _used;

    /// <summary>A key continuing the chain of <paramref name="parent"/>.</summary>
    public StepKey(string parent)
    {
        Add("version", FormatVersion);
        Add("parent", parent);
    }

    /// <summary>The key at the start of a stage built from an image: its manifest digest and the stage's platform.</summary>
    public static string OfImage(Digest manifest, Platform platform)
    {
        using var key = new StepKey("");
        key.Add("image", manifest.ToString());
        key.Add("platform", platform.ToString());
        return key.Finish();
    }

    /// <summary>Adds one named part; null and empty differ.</summary>
    public StepKey Add(string name, string? value)
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
        Add(name, list.Count.ToString(CultureInfo.InvariantCulture));
        foreach (string value in list) Write(value);
        return this;
    }

    /// <summary>Adds a number.</summary>
    public StepKey Add(string name, long value) => Add(name, value.ToString(CultureInfo.InvariantCulture));

    /// <summary>The key: lowercase hex of the sha256. The builder cannot be used afterwards.</summary>
    public string Finish()
    {
        Flush();
        return Convert.ToHexString(_hash.GetHashAndReset()).ToLowerInvariant();
    }

    private void Write(string text)
    {
        int length = Encoding.UTF8.GetByteCount(text);
        WriteLength(length);
        if (length > _buffer.Length - _used) Flush();
        if (length > _buffer.Length)
        {
            _hash.AppendData(Encoding.UTF8.GetBytes(text));
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
        _hash.AppendData(_buffer, 0, _used);
        _used = 0;
    }

    public void Dispose() => _hash.Dispose();
}
