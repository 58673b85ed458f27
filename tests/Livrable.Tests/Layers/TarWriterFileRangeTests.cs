using Livrable.Diagnostics;
using Livrable.Interop;
using Livrable.Layers;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Layers;

/// <summary>
/// An entry whose bytes are a range of an open file (<see cref="TarWriter.WriteEntryAsync(TarHeader, Microsoft.Win32.SafeHandles.SafeFileHandle, long, CancellationToken)"/>,
/// the image tarball's layers taken from the previous tarball): copied in the kernel into a file (copy_file_range),
/// through the buffer into any other stream or where the kernel copies nothing (a source on another file system), and
/// the archive read back by GNU tar either way, byte for byte the archive the stream path writes.
/// </summary>
public sealed class TarWriterFileRangeTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A source file of random bytes: <paramref name="length"/> of them at <paramref name="offset"/>, after others.</summary>
    private (string Path, byte[] Range) Source(string folder, long offset, int length)
    {
        var bytes = new byte[offset + length + 4096];
        new Random(42).NextBytes(bytes);
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "source.bin");
        File.WriteAllBytes(path, bytes);
        return (path, bytes.AsSpan((int)offset, length).ToArray());
    }

    /// <summary>A small file, the range, another file, written with the range taken from <paramref name="source"/>.</summary>
    private static async Task WriteAsync(Stream output, string source, long offset, int length)
    {
        await using var tar = new TarWriter(output, leaveOpen: true);
        using var handle = File.OpenHandle(source);
        await tar.WriteEntryAsync(new TarHeader { Name = "a.txt", Size = 2, ModificationTime = 1 }, new MemoryStream("a\n"u8.ToArray()), CancellationToken.None);
        await tar.WriteEntryAsync(new TarHeader { Name = "range.bin", Size = length, ModificationTime = 1 }, handle, offset, CancellationToken.None);
        await tar.WriteEntryAsync(new TarHeader { Name = "b.txt", Size = 2, ModificationTime = 1 }, new MemoryStream("b\n"u8.ToArray()), CancellationToken.None);
        await tar.FinishAsync(CancellationToken.None);
    }

    /// <summary>The same archive with the range given as a stream: what the entry must be.</summary>
    private static async Task<byte[]> ExpectedAsync(byte[] range)
    {
        var output = new MemoryStream();
        await using (var tar = new TarWriter(output, leaveOpen: true))
        {
            await tar.WriteEntryAsync(new TarHeader { Name = "a.txt", Size = 2, ModificationTime = 1 }, new MemoryStream("a\n"u8.ToArray()), CancellationToken.None);
            await tar.WriteEntryAsync(new TarHeader { Name = "range.bin", Size = range.Length, ModificationTime = 1 }, new MemoryStream(range), CancellationToken.None);
            await tar.WriteEntryAsync(new TarHeader { Name = "b.txt", Size = 2, ModificationTime = 1 }, new MemoryStream("b\n"u8.ToArray()), CancellationToken.None);
            await tar.FinishAsync(CancellationToken.None);
        }
        return output.ToArray();
    }

    private async Task CheckAsync(string archive, byte[] range)
    {
        Assert.Equal(await ExpectedAsync(range), await File.ReadAllBytesAsync(archive));
        string extracted = _temp["extracted-" + Guid.NewGuid().ToString("N")[..8]];
        Directory.CreateDirectory(extracted);
        await Tools.RunCheckedAsync("tar", "-xf", archive, "-C", extracted);
        Assert.Equal(range, await File.ReadAllBytesAsync(Path.Combine(extracted, "range.bin")));
        Assert.Equal("b\n", await File.ReadAllTextAsync(Path.Combine(extracted, "b.txt")));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(512, 1)]
    [InlineData(1536, 300_000)]
    [InlineData(777, 5_000_000)]
    public async Task Into_a_file_the_range_is_copied_in_the_kernel_and_reads_back_as_written(long offset, int length)
    {
        var (source, range) = Source(_temp["src"], offset, length);
        string archive = _temp["out.tar"];
        await using (var output = new FileStream(archive, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            await WriteAsync(output, source, offset, length);
        await CheckAsync(archive, range);
    }

    [Fact]
    public void The_kernel_copies_within_one_file_system_here()
    {
        // The machine's temp folder (ext4 on the dev machines and CI): copy_file_range takes the whole range, so the
        // tarball's unchanged layers never pass through this process.
        var (source, range) = Source(_temp["src"], 4096, 1 << 20);
        using var input = File.OpenHandle(source);
        using var output = File.OpenHandle(_temp["copy.bin"], FileMode.CreateNew, FileAccess.Write);
        Assert.Equal(range.Length, Native.CopyFileRange(input, 4096, output, 100, range.Length, CancellationToken.None));
        byte[] copy = new byte[range.Length];
        using (var check = File.OpenHandle(_temp["copy.bin"]))
            Assert.Equal(range.Length, RandomAccess.Read(check, copy, 100));
        Assert.Equal(range, copy);
    }

    [Fact]
    public async Task Into_another_stream_or_from_another_file_system_the_range_goes_through_the_buffer()
    {
        var (source, range) = Source(_temp["src"], 1000, 700_000);
        var memory = new MemoryStream();
        await WriteAsync(memory, source, 1000, range.Length);
        Assert.Equal(await ExpectedAsync(range), memory.ToArray());

        // /dev/shm is a tmpfs: the kernel refuses a copy from there to the temp folder's file system (EXDEV), or makes
        // it; either way the archive is the same.
        string shm = Path.Combine("/dev/shm", "livrable-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (other, otherRange) = Source(shm, 1000, 700_000);
            string archive = _temp["from-shm.tar"];
            await using (var output = new FileStream(archive, FileMode.CreateNew, FileAccess.Write))
                await WriteAsync(output, other, 1000, otherRange.Length);
            await CheckAsync(archive, otherRange);
        }
        finally
        {
            Directory.Delete(shm, recursive: true);
        }
    }

    [Fact]
    public async Task A_source_ending_before_the_size_is_an_error_not_a_short_entry()
    {
        var (source, _) = Source(_temp["src"], 0, 1000);
        string archive = _temp["short.tar"];
        await using var output = new FileStream(archive, FileMode.CreateNew, FileAccess.Write);
        await using var tar = new TarWriter(output, leaveOpen: true);
        using var handle = File.OpenHandle(source);
        var e = await Assert.ThrowsAsync<LivrableException>(() =>
            tar.WriteEntryAsync(new TarHeader { Name = "range.bin", Size = 10_000, ModificationTime = 1 }, handle, 0, CancellationToken.None));
        Assert.Equal("LIV4005", e.Code);
    }
}
