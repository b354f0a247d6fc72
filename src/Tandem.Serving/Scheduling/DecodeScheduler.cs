namespace Tandem.Serving.Scheduling;

/// <summary>
/// DistServe's decode instance policy: continuous batching, one token per running request per step
/// (oldest first), and KV migration by pull. A request waiting for migration is pulled, FCFS, only when this
/// pool has room for its KV plus its next token, and still keeps a watermark free for the running
/// requests to grow (vLLM keeps the same 1% watermark at admission): pulling into a full pool would only
/// force a preemption a step later. When a running request cannot get a slot for its next token, the
/// newest running request is preempted by recompute: its KV here is freed and it goes back, prompt plus
/// the tokens it already streamed, to be prefilled again (its stream is kept). A pull from another process runs off
/// the loop: its request is transferring (<see cref="OnTransferStarted"/>), its blocks already taken, and counts
/// against the batch size, while the running requests go on decoding. At most <see cref="MaxTransfers"/> such pulls run
/// at once; the next waiting request's pull starts when one ends. No threads, no clock of its own.
/// <para>
/// Conditional disaggregation (Dynamo's and llm-d's choice): a prompt whose uncached part is short, or that would wait
/// behind a busy prefill pool, may be given to this instance directly (<see cref="AddLocalPrefill"/>). It is prefilled
/// here after its longest cached prefix, in chunks of at most <see cref="LocalPrefillBudget"/> tokens riding along the
/// decode steps (as Sarathi-Serve's chunks do), and joins the running requests once its first token is sampled: no
/// prefill instance, no transfer. It is admitted only with room for all of it beside the running requests' growth, and
/// otherwise waits or goes to a prefill instance after all (<see cref="SchedulerOutput.ToPrefill"/>).
/// </para>
/// </summary>
public sealed class DecodeScheduler
{
    private readonly IKvCacheManager _kv;
    private readonly List<Request> _waiting = [];
    private readonly List<Request> _transferring = [];
    private readonly RunningQueue _running = new();
    private readonly List<Request> _localWaiting = [];
    private readonly List<Request> _localPrefilling = [];
    private readonly SchedulerOutput _output = new();

    /// <summary>
    /// Pulls from other processes under way at once by default. Each holds a thread that waits on the network and the
    /// blocks reserved for its KV; the link is shared, so more at once would not move more bytes, only reserve more
    /// blocks earlier and delay every pull's end. A few still overlap one pull's round trips with another's bytes.
    /// </summary>
    public const int DefaultMaxTransfers = 4;

