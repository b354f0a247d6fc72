using Tandem.Benchmark;
using Tandem.Benchmark.Client;
using Tandem.Benchmark.Workloads;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Planning.Profiles;
using Tandem.Serving;
using Tandem.Serving.Scheduling;

namespace Tandem.Planning.Simulation;

/// <summary>
/// One simulated run: the controller (dispatch through <see cref="DispatchPolicy"/>, as the runtime), the instances,
/// and a discrete-event queue on a virtual clock. Events are arrivals, micro-batches leaving their pipeline, first
/// stages freeing, and KV releases after a transfer; ties run in the order they were posted, so a run is a pure
/// function of its inputs. Requests are the schedulers' own <see cref="Request"/> objects; every request is generated
/// to its full answer length (the bench's ignore_eos). A later turn of a conversation (<see cref="BenchRequest.After"/>)
/// arrives its think time after the turn before it ended, as the bench sends it; with prefix caching its history is
/// then found in the cache of the instances that computed it.
/// </summary>
internal sealed class ServingSimulation
{
    private enum EventKind { Arrival, MicroBatchDone, Wake, Release, MigrationIntake }

    private readonly record struct SimEvent(EventKind Kind, SimulatedInstance? Instance, int Value);

    private readonly PriorityQueue<SimEvent, (double Time, long Seq)> _events = new();
    private readonly List<SimulatedInstance> _entry = [];
    private readonly List<SimulatedDecodeInstance> _decode = [];
    private readonly List<SimulatedInstance> _kicked = [];
    private readonly int _maxRequestBlocks;
    private long _seq;
    private Request?[] _bySubmitOrder = [];
    private (SimulatedPrefillInstance Instance, int Engine)[] _holders = [];
    private long _submitted;
    private IReadOnlyList<BenchRequest> _requests = [];
    private int[] _workloadIndex = [];      // by submit order: the request's index in the workload
    private List<int>?[] _followers = [];   // by workload index: the turns that wait for it to end

    public ServingSimulation(Placement placement, LatencyProfile profile)
    {
        placement.Validate();
        Placement = placement;
        Profile = profile;
        int index = 0;
        if (placement.Mode == ServingMode.Disaggregated)
        {
            int prefillBlocks = placement.KvBlocks(profile, placement.PrefillParallel);
            int decodeBlocks = placement.KvBlocks(profile, placement.DecodeParallel);
            for (int i = 0; i < placement.PrefillInstances; i++)
                _entry.Add(new SimulatedPrefillInstance(this, index++, placement.PrefillParallel, prefillBlocks, placement.PrefillTokenTarget));
            for (int i = 0; i < placement.DecodeInstances; i++)
                _decode.Add(new SimulatedDecodeInstance(this, index++, placement.DecodeParallel, decodeBlocks, placement.MaxNumSeqs, placement.WatermarkFraction,
                    placement.LocalPrefillThreshold));
        }
        else
        {
            var policy = placement.Mode == ServingMode.Chunked ? ColocatedPolicy.Chunked : ColocatedPolicy.PrefillFirst;
            int budget = placement.Mode == ServingMode.Chunked ? placement.ChunkBudget : placement.PrefillTokenTarget;
            int blocks = placement.KvBlocks(profile, placement.ColocatedParallel);
            for (int i = 0; i < placement.ColocatedInstances; i++)
                _entry.Add(new SimulatedColocatedInstance(this, index++, placement.ColocatedParallel, blocks, policy, budget, placement.MaxNumSeqs, placement.WatermarkFraction));
        }
        _maxRequestBlocks = _entry.Concat(_decode).Min(i => i.MaxRequestBlocks);
        if (_maxRequestBlocks < 1)
            throw new ArgumentException($"{placement}: an instance's KV pool holds no block of {placement.BlockSize} tokens");
    }

    /// <summary>
    /// A KV pool of <paramref name="blocks"/> for one scheduler: with prefix caching the runtime's own manager and pool
    /// (no storage: accounting, hashes and LRU only), reporting its cached blocks to <paramref name="directory"/>; else a counter.
    /// </summary>
    public IKvCacheManager NewKv(int blocks, CachedBlockDirectory? directory)
    {
        if (!Placement.PrefixCaching) return new CountingKvCacheManager(blocks, Placement.BlockSize);
        var pool = KvBlockPool.WithoutStorage(blocks, Placement.BlockSize);
        pool.EnablePrefixCaching(SimulatedModel);
        if (directory is not null) pool.PrefixListener = directory;
        _prefixHash ??= pool.PrefixHash;
        return new PagedKvCacheManager(pool);
    }

