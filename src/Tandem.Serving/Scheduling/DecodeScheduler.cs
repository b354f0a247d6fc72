namespace Tandem.Serving.Scheduling;

/// <summary>
/// DistServe's decode instance policy: continuous batching, one token per running request per step
/// (oldest first), and KV migration by pull. A request waiting for migration is pulled, FCFS, only when this
/// pool has room for its KV plus its next token, and still keeps a watermark free for the running
/// requests to grow (vLLM keeps the same 1% watermark at admission): pulling into a full pool would only
/// force a preemption a step later. When a running request cannot get a slot for its next token, the
/// newest running request is preempted by recompute: its KV here is freed and it goes back, prompt plus
/// the tokens it already streamed, to be prefilled again (its stream is kept). No threads, no clock of its own.
/// </summary>
public sealed class DecodeScheduler
{
    private readonly IKvCacheManager _kv;
    private readonly List<Request> _waiting = [];
    private readonly RunningQueue _running = new();
    private readonly SchedulerOutput _output = new();

    public DecodeScheduler(IKvCacheManager kv, int maxNumSeqs, int watermarkBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxNumSeqs, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(watermarkBlocks);
        _kv = kv;
        MaxNumSeqs = maxNumSeqs;
        WatermarkBlocks = watermarkBlocks;
    }

    /// <summary>Most requests in one decode step (the forward batch size).</summary>
    public int MaxNumSeqs { get; }
    /// <summary>Blocks left free after a pull while requests run (0 when none run, so a lone request always fits).</summary>
    public int WatermarkBlocks { get; }
    public IKvCacheManager Kv => _kv;
    public int NumWaiting => _waiting.Count;
    public int NumRunning => _running.Count;
    /// <summary>Blocks the waiting requests will need once pulled (for the controller's capacity estimate).</summary>
    public int WaitingBlocks { get { int b = 0; foreach (var r in _waiting) b += _kv.BlocksFor(r.NumComputedTokens + 1); return b; } }
    public int WaitingTokens { get { int t = 0; foreach (var r in _waiting) t += r.NumComputedTokens; return t; } }

    /// <summary>A prefilled request (NumComputedTokens = its KV length elsewhere) queues for migration.</summary>
    public void AddRequest(Request request)
    {
        request.Status = RequestStatus.WaitingForMigration;
        _waiting.Add(request);
    }

    public SchedulerOutput Schedule(double now)
    {
        var o = _output;
        o.Clear(now);
        for (int i = 0; i < _running.Count && o.Scheduled.Count < MaxNumSeqs;)
        {
            var r = _running[i];
            if (_kv.TryAllocateSlots(r, r.NumComputedTokens + 1))
            {
                o.Add(r, 1);
                i++;
                continue;
            }
            var victim = _running.Newest;
            Preempt(victim, o);
            if (ReferenceEquals(victim, r)) break;
        }
        if (o.Preempted.Count > 0) return o; // short of memory already: pull nothing

        int free = _kv.FreeBlocks;
        int watermark = _running.Count > 0 ? WatermarkBlocks : 0;
        while (_waiting.Count > 0 && _running.Count + o.ToPull.Count < MaxNumSeqs)
        {
            var r = _waiting[0];
            int need = _kv.BlocksFor(r.NumComputedTokens + 1);
            if (free - need < (_running.Count + o.ToPull.Count > 0 ? watermark : 0) || need > free) break;
            free -= need;
            _waiting.RemoveAt(0);
            o.ToPull.Add(r);
        }
        return o;
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
    }

    /// <summary>The pull of <paramref name="request"/> is done (its KV now in this pool): it joins the next step.</summary>
    public void OnMigrated(Request request)
    {
        request.Status = RequestStatus.Running;
        _running.Add(request);
    }

    /// <summary>A pull that failed: the request leaves without KV here.</summary>
    public void OnMigrationFailed(Request request) => request.Status = RequestStatus.FinishedError;

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

    public bool IsWaiting(Request request) => _waiting.Contains(request);
    public IEnumerable<Request> AllRequests => _waiting.Concat(_running.Items);
}
