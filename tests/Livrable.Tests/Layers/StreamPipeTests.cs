using Livrable.Layers;
using Xunit;

namespace Livrable.Tests.Layers;

/// <summary>
/// The pipe a layer's tar goes through to the next RUN's lower folder while it is written: every byte in order, the
/// writer never held or failed by a reader that stopped, and a writer that gave up ends the reader with its error.
/// </summary>
public sealed class StreamPipeTests
{
    [Fact]
    public async Task The_reader_gets_every_byte_in_order_while_the_writer_waits_for_room()
    {
        var pipe = new StreamPipe();
        var bytes = new byte[(StreamPipe.Capacity * 3 + 7) * 1000];
        new Random(14).NextBytes(bytes);
        var reading = Task.Run(async () =>
        {
            var copy = new MemoryStream();
            await pipe.Reader.CopyToAsync(copy);
            return copy.ToArray();
        });
        for (int offset = 0; offset < bytes.Length; offset += 1000)
            await pipe.Writer.WriteAsync(bytes.AsMemory(offset, 1000));
        await pipe.Writer.DisposeAsync();
        Assert.Equal(bytes, await reading.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Once_the_reader_is_disposed_a_waiting_write_is_released_and_later_writes_are_dropped()
    {
        var pipe = new StreamPipe();
        var chunk = new byte[10];
        for (int i = 0; i < StreamPipe.Capacity; i++) await pipe.Writer.WriteAsync(chunk);
        var waiting = pipe.Writer.WriteAsync(chunk).AsTask();
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted);
        await pipe.Reader.DisposeAsync();
        await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        // Far more writes than the pipe holds: none waits.
        var writing = Task.Run(async () =>
        {
            for (int i = 0; i < StreamPipe.Capacity * 4; i++) await pipe.Writer.WriteAsync(chunk);
        });
        await writing.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_writer_that_gives_up_ends_the_reader_with_its_error()
    {
        var pipe = new StreamPipe();
        await pipe.Writer.WriteAsync(new byte[] { 1, 2, 3 });
        pipe.Complete(new OperationCanceledException("The layer was not written."));
        var buffer = new byte[3];
        Assert.Equal(3, await pipe.Reader.ReadAsync(buffer));
        await Assert.ThrowsAsync<OperationCanceledException>(async () => await pipe.Reader.ReadExactlyAsync(buffer));
    }
}
