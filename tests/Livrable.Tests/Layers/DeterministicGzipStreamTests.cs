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

    private static async Task<byte[]> GzipAsync(byte[] input, CompressionLevel level = CompressionLevel.Optimal, int chunk = 10_000, int? workers = null)
    {
        var output = new MemoryStream();
        await using (var gzip = new DeterministicGzipStream(output, level, leaveOpen: true, workers))
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

    private const int Block = DeterministicGzipStream.BlockSize;

    /// <summary>Compressible and incompressible stretches, of <paramref name="length"/> bytes, the same for a seed.</summary>
    private static byte[] Mixed(int length, int seed = 7)
    {
        var bytes = new byte[length];
        var random = new Random(seed);
        byte[] text = Encoding.ASCII.GetBytes("<entry name=\"lib/libexample.so\" mode=\"0644\"/>\n");
        for (int i = 0; i < length; i += 64 * 1024)
        {
            var span = bytes.AsSpan(i, Math.Min(64 * 1024, length - i));
            if (random.Next(3) == 0) random.NextBytes(span);
            else for (int j = 0; j < span.Length; j++) span[j] = text[(i + j) % text.Length];
        }
        return bytes;
    }

    private static byte[] Gunzip(byte[] gz)
    {
        using var gzip = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
        var output = new MemoryStream();
        gzip.CopyTo(output);
        return output.ToArray();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(Block - 1)]
    [InlineData(Block)]
    [InlineData(Block + 1)]
    [InlineData(2 * Block)]
    [InlineData(5 * Block + 12345)]
    public async Task Any_length_round_trips_and_is_the_same_for_1_2_and_8_workers_and_any_write_size(int length)
    {
        byte[] input = Mixed(length);
        byte[] expected = await GzipAsync(input, workers: 1, chunk: 10_000);
        Assert.Equal(input, Gunzip(expected));
        Assert.Equal(expected, await GzipAsync(input, workers: 2, chunk: 1));
        Assert.Equal(expected, await GzipAsync(input, workers: 8, chunk: Block));
        Assert.Equal(expected, await GzipAsync(input, workers: 8, chunk: 3 * Block + 7));
        Assert.Equal(expected, await GzipAsync(input, chunk: 65_536));
        var sync = new MemoryStream();
        using (var gzip = new DeterministicGzipStream(sync, CompressionLevel.Optimal, leaveOpen: true, workers: 3))
            for (int i = 0; i < input.Length; i += 777_777) gzip.Write(input, i, Math.Min(777_777, input.Length - i));
        Assert.Equal(expected, sync.ToArray());
    }

    [Theory]
    [InlineData(Block, 1)]
    [InlineData(Block + 1, 1)]
    [InlineData(3 * Block, 3)]
    public async Task Blocks_are_deflated_apart_and_joined_by_sync_flushes(int length, int syncFlushes)
    {
        // Each block but the last is a separate deflate stream cut after its sync flush (00 00 FF FF), so the member
        // holds at least one marker per full block; the runtime's inflater reads the joined stream as one.
        byte[] input = Mixed(length);
        byte[] gz = await GzipAsync(input);
        int markers = 0;
        for (int i = 10; i + 4 <= gz.Length - 8; i++)
            if (gz[i] == 0 && gz[i + 1] == 0 && gz[i + 2] == 0xFF && gz[i + 3] == 0xFF) markers++;
        Assert.True(markers >= syncFlushes, $"{markers} sync flush markers for {syncFlushes} blocks");
        Assert.Equal(input, Gunzip(gz));
    }

    [Fact]
    public async Task Two_hundred_megabytes_go_through_a_bounded_number_of_blocks()
    {
        // Memory is structural: however large the input, at most MaxBlocksInFlight blocks are queued or compressing and
        // at most MaxBlocksInFlight + 1 are ever allocated (the extra one is being filled).
        byte[] piece = Mixed(4 * Block + 4321, seed: 11);
        var counter = new HashingStream(null);
        var gzip = new DeterministicGzipStream(counter, CompressionLevel.Fastest, leaveOpen: true, workers: 2);
        long total = 0;
        await using (gzip)
        {
            while (total < 200L * 1000 * 1000)
            {
                await gzip.WriteAsync(piece);
                total += piece.Length;
                Assert.InRange(gzip.BlocksAllocated, 1, gzip.MaxBlocksInFlight + 1);
            }
        }
        Assert.Equal(total, gzip.UncompressedLength);
        Assert.Equal(4, gzip.MaxBlocksInFlight);
        Assert.InRange(gzip.BlocksAllocated, 1, gzip.MaxBlocksInFlight + 1);
        Assert.InRange(gzip.PeakBlocksInFlight, 1, gzip.MaxBlocksInFlight);
        Assert.True(counter.Length > 0 && counter.Length < total, $"{counter.Length} compressed bytes for {total}");
    }

    [Fact]
    public async Task A_large_stream_is_read_by_gzip_pigz_and_python()
    {
        byte[] input = Mixed(20 * Block + 99, seed: 3);
        string path = _temp["large.gz"];
        await File.WriteAllBytesAsync(path, await GzipAsync(input, chunk: 100_000, workers: 4));
        await Tools.RunCheckedAsync("gzip", "-t", path);
        await Tools.RunCheckedAsync("pigz", "-t", path);
        string hex = await Tools.PythonAsync("""
            import gzip, hashlib, sys, zlib
            data = open(sys.argv[1], 'rb').read()
            d = zlib.decompressobj(31)
            out = d.decompress(data)
            assert d.eof and not d.unused_data, "not exactly one gzip member"
            print(hashlib.sha256(out).hexdigest())
            """, path);
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(input)).ToLowerInvariant(), hex.Trim());
    }
}
