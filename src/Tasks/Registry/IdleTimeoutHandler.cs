using System.Net;
using System.Runtime.CompilerServices;
using Livrable.Store;
using Livrable.Threading;

namespace Livrable.Registry;

/// <summary>
/// Gives up on a request that goes silent: no byte of its body sent, no answer's headers, or no byte of the answer's
/// body read for <c>timeout</c>. A whole request has no time limit (a blob of gigabytes on a slow link takes what it
/// takes); only silence does, so a registry that accepts a connection and never answers cannot hang a build. The
/// failure is an <see cref="IdleTimeoutException"/>, an <see cref="IOException"/>, so the client retries it like a
/// dropped connection (a body read resumes with <c>Range</c>) and, when no try is left, reports LIV3012.
/// </summary>
internal sealed class IdleTimeoutHandler(TimeSpan timeout) : DelegatingHandler
{
    private bool Enabled => timeout > TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan;

    [AsyncMethodBuilder(typeof(PrecompiledTaskMethodBuilder<>))]
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!Enabled) return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        string host = request.RequestUri!.GetLeftPart(UriPartial.Authority);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        idle.CancelAfter(timeout);
        // Each write of the request body shows the connection is alive: the timer starts again.
        if (request.Content is { } content) request.Content = new ProgressContent(content, () => idle.CancelAfter(timeout));
        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, idle.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IdleTimeoutException(host, timeout, e);
        }
        response.Content = new IdleContent(response.Content, host, timeout);
        return response;
    }

    /// <summary>
    /// Content standing for another: the inner content's headers (its length too) and its disposal. The two wrappers
    /// differ only in how the bytes move.
    /// </summary>
    private abstract class WrappedContent : HttpContent
    {
        protected WrappedContent(HttpContent inner)
        {
            Inner = inner;
            foreach (var header in inner.Headers)
                if (!header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) Headers.TryAddWithoutValidation(header.Key, header.Value);
            if (inner.Headers.ContentLength is { } length) Headers.ContentLength = length;
        }

        protected HttpContent Inner { get; }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
            => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = Inner.Headers.ContentLength ?? -1;
            return length >= 0;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) Inner.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>A request body that reports each write, so the idle timer restarts while the body moves.</summary>
    private sealed class ProgressContent(HttpContent inner, Action progress) : WrappedContent(inner)
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
            => Inner.CopyToAsync(new ProgressStream(stream, progress), context, cancellationToken);
    }

    /// <summary>A write-only pass-through that calls back after each write.</summary>
    private sealed class ProgressStream(Stream inner, Action progress) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            inner.Write(buffer, offset, count);
            progress();
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            progress();
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <summary>An answer's body whose every read gives up after the idle timeout.</summary>
    private sealed class IdleContent(HttpContent inner, string host, TimeSpan timeout) : WrappedContent(inner)
    {
        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken)
            => new IdleStream(await Inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), host, timeout);

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await using var body = await CreateContentReadStreamAsync(cancellationToken).ConfigureAwait(false);
            await body.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A body stream whose reads each have <c>timeout</c> to return something.</summary>
    private sealed class IdleStream(Stream inner, string host, TimeSpan timeout) : ReadOnlyStreamBase
    {
        public override int Read(Span<byte> buffer)
        {
            // Synchronous readers are rare (the client reads asynchronously): a pooled buffer, not one per read.
            byte[] array = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length);
            try
            {
                int n = ReadAsync(array.AsMemory(0, buffer.Length), CancellationToken.None).AsTask().GetAwaiter().GetResult();
                array.AsSpan(0, n).CopyTo(buffer);
                return n;
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(array);
            }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            idle.CancelAfter(timeout);
            try
            {
                return await inner.ReadAsync(buffer, idle.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw new IdleTimeoutException(host, timeout, e);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>A host sent nothing for the idle timeout: a connection fault, retried; LIV3012 once no try is left.</summary>
public sealed class IdleTimeoutException(string host, TimeSpan timeout, Exception? inner = null)
    : IOException($"{host} sent nothing for {timeout.TotalSeconds:0.###} s.", inner)
{
    /// <summary>The scheme, host and port that went silent.</summary>
    public string Host { get; } = host;

    /// <summary>How long it was waited for.</summary>
    public TimeSpan Timeout { get; } = timeout;
}
