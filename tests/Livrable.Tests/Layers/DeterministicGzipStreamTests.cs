using System.IO.Compression;
using System.Text;
using Livrable.Layers;
using Xunit;
using Livrable.Tests.Infrastructure;

namespace Livrable.Tests.Layers;

public sealed class DeterministicGzipStreamTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static byte[] Sample()
    {
        // Half compressible text, half incompressible noise, over 1 MiB so deflate emits many blocks.
        var bytes = new byte[(1 << 20) + 12345];
        byte[] text = Encoding.ASCII.GetBytes("Livrable writes reproducible layers. ");
        for (int i = 0; i < bytes.Length / 2; i++) bytes[i] = text[i % text.Length];
        new Random(42).NextBytes(bytes.AsSpan(bytes.Length / 2));
        return bytes;
    }

    private static async Task<byte[]> GzipAsync(byte[] input, CompressionLevel level = CompressionLevel.Optimal, int chunk = 10_000)
    {
        var output = new MemoryStream();
        await using (var gzip = new DeterministicGzipStream(output, level, leaveOpen: true))
        {
            for (int i = 0; i < input.Length; i += chunk)
                await gzip.WriteAsync(input.AsMemory(i, Math.Min(chunk, input.Length - i)));
        }
        return output.ToArray();
    }

    [Fact]
    public void Crc32_matches_the_check_value_and_can_be_continued()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
        Assert.Equal(0u, Crc32.Compute([]));
        byte[] data = Sample();
        uint whole = Crc32.Compute(data);
        uint pieces = 0;
        for (int i = 0; i < data.Length; i += 777)
            pieces = Crc32.Append(pieces, data.AsSpan(i, Math.Min(777, data.Length - i)));
        Assert.Equal(whole, pieces);
    }

    [Fact]
    public async Task The_header_is_fixed_and_the_trailer_holds_crc_and_length()
    {
        byte[] input = Sample();
        byte[] gz = await GzipAsync(input);
        Assert.Equal(new byte[] { 0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF }, gz[..10]);
        Assert.Equal(Crc32.Compute(input), BitConverter.ToUInt32(gz, gz.Length - 8));
        Assert.Equal((uint)input.Length, BitConverter.ToUInt32(gz, gz.Length - 4));
    }

    [Fact]
    public async Task The_same_bytes_give_the_same_gzip_however_they_are_written()
    {
        byte[] input = Sample();
        // zlib-ng gives other bytes for the same input cut in other pieces; the stream re-cuts it in fixed chunks.
        byte[] expected = await GzipAsync(input, chunk: 10_000);
        Assert.Equal(expected, await GzipAsync(input, chunk: 65_536));
        Assert.Equal(expected, await GzipAsync(input, chunk: 300_001));
        var sync = new MemoryStream();
        using (var gzip = new DeterministicGzipStream(sync, CompressionLevel.Optimal, leaveOpen: true)) gzip.Write(input);
        Assert.Equal(await GzipAsync(input), sync.ToArray());
    }

    [Theory]
    [InlineData(CompressionLevel.Optimal, false)]
    [InlineData(CompressionLevel.Fastest, false)]
    [InlineData(CompressionLevel.SmallestSize, false)]
    [InlineData(CompressionLevel.Optimal, true)]
    public async Task Gzip_pigz_and_python_accept_the_output(CompressionLevel level, bool empty)
    {
        byte[] input = empty ? [] : Sample();
        string path = _temp["sample.gz"];
        await File.WriteAllBytesAsync(path, await GzipAsync(input, level));

        await Tools.RunCheckedAsync("gzip", "-t", path);
        await Tools.RunCheckedAsync("pigz", "-t", path);
        string hex = await Tools.PythonAsync("""
            import gzip, hashlib, sys
            print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())
            """, path);
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(input)).ToLowerInvariant(), hex.Trim());
    }

    [Fact]
    public async Task The_runtime_GZipStream_reads_it_back()
    {
        byte[] input = Sample();
        using var gzip = new GZipStream(new MemoryStream(await GzipAsync(input)), CompressionMode.Decompress);
        var output = new MemoryStream();
        await gzip.CopyToAsync(output);
        Assert.Equal(input, output.ToArray());
    }
}