    private KvPrefixHash? _prefixHash; // the pools' common hash chain, for cache-aware routing
    private int _roundRobin;

    /// <summary>The fingerprint the simulated pools hash their blocks under (any fixed one: every pool of a run shares it).</summary>
    private static readonly ModelFingerprint SimulatedModel = new(0x73696d756c617465, 0x642d6d6f64656c00);

    /// <summary>Step times from a traced runtime run instead of the profile (tests).</summary>
    internal IStepReplay? Replay { get; init; }
    public Placement Placement { get; }
    public LatencyProfile Profile { get; }
    public double Now { get; private set; }
    /// <summary>Events processed: the work a run did (for measuring the simulator's speed).</summary>
    public long EventsProcessed { get; private set; }

    /// <summary>Plays <paramref name="requests"/> arriving at <paramref name="arrivalTimes"/> to the end; one record per request, in workload order.</summary>
    public RunResult Run(IReadOnlyList<BenchRequest> requests, IReadOnlyList<double> arrivalTimes)
    {
        if (arrivalTimes.Count != requests.Count) throw new ArgumentException("one arrival time per request is needed");
        var sim = new Request?[requests.Count];
        _bySubmitOrder = new Request?[requests.Count];
        _holders = new (SimulatedPrefillInstance, int)[requests.Count];
        _requests = requests;
        _workloadIndex = new int[requests.Count];
        _followers = new List<int>?[requests.Count];
        for (int i = 0; i < requests.Count; i++)
        {
            if (requests[i].After is not int after) continue;
            if (after < 0 || after >= i) throw new ArgumentException($"request {i} follows request {after}, which does not come before it");
            (_followers[after] ??= []).Add(i);
        }
        var rejected = new string?[requests.Count];
        // Arrivals are read in time order from the workload rather than all queued up front: the event queue then
        // holds only a few events per instance, whatever the number of requests. Later turns of conversations are
        // posted as events when the turn before them ends (their arrival times are ignored, as the bench does).
        // Equal times arrive in workload order (a stable sort), as the bench sends them.
        var order = Enumerable.Range(0, requests.Count).Where(i => requests[i].After is null).OrderBy(i => arrivalTimes[i]).ToArray();
        var sortedTimes = order.Select(i => arrivalTimes[i]).ToArray();
        int nextArrival = 0;
        var prompts = new PromptSlices(requests, distinct: Placement.PrefixCaching);
        while (true)
        {
            SimEvent e;
            if (nextArrival < order.Length && (_events.Count == 0 || _events.TryPeek(out _, out var head) && sortedTimes[nextArrival] <= head.Time))
            {
                e = new SimEvent(EventKind.Arrival, null, order[nextArrival]);
                Now = sortedTimes[nextArrival++];
            }
            else if (_events.TryDequeue(out e, out var key)) Now = key.Time;
            else break;
            EventsProcessed++;
            switch (e.Kind)
            {
                case EventKind.Arrival:
                    var b = requests[e.Value];
                    var prompt = prompts.For(b);
                    int submitOrder = (int)++_submitted;
                    var r = new Request(b.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), prompt, b.OutputTokens, submitOrder, Now);
                    sim[e.Value] = r;
                    _bySubmitOrder[submitOrder - 1] = r;
                    _workloadIndex[submitOrder - 1] = e.Value;
                    rejected[e.Value] = Admit(r);
                    if (rejected[e.Value] is not null) { Finish(r, Now); break; }
                    r.Timeline.PrefillQueued = Now;
                    if (!SubmitLocally(r)) Submit(r);
                    break;
                case EventKind.MicroBatchDone:
                    e.Instance!.OnMicroBatchDone(e.Value, Now);
                    break;
                case EventKind.Wake:
                    Kick(e.Instance!);
                    break;
                case EventKind.MigrationIntake:
                    _decode[DispatchPolicy.PickDecode(_decode)].Migrate(_bySubmitOrder[e.Value]!);
                    break;
                case EventKind.Release:
                    var released = _bySubmitOrder[e.Value]!;
                    var (holder, engine) = _holders[e.Value];
                    holder.Release(engine, released);
                    break;
            }
            // Everything that happens at this instant happens before anyone schedules (a loop drains its whole inbox
            // first); then the instances whose state changed schedule (a step may kick others: routing, resubmission).
            if (NextTime(sortedTimes, nextArrival) == Now) continue;
            for (int i = 0; i < _kicked.Count; i++)
            {
                var inst = _kicked[i];
                inst.Kicked = false;
                inst.TrySchedule(Now);
            }
            _kicked.Clear();
        }