    /// <param name="localPrefillBudget">Most prompt tokens prefilled here per step (conditional disaggregation); 0: none.</param>
    /// <param name="maxTransfers">Most pulls from other processes under way at once (<see cref="DefaultMaxTransfers"/>).</param>
    public DecodeScheduler(IKvCacheManager kv, int maxNumSeqs, int watermarkBlocks, int localPrefillBudget = 0, int maxTransfers = DefaultMaxTransfers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxNumSeqs, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(watermarkBlocks);
        ArgumentOutOfRangeException.ThrowIfNegative(localPrefillBudget);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTransfers, 1);
        _kv = kv;
        MaxNumSeqs = maxNumSeqs;
        WatermarkBlocks = watermarkBlocks;
        LocalPrefillBudget = localPrefillBudget;
        MaxTransfers = maxTransfers;
    }

    /// <summary>
    /// Most pulls from other processes (KV whose source <see cref="IKvSource.IsRemote"/>) under way at once. Pulls within
    /// this process are memory copies done on the loop, and are not counted.
    /// </summary>
    public int MaxTransfers { get; }

    /// <summary>Most prompt tokens of local prefills per step (0: this instance takes no prompts).</summary>
    public int LocalPrefillBudget { get; }

    /// <summary>Most requests in one decode step (the forward batch size).</summary>
    public int MaxNumSeqs { get; }
    /// <summary>Blocks left free after a pull while requests run (0 when none run, so a lone request always fits).</summary>
    public int WatermarkBlocks { get; }
    public IKvCacheManager Kv => _kv;
    /// <summary>Waiting for their KV: queued for a pull, or with a pull under way.</summary>
    public int NumWaiting => _waiting.Count + _transferring.Count + _localWaiting.Count;
    /// <summary>Requests whose KV is on its way from another process (their blocks already taken here).</summary>
    public int NumTransferring => _transferring.Count;
    public int NumRunning => _running.Count + _localPrefilling.Count;
    /// <summary>Blocks the waiting requests will need once pulled (for the controller's capacity estimate).</summary>
    public int WaitingBlocks { get { int b = 0; foreach (var r in _waiting) b += _kv.BlocksFor(r.NumComputedTokens + 1); return b; } }
    public int WaitingTokens
    {
        get
        {
            int t = 0;
            foreach (var r in _waiting) t += r.NumComputedTokens;
            foreach (var r in _localWaiting) t += r.NumTokensToCompute;
            return t;
        }
    }

    /// <summary>A prefilled request (NumComputedTokens = its KV length elsewhere) queues for migration.</summary>
    public void AddRequest(Request request)
    {
        request.Status = RequestStatus.WaitingForMigration;
        _waiting.Add(request);
    }

    /// <summary>A prompt to prefill here (conditional disaggregation): it queues behind the other local prompts.</summary>
    public void AddLocalPrefill(Request request)
    {
        if (LocalPrefillBudget == 0) throw new InvalidOperationException("this decode instance prefills no prompts (its local prefill budget is 0)");
        request.Status = RequestStatus.Waiting;
        request.NumComputedTokens = 0;
        _localWaiting.Add(request);
    }

    /// <summary>Whether the request is a prompt being (or waiting to be) prefilled here.</summary>
    public bool IsLocalPrompt(Request request) => _localWaiting.Contains(request) || _localPrefilling.Contains(request);

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
        int admitted = _running.Count + _transferring.Count; // transferring requests run once their KV is in
        int watermark = admitted > 0 ? WatermarkBlocks : 0;
        int transfers = _transferring.Count;
        while (_waiting.Count > 0 && admitted + o.ToPull.Count < MaxNumSeqs)
        {
            var r = _waiting[0];
            bool remote = r.Migration is { IsRemote: true };
            if (remote && transfers >= MaxTransfers) break; // FCFS: the others wait for a pull to end
            int need = _kv.BlocksFor(r.NumComputedTokens + 1);
            if (free - need < (admitted + o.ToPull.Count > 0 ? watermark : 0) || need > free) break;
            free -= need;
            _waiting.RemoveAt(0);
            o.ToPull.Add(r);
            if (remote) transfers++;
        }
        ScheduleLocalPrompts(o);
        return o;
    }

    /// <summary>
    /// Continues local prompts (oldest first), then admits waiting ones after their cached prefix, within the budget. A
    /// prompt is admitted with the blocks of its whole prompt (as a prefill instance admits one), so its later chunks
    /// take none: it never waits for room while holding some, behind pulls or the running requests' growth. And it is
    /// admitted only when those blocks fit beside what the requests here grow by while it is prefilled, so its chunks
    /// never force a running request out. One that does not fit (blocks, or a place in the batch) waits while nothing
    /// else wants the room (the requests here free it as they end); when a pull wants room too, or it could never fit
    /// here, it goes to a prefill instance instead (<see cref="SchedulerOutput.ToPrefill"/>). So prompts of any length
    /// (<c>--prefill-busy-tokens</c>) can neither hold each other up here nor keep pulls out, and none waits without bound.
    /// </summary>
    private void ScheduleLocalPrompts(SchedulerOutput o)
    {
        // Blocks promised to this step's pulls (reserved when the loop starts them, after this) are not free for a prompt.
        int pulledBlocks = 0;
        foreach (var p in o.ToPull) pulledBlocks += _kv.BlocksFor(p.NumComputedTokens + 1);
        int budget = LocalPrefillBudget;
        foreach (var r in _localPrefilling)
        {
            if (budget == 0) return;
            int n = Math.Min(r.NumTokensToCompute, budget);
            o.Add(r, n); // its blocks were taken at admission
            budget -= n;
        }
        int admitted = _running.Count + _transferring.Count + o.ToPull.Count + _localPrefilling.Count;
        // A pull chosen this step or still waiting wants the room (blocks or a place in the batch) too.
        bool contested = _waiting.Count > 0 || o.ToPull.Count > 0;
        while (budget > 0 && _localWaiting.Count > 0)
        {
            var r = _localWaiting[0];
            if (admitted >= MaxNumSeqs)
            {
                if (!contested) break; // waits (FCFS) for a request here to end
                SendToPrefill(o);
                continue;
            }
            var cached = _kv.FindCachedPrefix(r);
            int uncached = r.NumTokens - cached.Tokens;
            // Its prompt and first token, as a pull is counted.
            int need = _kv.NewBlocksNeeded(r, r.NumTokens + 1, cached);
            int chunk = Math.Min(uncached, budget);
            int steps = 1 + (uncached - chunk + LocalPrefillBudget - 1) / LocalPrefillBudget; // its chunks: this one, then a full budget each
            int watermark = admitted > 0 ? WatermarkBlocks : 0;
            if (_kv.FreeBlocks - pulledBlocks - need - GrowthBlocks(o, steps) < watermark || !_kv.TryAllocateSlots(r, r.NumTokens, cached))
            {
                if (!contested && need <= _kv.TotalBlocks) break; // waits (FCFS): the requests here free blocks as they end
                SendToPrefill(o);
                continue;
            }
            _localWaiting.RemoveAt(0);
            _localPrefilling.Add(r);
            r.Status = RequestStatus.Running;
            r.NumComputedTokens = cached.Tokens;
            o.AddAdmitted(r, chunk, cached.Tokens);
            admitted++;
            budget -= chunk;
        }
    }

    /// <summary>The first waiting local prompt leaves for a prefill instance (it holds nothing here).</summary>
    private void SendToPrefill(SchedulerOutput o)
    {
        o.ToPrefill.Add(_localWaiting[0]);
        _localWaiting.RemoveAt(0);
    }

    /// <summary>
    /// Blocks the requests here take to grow by <paramref name="steps"/> tokens each (none past its max_tokens): the
    /// running ones, those joining them (pulls under way or chosen this step) and the prompts being prefilled here.
    /// </summary>
    private int GrowthBlocks(SchedulerOutput o, int steps)
    {
        int blocks = 0;
        for (int i = 0; i < _running.Count; i++) blocks += GrowthBlocks(_running[i], steps);
        foreach (var r in _transferring) blocks += GrowthBlocks(r, steps);
        foreach (var r in o.ToPull) blocks += GrowthBlocks(r, steps);
        foreach (var r in _localPrefilling) blocks += GrowthBlocks(r, steps);
        return blocks;
    }

    private int GrowthBlocks(Request r, int steps) =>
        Math.Max(0, _kv.BlocksFor(Math.Min(r.NumTokens + steps, r.NumPromptTokens + r.MaxTokens)) - _kv.BlocksFor(r.NumTokens));

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

    /// <summary>
    /// The pull of <paramref name="request"/> (scheduled in <see cref="SchedulerOutput.ToPull"/>, its blocks reserved)
    /// runs off the loop: it counts as admitted until <see cref="OnMigrated"/> or <see cref="OnMigrationFailed"/>.
    /// </summary>
    public void OnTransferStarted(Request request) => _transferring.Add(request);

    /// <summary>The pull of <paramref name="request"/> is done (its KV now in this pool): it joins the next step.</summary>
    public void OnMigrated(Request request)
    {
        _transferring.Remove(request);
        request.Status = RequestStatus.Running;
        _running.Add(request);
    }

    /// <summary>A pull that failed: the request leaves without KV here.</summary>
    public void OnMigrationFailed(Request request)
    {
        _transferring.Remove(request);
        request.Status = RequestStatus.FinishedError;
    }

    /// <summary>Whether the request's KV is on its way (a pull off the loop).</summary>
    public bool IsTransferring(Request request) => _transferring.Contains(request);

    /// <summary>Advances computed counts; a local prompt whose first token is now sampled joins the running requests.</summary>
    public void UpdateFromOutput(SchedulerOutput output)
    {
        foreach (var c in output.Scheduled)
        {
            bool sampled = c.SamplesToken;
            c.Request.NumComputedTokens += c.NumTokens;
            if (sampled && _localPrefilling.Remove(c.Request)) _running.Add(c.Request);
        }
    }

    public void FinishRequest(Request request, RequestStatus status)
    {
        _waiting.Remove(request);
        _transferring.Remove(request);
        _localWaiting.Remove(request);
        _localPrefilling.Remove(request);
        _running.Remove(request);
        _kv.Free(request);
        request.Status = status;
    }

    public bool IsWaiting(Request request) => _waiting.Contains(request);
    public IEnumerable<Request> AllRequests => _waiting.Concat(_transferring).Concat(_localWaiting).Concat(_localPrefilling).Concat(_running.Items);
}
