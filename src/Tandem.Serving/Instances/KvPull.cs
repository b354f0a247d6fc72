using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Instances;

/// <summary>
/// A KV pull from another process running off a decode loop, on a thread of its own (the transport reads block by
/// block and may wait on the network for seconds). The loop reserved <see cref="Sequence"/>'s blocks and alone frees
/// or adopts them once <see cref="Done"/> completes; the pull thread only writes those blocks' bytes. A request that
/// leaves meanwhile (cancelled, failed) abandons its pull: the transport is cancelled, and the blocks are freed when
/// the pull thread is out of them.
/// </summary>
internal sealed class KvPull
{
    private readonly CancellationTokenSource _cancel = new();

    private KvPull(Request request, KvSequence sequence, IKvSource source)
    {
        Request = request;
        Sequence = sequence;
        Source = source;
    }

    public Request Request { get; }
    public KvSequence Sequence { get; }
    public IKvSource Source { get; }
    /// <summary>The payload bytes moved; faults with the pull's error.</summary>
    public Task<long> Done { get; private set; } = null!;
    /// <summary>The request left while its KV was coming: free the blocks, adopt nothing.</summary>
    public bool Abandoned { get; private set; }

    /// <summary>Starts the pull; <paramref name="wake"/> runs when it ends (the loop looks at its finished pulls then).</summary>
    public static KvPull Start(Request request, KvSequence reserved, IKvSource source, ModelFingerprint model, Action wake)
    {
        var pull = new KvPull(request, reserved, source);
        var token = pull._cancel.Token;
        // LongRunning: a thread of its own, not a pool thread held for the whole transfer.
        pull.Done = Task.Factory.StartNew(() => source.PullInto(reserved, model, null, token), token,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
        pull.Done.ContinueWith(_ => wake(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return pull;
    }

    public void Abandon()
    {
        Abandoned = true;
        _cancel.Cancel();
    }
}
