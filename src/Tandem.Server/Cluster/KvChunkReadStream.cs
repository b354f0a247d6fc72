using Grpc.Core;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>
/// The chunks of a PullKv stream read as one byte stream (what KvTransfer.ImportInto reads). Synchronous: it runs on
/// the thread of a pull off the decode loop, which waits for the next chunk (the loop goes on decoding meanwhile).
/// The end of the call is the end of the stream, so a truncated transfer reads short and Import reports it.
/// </summary>
internal sealed class KvChunkReadStream(IAsyncStreamReader<Proto.KvChunk> chunks, CancellationToken cancellation) : Stream
{
    private ReadOnlyMemory<byte> _current;

    public long BytesRead { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        while (_current.IsEmpty)
        {
            if (!chunks.MoveNext(cancellation).GetAwaiter().GetResult()) return 0;
            _current = chunks.Current.Data.Memory;
        }
        int n = Math.Min(buffer.Length, _current.Length);
        _current.Span[..n].CopyTo(buffer);
        _current = _current[n..];
        BytesRead += n;
        return n;
    }

    /// <summary>After the payload: reads on to the end of the call for the token an overlapped pull ends with (null: none came).</summary>
    public Proto.Token? ReadNextToken()
    {
        while (chunks.MoveNext(cancellation).GetAwaiter().GetResult())
            if (chunks.Current.NextToken is { } token) return token;
        return null;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
