using Grpc.Core;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// A slow peer between a frontend and a real prefill worker (see <see cref="KvRelay"/>): the first KV pull sends its
/// header and then stops, mid-transfer, until <see cref="Release"/> (or until the puller gives up); every other call
/// and pull passes straight through.
/// </summary>
public sealed class HoldingKvRelay : KvRelay
{
    private readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _heldEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _pulls;

    private HoldingKvRelay(string realAddress, string token) : base(realAddress, token) { }

    public static Task<HoldingKvRelay> StartAsync(string realAddress, string token) => StartAsync(new HoldingKvRelay(realAddress, token));

    /// <summary>Completes when the first pull has sent its header and stopped.</summary>
    public Task Holding => _holding.Task;

    /// <summary>Completes when the held pull's call is over: released and sent to its end, or given up by the puller.</summary>
    public Task HeldPullEnded => _heldEnded.Task;

    /// <summary>Lets the held pull go on.</summary>
    public void Release() => _release.TrySetResult();

    public override async Task PullKv(Proto.PullKvRequest request, IServerStreamWriter<Proto.KvChunk> chunks, ServerCallContext context)
    {
        if (Interlocked.Increment(ref _pulls) != 1)
        {
            await base.PullKv(request, chunks, context);
            return;
        }
        try
        {
            using var call = Real.PullKv(request, cancellationToken: context.CancellationToken);
            bool first = true;
            while (await call.ResponseStream.MoveNext(context.CancellationToken))
            {
                await chunks.WriteAsync(call.ResponseStream.Current);
                if (!first) continue;
                first = false;
                _holding.TrySetResult();
                await _release.Task.WaitAsync(context.CancellationToken);
            }
        }
        finally
        {
            _heldEnded.TrySetResult();
        }
    }
}
