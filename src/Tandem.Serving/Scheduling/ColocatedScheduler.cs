namespace Tandem.Serving.Scheduling;

/// <summary>
/// One instance running both phases, continuous batching as in vLLM; the policy decides how a step mixes
/// them (<see cref="ColocatedPolicy"/>). Preemption is vLLM's recompute: when a running request cannot get
/// a slot, the newest running request loses its KV and goes to the front of the queue with prompt plus
/// output as its new prompt; its streamed output is kept, and the recomputation reproduces the same KV.
/// No threads, no clock of its own.
/// </summary>
public sealed class ColocatedScheduler
{
    private readonly IKvCacheManager _kv;
    private readonly List<Request> _waiting = [];
    private readonly RunningQueue _running = new();
    private readonly SchedulerOutput _output = new();

    /// <param name="tokenBudget">PrefillFirst: most prompt tokens per prefill step. Chunked: most tokens per step, decode included.</param>
    /// <param name="watermarkBlocks">Blocks kept free when admitting a new request while others run (vLLM's watermark).</param>
    public ColocatedScheduler(IKvCacheManager kv, ColocatedPolicy policy, int tokenBudget, int maxNumSeqs, int watermarkBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokenBudget, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxNumSeqs, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(watermarkBlocks);
        _kv = kv;
        Policy = policy;
        TokenBudget = tokenBudget;
        MaxNumSeqs = maxNumSeqs;
        WatermarkBlocks = watermarkBlocks;
    }

    public ColocatedPolicy Policy { get; }
    public int TokenBudget { get; }
    public int MaxNumSeqs { get; }
    public int WatermarkBlocks { get; }
    public IKvCacheManager Kv => _kv;
    public int NumWaiting => _waiting.Count;
    public int NumRunning => _running.Count;
    public int WaitingTokens { get { int t = 0; foreach (var r in _waiting) t += r.NumTokensToCompute; return t; } }

    public void AddRequest(Request request)
    {
        request.Status = RequestStatus.Waiting;
        request.NumComputedTokens = 0;
        _waiting.Add(request);
    }

    public SchedulerOutput Schedule(double now)
    {
        var o = _output;
        o.Clear(now);
        if (Policy == ColocatedPolicy.PrefillFirst)
        {
            SchedulePrompts(o, TokenBudget, allowPreemption: false);
            if (o.Scheduled.Count > 0) return o;
            ScheduleDecodes(o, MaxNumSeqs);
            return o;
        }
        int budget = TokenBudget;
        budget -= ScheduleDecodes(o, Math.Min(budget, MaxNumSeqs));
        SchedulePrompts(o, budget, allowPreemption: true);
        return o;
    }

    /// <summary>One token for every running request that is decoding, oldest first; returns the tokens used.</summary>
    private int ScheduleDecodes(SchedulerOutput o, int budget)
    {
        int used = 0;
        for (int i = 0; i < _running.Count && used < budget;)
        {
            var r = _running[i];
            if (r.NumTokensToCompute != 1 || r.NumOutputTokens == 0) { i++; continue; } // still in its prompt
            if (AllocateOrPreempt(r, r.NumComputedTokens + 1, o, out bool preemptedSelf))
            {
                o.Add(r, 1);
                used++;
                i++;
            }
            else if (preemptedSelf) break;
        }
        return used;
    }

    /// <summary>Continues partly computed prompts (oldest first), then admits waiting requests, FCFS, within the budget.</summary>
    private void SchedulePrompts(SchedulerOutput o, int budget, bool allowPreemption)
    {
        for (int i = 0; i < _running.Count && budget > 0;)
        {
            var r = _running[i];
            if (!(r.NumTokensToCompute > 1 || r.NumOutputTokens == 0)) { i++; continue; }
            int n = Math.Min(r.NumTokensToCompute, budget);
            if (!allowPreemption)
            {
                // PrefillFirst allocates the whole prompt at admission, so a continuing chunk needs nothing new.
                if (!_kv.TryAllocateSlots(r, r.NumComputedTokens + n)) { i++; continue; }
            }
            else if (!AllocateOrPreempt(r, r.NumComputedTokens + n, o, out bool preemptedSelf))
            {
                if (preemptedSelf) break;
                continue;
            }
            o.Add(r, n);
            budget -= n;
            i++;
        }
        // Preempted requests went back to the queue: not re-admitted in the step that evicted them.
        if (o.Preempted.Count > 0) return;
        while (budget > 0 && _waiting.Count > 0 && _running.Count < MaxNumSeqs)
        {
            var r = _waiting[0];
            // The longest cached prefix is taken as computed: only the rest costs budget.
            var cached = _kv.FindCachedPrefix(r);
            // PrefillFirst reserves the whole prompt now (vLLM v0); Chunked only the chunk (vLLM v1).
            int n = Math.Min(r.NumTokens - cached.Tokens, budget);
            int upTo = Policy == ColocatedPolicy.PrefillFirst ? r.NumTokens : cached.Tokens + n;
            int watermark = _running.Count > 0 ? WatermarkBlocks : 0;
            if (_kv.FreeBlocks - _kv.NewBlocksNeeded(r, upTo, cached) < watermark) break;
            if (!_kv.TryAllocateSlots(r, upTo, cached)) break;
            _waiting.RemoveAt(0);
            r.Status = RequestStatus.Running;
            r.NumComputedTokens = cached.Tokens;
            _running.Add(r);
            o.AddAdmitted(r, n, cached.Tokens);
            budget -= n;
        }
    }

    /// <summary>
    /// Gets slots up to <paramref name="totalTokens"/> for <paramref name="r"/>, preempting the newest
    /// running request until it fits. False when r itself was the newest and got preempted, or (never for a
    /// request that fits the pool alone) nothing is left to preempt.
    /// </summary>
    private bool AllocateOrPreempt(Request r, int totalTokens, SchedulerOutput o, out bool preemptedSelf)
    {
        preemptedSelf = false;
        while (!_kv.TryAllocateSlots(r, totalTokens))
        {
            var victim = _running.Newest;
            Preempt(victim, o);
            if (ReferenceEquals(victim, r)) { preemptedSelf = true; return false; }
        }
        return true;
    }

    private void Preempt(Request victim, SchedulerOutput o)
    {
        _running.Remove(victim);
        _kv.Free(victim);
        o.Unschedule(victim);
        victim.NumComputedTokens = 0;
        victim.NumPreemptions++;
        victim.Status = RequestStatus.Waiting;
        o.Preempted.Add(victim);
        _waiting.Insert(0, victim);
    }

    public void UpdateFromOutput(SchedulerOutput output)
    {
        foreach (var c in output.Scheduled) c.Request.NumComputedTokens += c.NumTokens;
    }

    public void FinishRequest(Request request, RequestStatus status)
    {
        _waiting.Remove(request);
        _running.Remove(request);
        _kv.Free(request);
        request.Status = status;
    }

    public IEnumerable<Request> AllRequests => _waiting.Concat(_running.Items);
}
