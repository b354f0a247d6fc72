using Tandem.Engine.Generation;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Instances;

/// <summary>
/// DistServe's decode instance: continuous batching over its running requests, and KV migration by pull.
/// A pull exports the sequence from the prefill pool (this thread reads those blocks: the prefill
/// instance does not touch a held sequence) through an in-process stream in the engine's transfer format,
/// imports it into this pool, and tells the prefill instance to free its copy. Preempted requests go back
/// to the controller to be prefilled again (recompute). With a local prefill budget it also takes prompts the
/// controller sends it directly (conditional disaggregation, see <see cref="DecodeScheduler"/>).
/// </summary>
internal sealed class DecodeInstance : ServingInstance
{
    private readonly DecodeScheduler _scheduler;
    private readonly ModelFingerprint _fingerprint;
    // One buffer reused by every transfer; it grows to the largest payload seen.
    private readonly MemoryStream _transfer = new();

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
        double now = Now;
        var output = _scheduler.Schedule(now);
        if (output.IsEmpty) return false;

        foreach (var victim in output.Preempted)
            Host.Resubmit(victim); // recompute on a prefill instance; the stream and its tokens are kept

        foreach (var r in output.ToPull) Pull(r);

        if (output.Scheduled.Count == 0)
        {
            TraceStep(now, Now, output);
            return true;
        }
        foreach (var c in output.Scheduled)
        {
            if (_scheduler.IsLocalPrompt(c.Request)) c.Request.Timeline.PrefillStart ??= now;
            else c.Request.Timeline.DecodeStart ??= now;
        }
        int promptTokens = output.PrefillTokens + output.CachedTokens;
        var sampled = Runner.Execute(output, Kv);
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
        return true;
    }

    private void Pull(Request r)
    {
        var source = r.Migration ?? throw new InvalidOperationException($"request {r.RequestId} has no KV to pull");
        r.Timeline.TransferStart ??= Now;
        try
        {
            var sequence = source.PullInto(Kv.Pool, _fingerprint, _transfer, out long bytes);
            r.KvTransferBytes += bytes;
            Kv.Adopt(r, sequence);
            r.Timeline.TransferEnd ??= Now;
            _scheduler.OnMigrated(r);
        }
        catch (Exception e)
        {
            _scheduler.OnMigrationFailed(r);
            Fail(r, new KvLostException($"KV migration of request {r.RequestId} failed: {e.Message}", e));
        }
        finally
        {
            r.Migration = null;
            source.Release();
        }
    }

    protected override void HandleCancellations()
    {
        foreach (var r in _scheduler.AllRequests.Where(r => r.IsCancelRequested).ToList())
        {
            if (_scheduler.IsLocalPrompt(r)) Dequeued(r.NumTokensToCompute);
            bool waiting = _scheduler.IsWaiting(r);
            _scheduler.FinishRequest(r, RequestStatus.FinishedCancelled);
            if (waiting && r.Migration is { } source)
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
            if (r.Migration is { } source) { r.Migration = null; source.Release(); }
            Fail(r, error);
        }
    }

    protected override (int, int, int, int) Counts() =>
        (_scheduler.NumWaiting, _scheduler.WaitingTokens, _scheduler.NumRunning, Kv.FreeBlocks - _scheduler.WaitingBlocks);

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
