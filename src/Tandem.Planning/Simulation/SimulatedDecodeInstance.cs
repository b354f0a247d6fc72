using Tandem.Planning.Profiles;
using Tandem.Serving.Scheduling;

namespace Tandem.Planning.Simulation;

/// <summary>
/// DecodeInstance's loop on the virtual clock: a step pulls the KV of the requests the scheduler admits (the part its
/// prefix cache lacks: bytes ÷ link bandwidth, on the loop before the step computes, as the runtime's pull does), then
/// runs one decode token for every running request, with the chunks of prompts it prefills itself (conditional
/// disaggregation) riding along. Preempted requests go back to a prefill instance to be recomputed.
/// </summary>
internal sealed class SimulatedDecodeInstance : SimulatedInstance
{
    private readonly DecodeScheduler[] _schedulers;
    private readonly SchedulerOutput[] _inFlight;
    private readonly List<Request> _sampled = [];
    // Σ BlocksFor(NumComputedTokens + 1) over each engine's waiting requests: DecodeScheduler.WaitingBlocks kept up
    // to date as requests queue and get pulled, so routing does not walk the queue for every request.
    private readonly int[] _waitingBlocks;
    private readonly int[] _promptTokens; // of each engine's step in flight: local prompt tokens leaving the queue

    /// <param name="localPrefillBudget">Conditional disaggregation: most prompt tokens a step prefills here (0: none).</param>
    public SimulatedDecodeInstance(ServingSimulation sim, int index, ParallelConfig parallel, int kvBlocks, int maxNumSeqs, double watermarkFraction,
        int localPrefillBudget = 0)
        : base(sim, index, parallel)
    {
        _schedulers = new DecodeScheduler[Engines];
        _inFlight = new SchedulerOutput[Engines];
        _waitingBlocks = new int[Engines];
        _promptTokens = new int[Engines];
        // The controller reads what a decode instance caches only to send it prompts (as the runtime's decode instances report).
        CachedBlocks = sim.Placement.PrefixCaching && localPrefillBudget > 0 ? new CachedBlockDirectory(kvBlocks) : null;
        for (int e = 0; e < Engines; e++)
        {
            var kv = sim.NewKv(kvBlocks / Engines, CachedBlocks);
            _schedulers[e] = new DecodeScheduler(kv, maxNumSeqs, (int)Math.Ceiling(kv.TotalBlocks * watermarkFraction), localPrefillBudget);
        }
    }

    public override int RunningCount { get { int n = 0; foreach (var s in _schedulers) n += s.NumRunning; return n; } }
    public override int MaxRequestBlocks => _schedulers[0].Kv.TotalBlocks;
    public override int FreeCapacityBlocks { get { int n = 0; for (int e = 0; e < Engines; e++) n += FreeFor(e); return n; } }

    private int FreeFor(int engine) => _schedulers[engine].Kv.FreeBlocks - _waitingBlocks[engine];

    /// <summary>A prompt to prefill here (conditional disaggregation), on the engine with the most free KV.</summary>
    public override void Submit(Request request)
    {
        int engine = Engines == 1 ? 0 : LeastLoaded(e => -FreeFor(e));
        QueuedTokens += request.NumTokensToCompute;
        _schedulers[engine].AddLocalPrefill(request);
        Sim.Kick(this);
    }

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
        foreach (var prompt in output.ToPrefill)
        {
            QueuedTokens -= prompt.NumTokensToCompute; // it leaves this queue for a prefill instance's
            Sim.Resubmit(prompt);
        }

        // Pulls run one after another on the loop; with p stages each moves its own layers' share at once.
        double pulls = 0;
        foreach (var r in output.ToPull)
        {
            _waitingBlocks[engine] -= scheduler.Kv.BlocksFor(r.NumComputedTokens + 1);
            int reused = Import(scheduler.Kv, r);
            long bytes = (long)(r.NumComputedTokens - reused) * Sim.Profile.KvBytesPerToken;
            double seconds = bytes / (Sim.Placement.LinkBytesPerSecond * Engines);
            r.Timeline.TransferStart ??= now + pulls;
            pulls += seconds;
            r.Timeline.TransferEnd ??= now + pulls;
            r.KvTransferBytes += bytes;
            scheduler.OnMigrated(r);
            Sim.ReleaseAt(now + pulls, r);
        }

        if (output.Scheduled.Count == 0 && output.ToPull.Count == 0) return Plan.Again; // only preemptions or prompts sent away: the state changed, schedule again
        foreach (var c in output.Scheduled)
        {
            if (scheduler.IsLocalPrompt(c.Request)) c.Request.Timeline.PrefillStart ??= now;
            else c.Request.Timeline.DecodeStart ??= now;
        }
        _inFlight[engine] = output;
        _promptTokens[engine] = output.PrefillTokens + output.CachedTokens; // as the runtime's queue: the cached part leaves it too
        return StepPlan(output, now, pulls);
    }

    protected override void CompleteEngine(int engine, double end)
    {
        var scheduler = _schedulers[engine];
        var output = _inFlight[engine];
        CollectSampling(output, _sampled);
        scheduler.UpdateFromOutput(output);
        Computed(scheduler.Kv, output);
        QueuedTokens -= _promptTokens[engine];
        _promptTokens[engine] = 0;
        foreach (var r in _sampled)
        {
            r.Timeline.PrefillEnd ??= end; // a local prompt's first token (pulled requests have theirs already)
            if (!Sim.EmitToken(r, end)) continue;
            scheduler.FinishRequest(r, RequestStatus.FinishedLengthCapped);
            Sim.Finish(r, end);
        }
    }

    /// <summary>
    /// Takes in a migrating request's KV, as DecodeInstance does: the pool's cached prefix of it is reused
    /// (<see cref="PagedKvCacheManager.ReserveImport"/>), the rest imported; returns the tokens reused (not transferred).
    /// The scheduler checked the blocks are free.
    /// </summary>
    private static int Import(IKvCacheManager kv, Request r)
    {
        if (kv is not PagedKvCacheManager paged)
        {
            if (!kv.TryAllocateSlots(r, r.NumComputedTokens))
                throw new InvalidOperationException($"decode pool cannot take the {r.NumComputedTokens} tokens its scheduler admitted for {r.RequestId}");
            return 0;
        }
        var sequence = paged.ReserveImport(r)
            ?? throw new InvalidOperationException($"decode pool cannot take the {r.NumComputedTokens} tokens its scheduler admitted for {r.RequestId}");
        int reused = sequence.Length;
        sequence.SimulateComputed(r.NumComputedTokens);
        paged.Adopt(r, sequence); // imported KV: computed, and cached here
        return reused;
    }
}