        var records = new RequestRecord[requests.Count];
        double duration = 0;
        for (int i = 0; i < requests.Count; i++)
        {
            records[i] = sim[i] is { } r ? Record(requests[i], r, rejected[i]) : NeverSent(requests[i]);
            duration = Math.Max(duration, records[i].EndAt);
        }
        return new RunResult(records, duration);
    }

    /// <summary>The runtime's admission checks that a simulated request can fail: null when it is admitted.</summary>
    private string? Admit(Request r)
    {
        long total = (long)r.NumPromptTokens + r.MaxTokens;
        int blocks = (int)((total + Placement.BlockSize - 1) / Placement.BlockSize);
        return blocks <= _maxRequestBlocks ? null
            : $"the request needs KV cache for {total} tokens ({blocks} blocks of {Placement.BlockSize}) but an instance holds at most {_maxRequestBlocks} blocks";
    }

    private static RequestRecord Record(BenchRequest b, Request r, string? error)
    {
        var t = r.Timeline;
        return new RequestRecord
        {
            Index = b.Index,
            PromptTokens = b.PromptTokens,
            PromptTokensReported = error is null ? r.NumPromptTokens : null,
            // As usage.prompt_tokens_details.cached_tokens reports it (0 without prefix caching, as the server says).
            CachedPromptTokens = error is null ? r.NumCachedTokens : null,
            OutputTokensRequested = b.OutputTokens,
            OutputTokens = r.NumOutputTokens,
            OutputTokensFromUsage = true,
            ScheduledAt = t.Arrival,
            SentAt = t.Arrival,
            TokenTimes = t.TokenTimes,
            EndAt = t.End ?? t.Arrival,
            Success = error is null && t.End is not null,
            HttpStatus = error is null ? 200 : 400,
            Error = error ?? (t.End is null ? "the simulation ended with the request unfinished" : null),
            FinishReason = error is null ? "length" : null,
            ServerTimeline = error is not null ? null : new ServerTimeline
            {
                Arrival = t.Arrival,
                PrefillQueued = t.PrefillQueued,
                PrefillStart = t.PrefillStart,
                PrefillEnd = t.PrefillEnd,
                TransferStart = t.TransferStart,
                TransferEnd = t.TransferEnd,
                DecodeStart = t.DecodeStart,
                FirstToken = t.TokenTimes.Count > 0 ? t.TokenTimes[0] : null,
                End = t.End,
                TokenTimes = t.TokenTimes,
            },
        };
    }

    /// <summary>A later turn whose conversation stopped before it (the turn before it never ended).</summary>
    private static RequestRecord NeverSent(BenchRequest b) => new()
    {
        Index = b.Index,
        PromptTokens = b.PromptTokens,
        OutputTokensRequested = b.OutputTokens,
        ScheduledAt = 0,
        Success = false,
        Error = "the simulation ended before the turn this one follows",
    };

    /// <summary>
    /// Prompt token lists without a copy per request: the bench's ids when it drew them, else slices of one array of
    /// zeros, which prefix caching would take for one shared prompt: then each prompt starts with its own index instead
    /// (prompts without ids share nothing).
    /// </summary>
    private sealed class PromptSlices(IReadOnlyList<BenchRequest> requests, bool distinct)
    {
        private readonly int[] _zeros = new int[Math.Max(1, requests.Count == 0 ? 1 : requests.Max(r => r.PromptTokens))];

        public IReadOnlyList<int> For(BenchRequest b)
        {
            if (b.PromptTokenIds is { } ids) return ids;
            if (!distinct) return new ArraySegment<int>(_zeros, 0, Math.Max(1, b.PromptTokens));
            var own = new int[Math.Max(1, b.PromptTokens)];
            own[0] = b.Index + 1;
            return own;
        }
    }

    private double NextTime(double[] arrivals, int nextArrival)
    {
        double t = _events.TryPeek(out _, out var head) ? head.Time : double.PositiveInfinity;
        return nextArrival < arrivals.Length ? Math.Min(t, arrivals[nextArrival]) : t;
    }

    private void Post(double time, SimEvent e) => _events.Enqueue(e, (time, _seq++));

    public void Kick(SimulatedInstance instance)
    {
        if (instance.Kicked) return;
        instance.Kicked = true;
        _kicked.Add(instance);
    }

    public void WakeAt(double time, SimulatedInstance instance) => Post(time, new SimEvent(EventKind.Wake, instance, 0));
    public void CompleteAt(double time, SimulatedInstance instance, int engine) => Post(time, new SimEvent(EventKind.MicroBatchDone, instance, engine));
    /// <summary>The pull of <paramref name="r"/> ends at <paramref name="time"/>: then its prefill instance frees the held KV.</summary>
    public void ReleaseAt(double time, Request r) => Post(time, new SimEvent(EventKind.Release, null, (int)r.ArrivalOrder - 1));

    /// <summary>A prompt goes to an entry instance by <see cref="Placement.Routing"/>, with the runtime's rule.</summary>
    private void Submit(Request r)
    {
        int pick = 0;
        if (_entry.Count > 1)
        {
            if (Placement.Routing == EntryRouting.RoundRobin) pick = _roundRobin++ % _entry.Count;
            else if (Placement.Routing == EntryRouting.LeastLoaded || _prefixHash is not { } hash) pick = DispatchPolicy.PickEntry(_entry);
            else
            {
                Span<int> cached = _entry.Count <= 64 ? stackalloc int[_entry.Count] : new int[_entry.Count];
                CachedBlockDirectory.CachedTokens(hash, r.AllTokenIdSpan, _entry, static i => i.CachedBlocks, cached);
                pick = DispatchPolicy.PickEntryCacheAware(_entry, r.NumTokensToCompute, cached, Placement.CacheOverlapWeight);
            }
        }
        _entry[pick].Submit(r);
    }

    /// <summary>
    /// Conditional disaggregation, with the runtime's rule (<see cref="DispatchPolicy.PickLocalPrefill"/>): true when a
    /// decode instance took the prompt to prefill itself.
    /// </summary>
    private bool SubmitLocally(Request r)
    {
        if (Placement.LocalPrefillThreshold == 0 || _decode.Count == 0) return false;
        Span<int> cached = _decode.Count <= 64 ? stackalloc int[_decode.Count] : new int[_decode.Count];
        if (_prefixHash is { } hash) CachedBlockDirectory.CachedTokens(hash, r.AllTokenIdSpan, _decode, static i => i.CachedBlocks, cached);
        else cached.Clear();
        int pick = DispatchPolicy.PickLocalPrefill(_decode, cached, r.NumTokens, _entry, Placement.LocalPrefillThreshold, Placement.PrefillBusyTokens);
        if (pick < 0) return false;
        _decode[pick].Submit(r);
        return true;
    }

    /// <summary>A request preempted on a decode instance is prefilled again (prompt + its output so far), on a prefill instance as in the runtime.</summary>
    public void Resubmit(Request r) => Submit(r);

    public void RouteToDecode(Request r, SimulatedPrefillInstance holder, int engine)
    {
        _holders[r.ArrivalOrder - 1] = (holder, engine);
        if (Replay?.MigrationIntake(r) is { } at && at > Now) Post(at, new SimEvent(EventKind.MigrationIntake, null, (int)r.ArrivalOrder - 1));
        else _decode[DispatchPolicy.PickDecode(_decode)].Migrate(r);
    }

    /// <summary>Appends a generated token at <paramref name="time"/>; true when the request has its full answer.</summary>
    public bool EmitToken(Request r, double time)
    {
        r.AppendOutputToken(0);
        r.Timeline.TokenTimes.Add(time);
        return r.NumOutputTokens >= r.MaxTokens;
    }

    /// <summary>The request ended at <paramref name="time"/>: the conversation's next turn arrives its think time later.</summary>
    public void Finish(Request r, double time)
    {
        r.Timeline.End = time;
        if (_followers[_workloadIndex[r.ArrivalOrder - 1]] is not { } next) return;
        foreach (int f in next) Post(time + _requests[f].ThinkSeconds, new SimEvent(EventKind.Arrival, null, f));
    }
}
