using System.Buffers;
using System.Text.Json;

namespace Tandem.Server.Protocol;

/// <summary>A JSON writer over a growable buffer, written out in one piece (so a response or an SSE event is never half sent).</summary>
internal sealed class PooledJson : IDisposable
{
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);

    public PooledJson() => Writer = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = false });

    public Utf8JsonWriter Writer { get; }

    public ReadOnlyMemory<byte> Written
    {
        get
        {
            Writer.Flush();
            return _buffer.WrittenMemory;
        }
    }

    public void Reset()
    {
        Writer.Flush();
        _buffer.Clear();
        Writer.Reset();
    }

    public async Task CopyToAsync(Stream stream, CancellationToken cancellation) =>
        await stream.WriteAsync(Written, cancellation);

    public void Dispose() => Writer.Dispose();
}
