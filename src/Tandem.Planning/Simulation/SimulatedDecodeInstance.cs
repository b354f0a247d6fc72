using Tandem.Planning.Profiles;
using Tandem.Serving.Scheduling;

namespace Tandem.Planning.Simulation;

/// <summary>
/// DecodeInstance's loop on the virtual clock: a step pulls the KV of the requests the scheduler admits (bytes ÷ link
/// bandwidth, on the loop before the step computes, as the runtime's pull does), then runs one decode token for every
/// running request. Preempted requests go back to a prefill instance to be recomputed.
/// </summary>
internal sealed class SimulatedDecodeInstance : SimulatedInstance
{
    private readonly DecodeScheduler[] _schedulers;
    private readonly SchedulerOutput[] _inFlight;
    private readonly List<Request> _sampled = [];
    // Σ BlocksFor(NumComputedTokens + 1) over each engine's waiting requests: DecodeScheduler.WaitingBlocks kept up
    // to date as requests queue and get pulled, so routing does not walk the queue for every request.
    private readonly int[] _waitingBlocks;

    public SimulatedDecodeInstance(ServingSimulation sim, int index, ParallelConfig parallel, int kvBlocks, int maxNumSeqs, double watermarkFraction)
        : base(sim, index, parallel)
    {
        _schedulers = new DecodeScheduler[Engines];
        _inFlight = new SchedulerOutput[Engines];
        _waitingBlocks = new int[Engines];
        for (int e = 0; e < Engines; e++)
        {
            var kv = sim.NewKv(kvBlocks / Engines, null);
            _schedulers[e] = new DecodeScheduler(kv, maxNumSeqs, (int)Math.Ceiling(kv.TotalBlocks * watermarkFraction));
        }
    }

    public override int RunningCount { get { int n = 0; foreach (var s in _schedulers) n += s.NumRunning; return n; } }
    public override int MaxRequestBlocks => _schedulers[0].Kv.TotalBlocks;
    public override int FreeCapacityBlocks { get { int n = 0; for (int e = 0; e < Engines; e++) n += FreeFor(e); return n; } }

    private int FreeFor(int engine) => _schedulers[engine].Kv.FreeBlocks - _waitingBlocks[engine];

    /// <summary>A prefilled request queues here for migration.</summary>
    public void Migrate(Request request)
    {
        int engine = Engines == 1 ? 0 : LeastLoaded(e => -FreeFor(e));
        _schedulers[engine].AddRequest(request);
        _waitingBlocks[engine] += _schedulers[engine].Kv.BlocksFor(request.NumComputedTokens + 1);
        Sim.Kick(this);
    }

    protected override Plan ScheduleEngine(int engine, double now)
    {
        var scheduler = _schedulers[engine];
        var output = scheduler.Schedule(now);
        if (output.IsEmpty) return Plan.Idle;
        foreach (var victim in output.Preempted) Sim.Resubmit(victim);

        // Pulls run one after another on the loop; with p stages each moves its own layers' share at once.
        double pulls = 0;
        foreach (var r in output.ToPull)
        {
            _waitingBlocks[engine] -= scheduler.Kv.BlocksFor(r.NumComputedTokens + 1);
            long bytes = r.NumComputedTokens * Sim.Profile.KvBytesPerToken;
            double seconds = bytes / (Sim.Placement.LinkBytesPerSecond * Engines);
            r.Timeline.TransferStart ??= now + pulls;
            pulls += seconds;
            r.Timeline.TransferEnd ??= now + pulls;
            r.KvTransferBytes += bytes;
            // Import adopts a sequence of the prompt's length: exactly the blocks the scheduler checked were free.
            if (!scheduler.Kv.TryAllocateSlots(r, r.NumComputedTokens))
                throw new InvalidOperationException($"decode pool cannot take the {r.NumComputedTokens} tokens its scheduler admitted for {r.RequestId}");
            if (scheduler.Kv is PagedKvCacheManager paged) paged.SimulateComputed(r); // imported KV: computed, and cached here (Adopt)
            scheduler.OnMigrated(r);
            Sim.ReleaseAt(now + pulls, r);
        }

        if (output.Scheduled.Count == 0 && output.ToPull.Count == 0) return Plan.Again; // only preemptions: the state changed, schedule again
        foreach (var c in output.Scheduled) c.Request.Timeline.DecodeStart ??= now;
        _inFlight[engine] = output;
        return StepPlan(output, now, pulls);
    }

    protected override void CompleteEngine(int engine, double end)
    {
        var scheduler = _schedulers[engine];
        var output = _inFlight[engine];
        CollectSampling(output, _sampled);
        scheduler.UpdateFromOutput(output);
        Computed(scheduler.Kv, output);
        foreach (var r in _sampled)
        {
            if (!Sim.EmitToken(r, end)) continue;
            scheduler.FinishRequest(r, RequestStatus.FinishedLengthCapped);
            Sim.Finish(r, end);
        }
    }
}
