using Tandem.Engine.Generation;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Instances;

/// <summary>
/// DistServe's prefill instance: computes prompts in FCFS batches up to the token target, samples and
/// streams each request's first token, then keeps the request's KV until a decode instance has pulled it
/// (the decode side posts Release). Requests that end on their first token never migrate.
/// </summary>
internal sealed class PrefillInstance : ServingInstance
{
    private readonly PrefillScheduler _scheduler;

    public PrefillInstance(string name, IInstanceHost host, LanguageModel model, KvBlockPool pool, IReadOnlyList<int> cores,
        int tokenTarget, int maxContext, bool pin)
        : base(name, "prefill", host, model, pool, cores, tokenTarget, maxContext, pin)
    {
        _scheduler = new PrefillScheduler(Kv, tokenTarget);
    }

    public PrefillScheduler Scheduler => _scheduler;

    protected override void OnIntake(InstanceMessageKind kind, Request request)
    {
        if (kind != InstanceMessageKind.Submit) throw new InvalidOperationException($"{Name} takes only prompts");
        _scheduler.AddRequest(request);
    }

    protected override void OnRelease(Request request) => _scheduler.ReleaseHeld(request);

    protected override bool Step()
    {
        Recorder?.Begin();
        double now = Now;
        var output = _scheduler.Schedule(now);
        if (output.Scheduled.Count == 0) return false;
        foreach (var c in output.Scheduled)
        {
            c.Request.Timeline.PrefillStart ??= now;
            c.Request.KvProgress?.Start(Kv.Sequence(c.Request), c.Request.NumComputedTokens);
        }
        Recorder?.Scheduled(output);
        var sampled = Runner.Execute(output, Kv);
        Recorder?.Executed();
        _scheduler.UpdateFromOutput(output);
        foreach (var c in output.Scheduled) c.Request.KvProgress?.Publish(c.Request.NumComputedTokens);
        Dequeued(output.TotalTokens + output.CachedTokens);
        double end = Now;
        TraceStep(now, end, output);
        foreach (var t in sampled)
        {
            var r = t.Request;
            r.Timeline.PrefillEnd ??= end;
            var reason = ProcessToken(t, end);
            if (reason is { } finish)
            {
                Finish(r, StatusOf(finish));
                Complete(r, finish);
                continue;
            }
            // The first token is out; the KV stays here until a decode instance pulls it.
            r.Migration = new LocalKvSource(Kv.Sequence(r), this, r);
            Host.RouteToDecode(r);
        }
        Recorder?.End();
        return true;
    }

    /// <summary>Removes a request that leaves without held KV and frees its blocks, after an overlapped pull is out of them.</summary>
    private void Finish(Request r, RequestStatus status)
    {
        r.KvProgress?.End();
        _scheduler.FinishRequest(r, status);
    }

    protected override void HandleCancellations()
    {
        // Only requests still queued or computing here: held ones belong to a decode instance now, which
        // posts Release when it drops them (it may be reading their blocks).
        foreach (var r in _scheduler.AllRequests.Where(r => r.Status != RequestStatus.WaitingForMigration && r.IsCancelRequested).ToList())
        {
            Dequeued(r.NumTokensToCompute);
            Finish(r, RequestStatus.FinishedCancelled);
            Complete(r, FinishReason.Cancelled);
        }
    }

    protected override void FailAll(Exception error)
    {
        foreach (var r in _scheduler.AllRequests.Where(r => r.Status != RequestStatus.WaitingForMigration).ToList())
        {
            Dequeued(r.NumTokensToCompute);
            Finish(r, RequestStatus.FinishedError);
            Fail(r, error);
        }
    }

    protected override (int, int, int, int) Counts()
    {
        HeldCount = _scheduler.NumHeld;
        return (_scheduler.NumWaiting, _scheduler.WaitingTokens, _scheduler.NumPrefilling, Kv.FreeBlocks);
    }

    public override void CancelAllAtShutdown()
    {
        foreach (var r in _scheduler.AllRequests.Where(r => r.Status != RequestStatus.WaitingForMigration).ToList())
        {
            Finish(r, RequestStatus.FinishedCancelled);
            Complete(r, FinishReason.Cancelled);
        }
        DrainInboxAtShutdown();
    }
}
