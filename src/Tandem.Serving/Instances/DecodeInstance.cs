using Tandem.Engine.Generation;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Instances;

/// <summary>
/// DistServe's decode instance: continuous batching over its running requests, and KV migration by pull.
/// The loop reserves the blocks, reusing the prefix of the KV that its own prefix cache holds (a conversation's history
/// it decoded before), then a pull from this process exports the rest of the sequence from the prefill pool (this
/// thread reads those blocks: the prefill instance does not touch a held sequence) through an in-process stream in
/// the engine's transfer format and imports it; a pull from another process (a cluster worker's network stream)
/// runs off the loop (<see cref="KvPull"/>, at most <see cref="DecodeScheduler.MaxTransfers"/> at once) while the running
/// requests keep decoding, and its request joins them at the first step after its KV is in. Either way the holder is then told to free its copy. Preempted requests go back
/// to the controller to be prefilled again (recompute). With a local prefill budget it also takes prompts the
/// controller sends it directly (conditional disaggregation, see <see cref="DecodeScheduler"/>).
/// </summary>
internal sealed class DecodeInstance : ServingInstance
{
    private readonly DecodeScheduler _scheduler;
    private readonly ModelFingerprint _fingerprint;
    // One buffer reused by every transfer; it grows to the largest payload seen.
    private readonly MemoryStream _transfer = new();
    // Pulls from other processes under way, oldest first (touched by the loop only).
    private readonly List<KvPull> _pulls = [];

    public DecodeInstance(string name, IInstanceHost host, LanguageModel model, KvBlockPool pool, IReadOnlyList<int> cores,
        int maxNumSeqs, int watermarkBlocks, int maxContext, bool pin, int localPrefillBudget = 0)
        : base(name, "decode", host, model, pool, cores, maxNumSeqs + localPrefillBudget, maxContext, pin)
    {
        _scheduler = new DecodeScheduler(Kv, maxNumSeqs, watermarkBlocks, localPrefillBudget);
        _fingerprint = model.Fingerprint;
    }

    public DecodeScheduler Scheduler => _scheduler;

    protected override void OnIntake(InstanceMessageKind kind, Request request)
    {
        if (kind == InstanceMessageKind.Submit) _scheduler.AddLocalPrefill(request); // throws unless local prefill is on
        else _scheduler.AddRequest(request);
    }

    protected override bool Step()
    {
        Recorder?.Begin();
        bool arrived = FinishPulls();
        double now = Now;
        var output = _scheduler.Schedule(now);
        if (output.IsEmpty) return arrived;

        foreach (var victim in output.Preempted)
            Host.Resubmit(victim); // recompute on a prefill instance; the stream and its tokens are kept
        foreach (var prompt in output.ToPrefill)
        {
            Dequeued(prompt.NumTokensToCompute); // it leaves this queue for a prefill instance's
            Host.Resubmit(prompt);
        }

        foreach (var r in output.ToPull) Pull(r);

        if (output.Scheduled.Count == 0)
        {
            Recorder?.Carry(output);
            TraceStep(now, Now, output);
            return true;
        }
        foreach (var c in output.Scheduled)
        {
            if (_scheduler.IsLocalPrompt(c.Request)) c.Request.Timeline.PrefillStart ??= now;
            else c.Request.Timeline.DecodeStart ??= now;
        }
        int promptTokens = output.PrefillTokens + output.CachedTokens;
        Recorder?.Scheduled(output);
        var sampled = Runner.Execute(output, Kv);
        Recorder?.Executed();
        _scheduler.UpdateFromOutput(output);
        Dequeued(promptTokens);
        double end = Now;
        TraceStep(now, end, output);
        foreach (var t in sampled)
        {
            t.Request.Timeline.PrefillEnd ??= end; // a local prompt's first token (pulled requests have theirs already)
            if (ProcessToken(t, end) is not { } finish) continue;
            _scheduler.FinishRequest(t.Request, StatusOf(finish));
            Complete(t.Request, finish);
        }
        Recorder?.End();
        return true;
    }

    /// <summary>
    /// Reserves the blocks of a request the scheduler chose to pull (it checked they are free), then pulls: here when
    /// the KV is in this process, off the loop when it comes from another.
    /// </summary>
    private void Pull(Request r)
    {
        var source = r.Migration ?? throw new InvalidOperationException($"request {r.RequestId} has no KV to pull");
        r.Timeline.TransferStart ??= Now;
        if (Kv.ReserveImport(r) is not { } sequence)
        {
            Migrated(r, source, Kv.Pool.CreateSequence(), new KvPayloadException($"no room to import {r.NumComputedTokens} tokens ({Kv.Pool.FreeBlocks} blocks free)"), 0);
            return;
        }
        if (source.IsRemote)
        {
            _scheduler.OnTransferStarted(r);
            _pulls.Add(KvPull.Start(r, sequence, source, _fingerprint, Wake));
            return;
        }
        Exception? error = null;
        long bytes = 0;
        try
        {
            bytes = source.PullInto(sequence, _fingerprint, _transfer, CancellationToken.None);
        }
        catch (Exception e)
        {
            error = e;
        }
        Migrated(r, source, sequence, error, bytes);
    }

