using Tandem.Planning.Profiles;
using Tandem.Serving.Scheduling;

namespace Tandem.Planning.Simulation;

/// <summary>ColocatedInstance's loop on the virtual clock: prompts and decodes share steps as the policy mixes them.</summary>
internal sealed class SimulatedColocatedInstance : SimulatedInstance
{
    private readonly ColocatedScheduler[] _schedulers;
    private readonly SchedulerOutput[] _inFlight;
    private readonly int[] _promptTokens;
    private readonly List<Request> _sampled = [];

    public SimulatedColocatedInstance(ServingSimulation sim, int index, ParallelConfig parallel, int kvBlocks,
        ColocatedPolicy policy, int tokenBudget, int maxNumSeqs, double watermarkFraction)
        : base(sim, index, parallel)
    {
        _schedulers = new ColocatedScheduler[Engines];
        _inFlight = new SchedulerOutput[Engines];
        _promptTokens = new int[Engines];
        CachedBlocks = sim.Placement.PrefixCaching ? new CachedBlockDirectory(kvBlocks) : null;
        for (int e = 0; e < Engines; e++)
        {
            var kv = sim.NewKv(kvBlocks / Engines, CachedBlocks);
            _schedulers[e] = new ColocatedScheduler(kv, policy, tokenBudget, maxNumSeqs, (int)Math.Ceiling(kv.TotalBlocks * watermarkFraction));
        }
    }

    public override int RunningCount { get { int n = 0; foreach (var s in _schedulers) n += s.NumRunning; return n; } }
    public override int MaxRequestBlocks => _schedulers[0].Kv.TotalBlocks;

    public override void Submit(Request request)
    {
        QueuedTokens += request.NumTokensToCompute;
        _schedulers[LeastLoaded(e => _schedulers[e].NumWaiting + _schedulers[e].NumRunning)].AddRequest(request);
        Sim.Kick(this);
    }

    protected override Plan ScheduleEngine(int engine, double now)
    {
        var output = _schedulers[engine].Schedule(now);
        foreach (var victim in output.Preempted) QueuedTokens += victim.NumTokensToCompute; // back in the queue, to recompute
        if (output.Scheduled.Count == 0) return output.Preempted.Count > 0 ? Plan.Again : Plan.Idle;
        foreach (var c in output.Scheduled)
        {
            var r = c.Request;
            if (r.NumOutputTokens == 0 || r.NumTokensToCompute > 1) r.Timeline.PrefillStart ??= now;
            else r.Timeline.DecodeStart ??= now;
        }
        _inFlight[engine] = output;
        _promptTokens[engine] = output.PrefillTokens + output.CachedTokens; // as the runtime's queue: the cached part leaves it too
        return StepPlan(output, now);
    }

    protected override void CompleteEngine(int engine, double end)
    {
        var scheduler = _schedulers[engine];
        var output = _inFlight[engine];
        CollectSampling(output, _sampled);
        scheduler.UpdateFromOutput(output);
        Computed(scheduler.Kv, output);
        QueuedTokens -= _promptTokens[engine];
        foreach (var r in _sampled)
        {
            r.Timeline.PrefillEnd ??= end;
            if (!Sim.EmitToken(r, end)) continue;
            scheduler.FinishRequest(r, RequestStatus.FinishedLengthCapped);
            Sim.Finish(r, end);
        }
    }
}
