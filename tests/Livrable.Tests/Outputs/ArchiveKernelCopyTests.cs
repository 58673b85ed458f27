using Livrable.Images;
using Livrable.Outputs;
using Livrable.Store;
using Livrable.Tests.Infrastructure;
using Xunit;

namespace Livrable.Tests.Outputs;

/// <summary>
/// Issue 14 item 4: a stored layer (a base layer pulled by this build, a layer it wrote) goes into an image tarball
/// file by <c>copy_file_range</c>, not through the process's memory. The tarball is byte for byte the one the same
/// image streamed into memory gives, which reads every layer through its stream, and the independent readers take it.
/// </summary>
public sealed class ArchiveKernelCopyTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Stored_layers_copied_in_the_kernel_give_the_bytes_of_the_streamed_tarball()
    {
        var store = new BlobStore(_temp["state"]);
        var big = new byte[3_000_000]; // incompressible: a layer blob of several of the writer's buffers, odd length
        new Random(7).NextBytes(big);
        var image = await TestImages.BuildAsync(store,
        [
            new Dictionary<string, byte[]> { ["big.bin"] = big },
            new Dictionary<string, byte[]> { ["small.txt"] = "small\n"u8.ToArray() },
        ]);
        var epoch = new DateTimeOffset(2001, 2, 3, 4, 5, 6, TimeSpan.Zero);
        string path = _temp["out", "image.tar"];

        await new ArchiveOutput(path, epoch).WriteAsync(image, "app", ["latest"], CancellationToken.None);
        using var streamed = new MemoryStream();
        await ImageTarball.WriteAsync(streamed, image, ImageTarball.Names("app", ["latest"]), epoch, CancellationToken.None);

        Assert.Equal(streamed.ToArray(), File.ReadAllBytes(path));
        string rootfs = await ImageValidator.ValidateArchiveAsync(path, image, "latest", _temp["check"]);
        Assert.Equal(big, File.ReadAllBytes(Path.Combine(rootfs, "big.bin")));
    }
}