    /// <summary>Takes in the pulls off the loop that ended since the last step; true when any did.</summary>
    private bool FinishPulls()
    {
        bool any = false;
        for (int i = 0; i < _pulls.Count;)
        {
            var pull = _pulls[i];
            if (!pull.Done.IsCompleted) { i++; continue; }
            _pulls.RemoveAt(i);
            any = true;
            if (pull.Abandoned)
            {
                // The request already left (and was completed); its blocks are ours again now that the pull thread is out.
                pull.Sequence.Release();
                pull.Request.Migration = null;
                pull.Source.Release();
                continue;
            }
            var error = pull.Done.IsCompletedSuccessfully ? null : pull.Done.Exception?.InnerException ?? new OperationCanceledException("the KV pull was cancelled");
            Migrated(pull.Request, pull.Source, pull.Sequence, error, error == null ? pull.Done.Result : 0);
        }
        return any;
    }

    /// <summary>A pull ended: the request runs with its KV in this pool, or fails to be recomputed; the holder may free its copy.</summary>
    private void Migrated(Request r, IKvSource source, KvSequence sequence, Exception? error, long bytes)
    {
        if (error == null && sequence.Length != r.NumComputedTokens)
            error = new KvPayloadException($"the KV holds {sequence.Length} tokens, the request needs {r.NumComputedTokens}");
        r.Migration = null;
        try
        {
            if (error != null)
            {
                sequence.Release();
                _scheduler.OnMigrationFailed(r);
                Fail(r, new KvLostException($"KV migration of request {r.RequestId} failed: {error.Message}", error));
                return;
            }
            r.KvTransferBytes += bytes;
            Kv.Adopt(r, sequence);
            // Pulled while its prefill ran: the token sampled after the KV came with it, and is the request's next input.
            if (source.NextToken is { } next) r.Stream?.TakePrefilledToken(r, next);
            r.Timeline.TransferEnd ??= Now;
            _scheduler.OnMigrated(r);
        }
        finally
        {
            source.Release();
        }
    }

    /// <summary>The request's pull under way off the loop, or null.</summary>
    private KvPull? PullOf(Request r)
    {
        foreach (var p in _pulls)
            if (ReferenceEquals(p.Request, r)) return p;
        return null;
    }

    /// <summary>With pulls under way the loop wakes now and then, so /health does not take a long transfer for a stuck loop.</summary>
    protected override int IdleWaitMilliseconds => _pulls.Count > 0 ? 1000 : Timeout.Infinite;

    protected override void HandleCancellations()
    {
        foreach (var r in _scheduler.AllRequests.Where(r => r.IsCancelRequested).ToList())
        {
            if (_scheduler.IsLocalPrompt(r)) Dequeued(r.NumTokensToCompute);
            bool waiting = _scheduler.IsWaiting(r);
            _scheduler.FinishRequest(r, RequestStatus.FinishedCancelled);
            if (PullOf(r) is { } pull) pull.Abandon(); // its source is released when the pull thread is out
            else if (waiting && r.Migration is { } source)
            {
                r.Migration = null;
                source.Release();
            }
            Complete(r, FinishReason.Cancelled);
        }
    }

    protected override void FailAll(Exception error)
    {
        foreach (var r in _scheduler.AllRequests.ToList())
        {
            _scheduler.FinishRequest(r, RequestStatus.FinishedError);
            if (PullOf(r) is { } pull) pull.Abandon();
            else if (r.Migration is { } source) { r.Migration = null; source.Release(); }
            Fail(r, error);
        }
    }

    protected override (int, int, int, int) Counts() =>
        (_scheduler.NumWaiting, _scheduler.WaitingTokens, _scheduler.NumRunning, Kv.FreeBlocks - _scheduler.WaitingBlocks);

    public override void CancelAllAtShutdown()
    {
        foreach (var pull in _pulls) pull.Abandon();
        foreach (var r in _scheduler.AllRequests.ToList())
        {
            _scheduler.FinishRequest(r, RequestStatus.FinishedCancelled);
            Complete(r, FinishReason.Cancelled);
        }
        DrainInboxAtShutdown();
    }
}
