using Tandem.Planning.Profiles;
using Tandem.Serving.Scheduling;

namespace Tandem.Planning.Simulation;

/// <summary>PrefillInstance's loop on the virtual clock: FCFS prompt batches up to L_m, first token, then hand-over to decode.</summary>
internal sealed class SimulatedPrefillInstance : SimulatedInstance
{
    private readonly PrefillScheduler[] _schedulers;
    private readonly SchedulerOutput[] _inFlight;
    private readonly List<Request> _sampled = [];

    public SimulatedPrefillInstance(ServingSimulation sim, int index, ParallelConfig parallel, int kvBlocks, int tokenTarget)
        : base(sim, index, parallel)
    {
        _schedulers = new PrefillScheduler[Engines];
        _inFlight = new SchedulerOutput[Engines];
        CachedBlocks = sim.Placement.PrefixCaching ? new CachedBlockDirectory(kvBlocks) : null;
        for (int e = 0; e < Engines; e++)
            _schedulers[e] = new PrefillScheduler(sim.NewKv(kvBlocks / Engines, CachedBlocks), tokenTarget);
    }

    public override int RunningCount { get { int n = 0; foreach (var s in _schedulers) n += s.NumPrefilling; return n; } }
    public override int MaxRequestBlocks => _schedulers[0].Kv.TotalBlocks;

    public override void Submit(Request request)
    {
        QueuedTokens += request.NumTokensToCompute;
        _schedulers[LeastLoaded(e => _schedulers[e].NumWaiting + _schedulers[e].NumPrefilling)].AddRequest(request);
        Sim.Kick(this);
    }

    /// <summary>A decode instance has pulled the request's KV (or dropped it): free it here.</summary>
    public void Release(int engine, Request request)
    {
        _schedulers[engine].ReleaseHeld(request);
        Sim.Kick(this);
    }

    protected override Plan ScheduleEngine(int engine, double now)
    {
        var output = _schedulers[engine].Schedule(now);
        if (output.Scheduled.Count == 0) return Plan.Idle;
        foreach (var c in output.Scheduled) c.Request.Timeline.PrefillStart ??= now;
        _inFlight[engine] = output;
        return StepPlan(output, now);
    }

    protected override void CompleteEngine(int engine, double end)
    {
        var scheduler = _schedulers[engine];
        var output = _inFlight[engine]; // the scheduler reuses it only at its next Schedule

        CollectSampling(output, _sampled);
        scheduler.UpdateFromOutput(output);
        Computed(scheduler.Kv, output);
        QueuedTokens -= output.TotalTokens + output.CachedTokens; // as the runtime's queue: whole prompts, cached part too
        foreach (var r in _sampled)
        {
            r.Timeline.PrefillEnd ??= end;
            if (Sim.EmitToken(r, end))
            {
                scheduler.FinishRequest(r, RequestStatus.FinishedLengthCapped);
                Sim.Finish(r, end);
                continue;
            }
            Sim.RouteToDecode(r, this, engine);
        }
    }
}
