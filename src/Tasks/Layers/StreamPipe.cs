using System.Threading.Channels;

namespace Livrable.Layers;

/// <summary>
/// A bounded in-memory pipe from one writer to one reader on another thread: a layer's tar bytes as
/// <see cref="LayerWriter"/> writes them (<see cref="LayerWriteOptions.TarCopy"/>), read at the same time by whoever
/// makes something else of them (the next RUN's lower folder, <c>Runtime/LowerFolderPreparation</c>). The writer never
/// fails because of the reader: once the reader is disposed (done, or failed), writes are dropped. It waits when
/// <see cref="Capacity"/> writes are queued, so memory stays bounded whatever the layer's size.
/// </summary>
public sealed class StreamPipe
{
    /// <summary>How many writes may wait for the reader (the tar writer writes its buffer, 64 KiB or more, at once).</summary>
    public const int Capacity = 32;

    private readonly Channel<byte[]> _chunks = Channel.CreateBounded<byte[]>(
        new BoundedChannelOptions(Capacity) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });

    public StreamPipe()
    {
        Writer = new WriterStream(this);
        Reader = new ReaderStream(this);
    }

    /// <summary>The writing end; disposing it ends the reader's stream.</summary>
    public Stream Writer { get; }

    /// <summary>The reading end; disposing it drops whatever is written from then on.</summary>
    public Stream Reader { get; }

    /// <summary>Ends the stream for the reader: normally, or with <paramref name="error"/>, which its next read throws (the writer gave up).</summary>
    public void Complete(Exception? error = null) => _chunks.Writer.TryComplete(error);

    private sealed class WriterStream(StreamPipe pipe) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
            => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.IsEmpty) return;
            try
            {
                // A copy: the writer reuses its buffer as soon as this returns.
                await pipe._chunks.Writer.WriteAsync(buffer.ToArray(), cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                // The reader is gone: nothing more to give it.
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) pipe.Complete();
            base.Dispose(disposing);
        }
    }

    private sealed class ReaderStream(StreamPipe pipe) : Store.ReadOnlyStreamBase
    {
        private byte[] _current = [];
        private int _offset;

        public override int Read(Span<byte> buffer)
        {
            byte[] bytes = new byte[buffer.Length];
            int n = ReadAsync(bytes).AsTask().GetAwaiter().GetResult();
            bytes.AsSpan(0, n).CopyTo(buffer);
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.IsEmpty) return 0;
            while (_offset == _current.Length)
            {
                // False once the writer completed and everything was read; the writer's error, if it gave one, is thrown.
                if (!await pipe._chunks.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false)) return 0;
                if (pipe._chunks.Reader.TryRead(out var chunk))
                {
                    _current = chunk;
                    _offset = 0;
                }
            }
            int n = Math.Min(buffer.Length, _current.Length - _offset);
            _current.AsMemory(_offset, n).CopyTo(buffer);
            _offset += n;
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                // Later writes are dropped, a waiting one is released, and what is queued is let go.
                pipe._chunks.Writer.TryComplete();
                while (pipe._chunks.Reader.TryRead(out _))
                {
                }
            }
            base.Dispose(disposing);
        }
    }
}
