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

    public SimulatedDecodeInstance(ServingSimulation sim, int index, ParallelConfig parallel, int kvBlocks, int maxNumSeqs, double watermarkFraction)
        : base(sim, index, parallel)
    {
        _schedulers = new DecodeScheduler[Engines];
        _inFlight = new SchedulerOutput[Engines];
        for (int e = 0; e < Engines; e++)
        {
            var kv = new CountingKvCacheManager(kvBlocks / Engines, sim.Placement.BlockSize);
            _schedulers[e] = new DecodeScheduler(kv, maxNumSeqs, (int)Math.Ceiling(kv.TotalBlocks * watermarkFraction));
        }
    }

    public override int RunningCount { get { int n = 0; foreach (var s in _schedulers) n += s.NumRunning; return n; } }
    public override int MaxRequestBlocks => _schedulers[0].Kv.TotalBlocks;
    public override int FreeCapacityBlocks { get { int n = 0; foreach (var s in _schedulers) n += FreeFor(s); return n; } }

    private static int FreeFor(DecodeScheduler s) => s.Kv.FreeBlocks - s.WaitingBlocks;

    /// <summary>A prefilled request queues here for migration.</summary>
    public void Migrate(Request request)
    {
        _schedulers[LeastLoaded(e => -FreeFor(_schedulers[e]))].AddRequest(request);
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
            long bytes = r.NumComputedTokens * Sim.Profile.KvBytesPerToken;
            double seconds = bytes / (Sim.Placement.LinkBytesPerSecond * Engines);
            r.Timeline.TransferStart ??= now + pulls;
            pulls += seconds;
            r.Timeline.TransferEnd ??= now + pulls;
            r.KvTransferBytes += bytes;
            // Import adopts a sequence of the prompt's length: exactly the blocks the scheduler checked were free.
            if (!scheduler.Kv.TryAllocateSlots(r, r.NumComputedTokens))
                throw new InvalidOperationException($"decode pool cannot take the {r.NumComputedTokens} tokens its scheduler admitted for {r.RequestId}");
            scheduler.OnMigrated(r);
            Sim.ReleaseAt(now + pulls, r);
        }

        if (output.Scheduled.Count == 0)
        {
            if (output.ToPull.Count == 0) return Plan.Again; // only preemptions: the state changed, schedule again
            _inFlight[engine] = output;
            return Plan.Step(0, pulls);
        }
        foreach (var c in output.Scheduled) c.Request.Timeline.DecodeStart ??= now;
        _inFlight[engine] = output;
        return Plan.Step(StepShape.Of(output).Seconds(Latency), pulls);
    }

    protected override void CompleteEngine(int engine, double end)
    {
        var scheduler = _schedulers[engine];
        var output = _inFlight[engine];
        CollectSampling(output, _sampled);
        scheduler.UpdateFromOutput(output);
        foreach (var r in _sampled)
        {
            if (!Sim.EmitToken(r, end)) continue;
            scheduler.FinishRequest(r, RequestStatus.FinishedLengthCapped);
            Sim.Finish(r, end);
        }
    }
}
