namespace Tandem.Serving.Scheduling;

/// <summary>
/// DistServe's prefill instance policy. FCFS: a step takes queued prompts in arrival order until the batch
/// reaches the token target L_m (the prompt tokens that saturate the instance; more only adds latency to
/// everyone in the batch). A prompt longer than L_m runs alone, chunked over several steps. A request is
/// admitted only when the pool can hold its whole prompt (allocated at admission, so partially computed
/// prompts never wait on each other). After its last chunk the request samples its first token and its
/// KV stays here, <see cref="RequestStatus.WaitingForMigration"/>, until a decode instance pulls it: the
/// pool is the queue buffer between the phases, and when it is full no new prompt starts. With prefix caching an
/// admitted prompt starts after its longest cached prefix, which costs neither compute nor budget.
/// No threads, no clock of its own: the caller passes the time, so a simulator can drive it.
/// </summary>
public sealed class PrefillScheduler
{
    private readonly IKvCacheManager _kv;
    private readonly List<Request> _waiting = [];
    private readonly List<Request> _prefilling = [];
    private readonly List<Request> _held = [];
    private readonly SchedulerOutput _output = new();

    public PrefillScheduler(IKvCacheManager kv, int tokenTarget)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokenTarget, 1);
        _kv = kv;
        TokenTarget = tokenTarget;
    }

    /// <summary>L_m: most prompt tokens per step.</summary>
    public int TokenTarget { get; }
    public IKvCacheManager Kv => _kv;
    public int NumWaiting => _waiting.Count;
    /// <summary>Requests admitted whose prompt is partly computed.</summary>
    public int NumPrefilling => _prefilling.Count;
    /// <summary>Prefilled requests whose KV waits here for a decode instance.</summary>
    public int NumHeld => _held.Count;
    /// <summary>Prompt tokens still to compute (queue length in tokens, for dispatch).</summary>
    public int WaitingTokens
    {
        get
        {
            int t = 0;
            foreach (var r in _waiting) t += r.NumTokensToCompute;
            foreach (var r in _prefilling) t += r.NumTokensToCompute;
            return t;
        }
    }
    public IReadOnlyList<Request> Held => _held;

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
        int budget = TokenTarget;
        foreach (var r in _prefilling)
        {
            if (budget == 0) break;
            int n = Math.Min(r.NumTokensToCompute, budget);
            o.Add(r, n);
            budget -= n;
        }
        while (budget > 0 && _waiting.Count > 0)
        {
            var r = _waiting[0];
            var cached = _kv.FindCachedPrefix(r);
            if (!_kv.TryAllocateSlots(r, r.NumTokens, cached)) break; // pool full (held KV is the buffer): FCFS, so stop
            _waiting.RemoveAt(0);
            _prefilling.Add(r);
            r.Status = RequestStatus.Running;
            r.NumComputedTokens = cached.Tokens; // the cached prefix is computed already; the rest is prefilled
            int n = Math.Min(r.NumTokensToCompute, budget);
            o.AddAdmitted(r, n, cached.Tokens);
            budget -= n;
        }
        return o;
    }

    /// <summary>
    /// Advances the computed counts; requests whose prompt is done move to the held set (their token is
    /// sampled by the caller, who then either finishes them or hands them to a decode instance).
    /// </summary>
    public void UpdateFromOutput(SchedulerOutput output)
    {
        foreach (var c in output.Scheduled)
        {
            bool done = c.SamplesToken;
            c.Request.NumComputedTokens += c.NumTokens;
            if (!done) continue;
            _prefilling.Remove(c.Request);
            _held.Add(c.Request);
            c.Request.Status = RequestStatus.WaitingForMigration;
        }
    }

    /// <summary>A decode instance has its copy (or the request ended): frees the held KV.</summary>
    public void ReleaseHeld(Request request)
    {
        if (_held.Remove(request)) _kv.Free(request);
    }

    /// <summary>Removes the request wherever it is here and frees its KV (finish, cancel, error).</summary>
    public void FinishRequest(Request request, RequestStatus status)
    {
        _waiting.Remove(request);
        _prefilling.Remove(request);
        _held.Remove(request);
        _kv.Free(request);
        request.Status = status;
    }

    public bool Contains(Request request) => _waiting.Contains(request) || _prefilling.Contains(request) || _held.Contains(request);
    public IEnumerable<Request> AllRequests => _waiting.Concat(_prefilling).Concat(_held);
}
