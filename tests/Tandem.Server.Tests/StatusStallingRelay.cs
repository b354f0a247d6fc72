using Grpc.Core;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// A peer listed to a frontend as a decode worker, in front of a real one (see <see cref="KvRelay"/>): a worker too busy
/// to answer its heartbeat in time while it streams tokens. From <see cref="KvRelay.Intercept"/> on, it passes a Decode
/// call's events on one every <see cref="Pace"/> (so a decode lasts long enough to span heartbeats), and while such a
/// stream is under way every Status call is held until its caller's deadline — what a worker whose cores are taken by
/// a heavy load looks like to the frontend's heartbeat. Status calls with no stream under way are answered.
/// </summary>
public sealed class StatusStallingRelay : KvRelay
{
    public static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(25);
    private int _streaming, _expired;

    private StatusStallingRelay(string realAddress, string token) : base(realAddress, token) { }

    public static Task<StatusStallingRelay> StartAsync(string realAddress, string token) => StartAsync(new StatusStallingRelay(realAddress, token));

    /// <summary>Status calls held until their deadline passed.</summary>
    public int Expired => Volatile.Read(ref _expired);

    public override async Task<Proto.WorkerStatus> Status(Proto.StatusRequest request, ServerCallContext context)
    {
        if (Intercepting && Volatile.Read(ref _streaming) > 0)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, context.CancellationToken); // ends when the caller's deadline passes
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref _expired);
                throw;
            }
        }
        return await base.Status(request, context);
    }

    public override async Task Decode(Proto.GenerateRequest request, IServerStreamWriter<Proto.WorkerEvent> events, ServerCallContext context)
    {
        if (!Intercepting)
        {
            await base.Decode(request, events, context);
            return;
        }
        bool streaming = false;
        try
        {
            using var call = Real.Decode(request, cancellationToken: context.CancellationToken);
            await ForwardAsync(call, events, context.CancellationToken, async () =>
            {
                if (!streaming) { streaming = true; Interlocked.Increment(ref _streaming); }
                await Task.Delay(Pace, context.CancellationToken);
            });
        }
        finally
        {
            if (streaming) Interlocked.Decrement(ref _streaming);
        }
    }
}
