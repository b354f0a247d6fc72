using Tandem.Engine.Generation;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Instances;

/// <summary>
/// A colocated instance, the baseline: prompts and decodes share the transformer and the pool, mixed per
/// step by the <see cref="ColocatedPolicy"/> (vLLM prefill-first, or Sarathi-Serve chunked prefill).
/// </summary>
internal sealed class ColocatedInstance : ServingInstance
{
    private readonly ColocatedScheduler _scheduler;

    public ColocatedInstance(string name, IInstanceHost host, LanguageModel model, KvBlockPool pool, IReadOnlyList<int> cores,
        ColocatedPolicy policy, int tokenBudget, int maxNumSeqs, int watermarkBlocks, int maxContext, bool pin)
        : base(name, "colocated", host, model, pool, cores, Math.Max(tokenBudget, maxNumSeqs), maxContext, pin)
    {
        _scheduler = new ColocatedScheduler(Kv, policy, tokenBudget, maxNumSeqs, watermarkBlocks);
    }

    public ColocatedScheduler Scheduler => _scheduler;

    protected override void OnIntake(InstanceMessageKind kind, Request request)
    {
        if (kind != InstanceMessageKind.Submit) throw new InvalidOperationException($"{Name} takes only new requests");
        _scheduler.AddRequest(request);
    }

    protected override bool Step()
    {
        Recorder?.Begin();
        double now = Now;
        var output = _scheduler.Schedule(now);
        foreach (var victim in output.Preempted) Requeued(victim.NumTokensToCompute); // back in the queue, to recompute
        if (output.Scheduled.Count == 0)
        {
            Recorder?.Carry(output);
            return output.Preempted.Count > 0;
        }
        foreach (var c in output.Scheduled)
        {
            var r = c.Request;
            if (r.NumOutputTokens == 0 || r.NumTokensToCompute > 1) r.Timeline.PrefillStart ??= now;
            else r.Timeline.DecodeStart ??= now;
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
            var r = t.Request;
            r.Timeline.PrefillEnd ??= end;
            if (ProcessToken(t, end) is not { } finish) continue;
            _scheduler.FinishRequest(r, StatusOf(finish));
            Complete(r, finish);
        }
        Recorder?.End();
        return true;
    }

    protected override void HandleCancellations()
    {
        foreach (var r in _scheduler.AllRequests.Where(r => r.IsCancelRequested).ToList())
        {
            if (r.NumOutputTokens == 0 || r.NumTokensToCompute > 1) Dequeued(r.NumTokensToCompute);
            _scheduler.FinishRequest(r, RequestStatus.FinishedCancelled);
            Complete(r, FinishReason.Cancelled);
        }
    }

    protected override void FailAll(Exception error)
    {
        foreach (var r in _scheduler.AllRequests.ToList())
        {
            _scheduler.FinishRequest(r, RequestStatus.FinishedError);
            Fail(r, error);
        }
    }

    protected override (int, int, int, int) Counts() =>
        (_scheduler.NumWaiting, _scheduler.WaitingTokens, _scheduler.NumRunning, Kv.FreeBlocks);

    public override void CancelAllAtShutdown()
    {
        foreach (var r in _scheduler.AllRequests.ToList())
        {
            _scheduler.FinishRequest(r, RequestStatus.FinishedCancelled);
            Complete(r, FinishReason.Cancelled);
        }
        DrainInboxAtShutdown();
    }
}
