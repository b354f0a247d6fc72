using Grpc.Core;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// A slow peer between a frontend and a real prefill worker (see <see cref="KvRelay"/>): one KV pull (the first after
/// <see cref="KvRelay.Intercept"/>, or the one numbered <c>holdPull</c> from there) stops until <see cref="Release"/> (or until the puller gives up): a PullKv stream
/// after its header, mid-transfer; a ShareKv call (shared memory) before the prefill worker writes the file. Every other
/// call and pull passes straight through.
/// </summary>
public sealed class HoldingKvRelay : KvRelay
{
    private readonly int _holdPull;
    private readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _heldEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _pulls;

    private HoldingKvRelay(string realAddress, string token, int holdPull) : base(realAddress, token) => _holdPull = holdPull;

    /// <param name="holdPull">Which pull to hold, counting from 1 once intercepting, in the order their headers come (see <see cref="PullKv"/>).</param>
    public static Task<HoldingKvRelay> StartAsync(string realAddress, string token, int holdPull = 1) =>
        StartAsync(new HoldingKvRelay(realAddress, token, holdPull));

    /// <summary>Completes when the held pull has stopped (a stream after its header).</summary>
    public Task Holding => _holding.Task;

    /// <summary>Completes when the held pull's call is over: released and sent to its end, or given up by the puller.</summary>
    public Task HeldPullEnded => _heldEnded.Task;

    /// <summary>The id of the request whose pull is held (the prefill worker names its KV "request id/…"), once holding.</summary>
    public string? HeldRequestId { get; private set; }

    /// <summary>Lets the held pull go on.</summary>
    public void Release() => _release.TrySetResult();

    /// <summary>
    /// Pulls are numbered as their header comes from the worker: one the worker refuses (its KV gone, e.g. the lease
    /// ended before the pull came) takes no number, so the held one surely has KV behind it.
    /// </summary>
    public override async Task PullKv(Proto.PullKvRequest request, IServerStreamWriter<Proto.KvChunk> chunks, ServerCallContext context)
    {
        if (!Intercepting)
        {
            await base.PullKv(request, chunks, context);
            return;
        }
        bool held = false;
        try
        {
            using var call = Real.PullKv(request, cancellationToken: context.CancellationToken);
            bool first = true;
            while (await call.ResponseStream.MoveNext(context.CancellationToken))
            {
                await chunks.WriteAsync(call.ResponseStream.Current);
                if (!first) continue;
                first = false;
                if (Interlocked.Increment(ref _pulls) != _holdPull) continue;
                held = true;
                HeldRequestId = request.KvId[..Math.Max(0, request.KvId.IndexOf('/'))];
                _holding.TrySetResult();
                await _release.Task.WaitAsync(context.CancellationToken);
            }
        }
        finally
        {
            if (held) _heldEnded.TrySetResult();
        }
    }

    public override async Task<Proto.ShareKvReply> ShareKv(Proto.ShareKvRequest request, ServerCallContext context)
    {
        if (!Intercepting || Interlocked.Increment(ref _pulls) != _holdPull) return await base.ShareKv(request, context);
        try
        {
            _holding.TrySetResult();
            await _release.Task.WaitAsync(context.CancellationToken);
            return await base.ShareKv(request, context);
        }
        finally
        {
            _heldEnded.TrySetResult();
        }
    }
}
