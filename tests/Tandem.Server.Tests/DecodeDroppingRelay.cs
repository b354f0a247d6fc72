using Grpc.Core;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// A peer listed to a frontend as a decode worker, in front of a real one (see <see cref="KvRelay"/>): from
/// <see cref="KvRelay.Intercept"/> until <see cref="StopDropping"/> it takes every Decode call (its response headers go
/// out, as a worker's do when it takes a call) and then breaks it with an error, without pulling the KV, while the worker
/// behind it answers every heartbeat. That is a decode worker whose handler throws on a request, or a proxy that cuts its
/// streams: alive, so never marked down, and dropping the call before the KV came in.
/// </summary>
public sealed class DecodeDroppingRelay : KvRelay
{
    private volatile bool _dropping = true;
    private int _dropped;

    private DecodeDroppingRelay(string realAddress, string token) : base(realAddress, token) { }

    public static Task<DecodeDroppingRelay> StartAsync(string realAddress, string token) => StartAsync(new DecodeDroppingRelay(realAddress, token));

    /// <summary>Decode calls taken and broken so far.</summary>
    public int Dropped => Volatile.Read(ref _dropped);

    /// <summary>Decode calls pass through from now on.</summary>
    public void StopDropping() => _dropping = false;

    public override async Task Decode(Proto.GenerateRequest request, IServerStreamWriter<Proto.WorkerEvent> events, ServerCallContext context)
    {
        if (!Intercepting || !_dropping)
        {
            await base.Decode(request, events, context);
            return;
        }
        await context.WriteResponseHeadersAsync(new Metadata());
        Interlocked.Increment(ref _dropped);
        throw new RpcException(new Status(StatusCode.Internal, "the relay took this call and broke it"));
    }
}
