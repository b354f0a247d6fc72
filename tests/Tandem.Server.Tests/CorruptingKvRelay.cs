using Google.Protobuf;
using Grpc.Core;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// A bad peer between a frontend and a real prefill worker (see <see cref="KvRelay"/>): every call is passed through
/// to the worker, except that the first KV pulls after <see cref="KvRelay.Intercept"/> come out damaged, one corrupted (a flipped byte inside a block) and
/// one truncated (the stream ends after the first block; the shared-memory file is cut in half). What the decode side
/// must catch by checksum and length, then recover from by recomputing.
/// </summary>
public sealed class CorruptingKvRelay : KvRelay
{
    private int _pulls;

    private CorruptingKvRelay(string realAddress, string token) : base(realAddress, token) { }

    /// <summary>Pulls that came out damaged so far.</summary>
    public int Damaged { get; private set; }

    public static Task<CorruptingKvRelay> StartAsync(string realAddress, string token) => StartAsync(new CorruptingKvRelay(realAddress, token));

    public override async Task PullKv(Proto.PullKvRequest request, IServerStreamWriter<Proto.KvChunk> chunks, ServerCallContext context)
    {
        if (!Intercepting)
        {
            await base.PullKv(request, chunks, context);
            return;
        }
        int pull = Interlocked.Increment(ref _pulls);
        using var call = Real.PullKv(request, cancellationToken: context.CancellationToken);
        int index = 0;
        while (await call.ResponseStream.MoveNext(context.CancellationToken))
        {
            var chunk = call.ResponseStream.Current;
            if (pull == 1 && index == 1)
            {
                var bytes = chunk.Data.ToByteArray();
                bytes[bytes.Length / 2] ^= 0x40; // one bit of one value of the first block
                chunk = new Proto.KvChunk { Data = ByteString.CopyFrom(bytes) };
                Damaged++;
            }
            await chunks.WriteAsync(chunk);
            if (pull == 2 && index == 1)
            {
                Damaged++;
                return; // truncated: the header and one block, no more
            }
            index++;
        }
    }

    public override async Task<Proto.ShareKvReply> ShareKv(Proto.ShareKvRequest request, ServerCallContext context)
    {
        if (!Intercepting) return await base.ShareKv(request, context);
        int pull = Interlocked.Increment(ref _pulls);
        var reply = await Real.ShareKvAsync(request, cancellationToken: context.CancellationToken);
        if (reply.Path.Length == 0 || pull > 2) return reply;
        // The file the decode worker is about to map, damaged in place (this process is on the same host).
        using var file = new FileStream(reply.Path, FileMode.Open, FileAccess.ReadWrite);
        if (pull == 1)
        {
            file.Position = file.Length / 2;
            int b = file.ReadByte();
            file.Position--;
            file.WriteByte((byte)(b ^ 0x40));
        }
        else
        {
            file.SetLength(file.Length / 2);
        }
        Damaged++;
        return reply;
    }
}
