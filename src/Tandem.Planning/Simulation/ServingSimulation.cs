using Tandem.Benchmark;
using Tandem.Benchmark.Client;
using Tandem.Benchmark.Workloads;
using Tandem.Planning.Profiles;
using Tandem.Serving;
using Tandem.Serving.Scheduling;

namespace Tandem.Planning.Simulation;

/// <summary>
/// One simulated run: the controller (dispatch through <see cref="DispatchPolicy"/>, as the runtime), the instances,
/// and a discrete-event queue on a virtual clock. Events are arrivals, micro-batches leaving their pipeline, first
/// stages freeing, and KV releases after a transfer; ties run in the order they were posted, so a run is a pure
/// function of its inputs. Requests are the schedulers' own <see cref="Request"/> objects; every request is generated
/// to its full answer length (the bench's ignore_eos).
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
                _decode.Add(new SimulatedDecodeInstance(this, index++, placement.DecodeParallel, decodeBlocks, placement.MaxNumSeqs, placement.WatermarkFraction));
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
        var rejected = new string?[requests.Count];
        // Arrivals are read in time order from the workload rather than all queued up front: the event queue then
        // holds only a few events per instance, whatever the number of requests.
        // Equal times arrive in workload order (a stable sort), as the bench sends them.
        var order = Enumerable.Range(0, requests.Count).OrderBy(i => arrivalTimes[i]).ToArray();
        var sortedTimes = order.Select(i => arrivalTimes[i]).ToArray();
        int nextArrival = 0;
        var prompts = new PromptSlices(requests);
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
                    rejected[e.Value] = Admit(r);
                    if (rejected[e.Value] is not null) { r.Timeline.End = Now; break; }
                    r.Timeline.PrefillQueued = Now;
                    Submit(r);
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
            records[i] = Record(requests[i], sim[i]!, rejected[i]);
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

    /// <summary>Prompt token lists without a copy per request: the bench's ids when it drew them, else slices of one array of zeros.</summary>
    private sealed class PromptSlices(IReadOnlyList<BenchRequest> requests)
    {
        private readonly int[] _zeros = new int[Math.Max(1, requests.Count == 0 ? 1 : requests.Max(r => r.PromptTokens))];

        public IReadOnlyList<int> For(BenchRequest b) => b.PromptTokenIds ?? (IReadOnlyList<int>)new ArraySegment<int>(_zeros, 0, Math.Max(1, b.PromptTokens));
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

    private void Submit(Request r) => _entry[DispatchPolicy.PickEntry(_entry)].Submit(r);
    /// <summary>A request preempted on a decode instance is prefilled again (prompt + its output so far).</summary>
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

    public void Finish(Request r, double time) => r.Timeline.End = time;
}
