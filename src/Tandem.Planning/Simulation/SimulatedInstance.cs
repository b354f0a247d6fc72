using Tandem.Planning.Profiles;
using Tandem.Serving.Scheduling;

namespace Tandem.Planning.Simulation;

/// <summary>
/// One simulated instance: the runtime's instance loop (schedule → execute → update) with the execute replaced by
/// the profile's step time, around the runtime's own scheduler classes. Pipeline parallelism is modelled as vLLM runs
/// it: p virtual engines, each its own scheduler over a 1/p share of the KV pool, take turns entering the pipeline;
/// a micro-batch spends 1/p of the step's time in each stage, so up to p are in flight and each engine schedules
/// again only when its previous micro-batch has left the last stage. With p = 1 this is exactly the runtime's loop.
/// </summary>
internal abstract class SimulatedInstance : IEntryLoad, IDecodeLoad
{
    private readonly double[] _stageFree;
    private readonly bool[] _busy;
    private int _nextEngine;
    private double _wakeAt = double.NaN;

    protected SimulatedInstance(ServingSimulation sim, int index, ParallelConfig parallel)
    {
        Sim = sim;
        Index = index;
        Parallel = parallel;
        Latency = sim.Profile.For(parallel.Tp);
        _stageFree = new double[parallel.Pp];
        _busy = new bool[parallel.Pp];
    }

    protected ServingSimulation Sim { get; }
    public int Index { get; }
    public ParallelConfig Parallel { get; }
    protected ConfigLatency Latency { get; }
    protected int Engines => Parallel.Pp;

    /// <summary>
    /// With prefix caching, an entry instance's cached blocks as cache-aware routing reads them, or a decode instance's
    /// as conditional disaggregation reads them (its pools report to it; with pipeline stages, a block one virtual engine
    /// evicts counts as gone even if another holds it too).
    /// </summary>
    public CachedBlockDirectory? CachedBlocks { get; protected init; }
    /// <summary>Prompt tokens posted here and not yet computed (the controller's dispatch key).</summary>
    public int QueuedTokens { get; protected set; }
    public abstract int RunningCount { get; }
    public virtual int FreeCapacityBlocks => 0;
    /// <summary>The smallest pool of a virtual engine here: the largest request this instance can take, in blocks.</summary>
    public abstract int MaxRequestBlocks { get; }
    /// <summary>Set while queued in the simulation's list of instances to try scheduling on.</summary>
    public bool Kicked { get; set; }

    /// <summary>What an engine's scheduling decision asks for.</summary>
    protected readonly record struct Plan(PlanKind Kind, double Seconds = 0, double FirstStageExtra = 0)
    {
        public static Plan Idle => new(PlanKind.Idle);
        public static Plan Again => new(PlanKind.Again);
    }

    /// <summary>A step for <paramref name="output"/>: its time from the profile (plus <paramref name="pulls"/> on the first stage), or from a replayed trace.</summary>
    protected Plan StepPlan(SchedulerOutput output, double now, double pulls = 0)
    {
        if (Sim.Replay is { } replay) return new Plan(PlanKind.Step, replay.Step(Index, output, now) * Engines);
        return new Plan(PlanKind.Step, output.Scheduled.Count == 0 ? 0 : StepShape.Of(output).Seconds(Latency), pulls);
    }

    protected enum PlanKind { Idle, Again, Step }

    /// <summary>Schedules engine <paramref name="engine"/> at <paramref name="now"/>: a step of some seconds, nothing to do, or a changed state to schedule again (preemption only).</summary>
    protected abstract Plan ScheduleEngine(int engine, double now);
    /// <summary>The engine's micro-batch left the last stage at <paramref name="end"/>: update the scheduler, emit tokens.</summary>
    protected abstract void CompleteEngine(int engine, double end);

    /// <summary>Starts a micro-batch on every idle engine that has work while the first stage is free.</summary>
    public void TrySchedule(double now)
    {
        if (Sim.Replay?.NextStepStart(Index) is { } start && start > now)
        {
            Sim.WakeAt(start, this);
            return;
        }
        for (int tried = 0; tried < Engines;)
        {
            if (_stageFree[0] > now)
            {
                // The first stage is busy: come back when it frees (engines may be idle meanwhile).
                if (_wakeAt != _stageFree[0]) Sim.WakeAt(_stageFree[0], this);
                _wakeAt = _stageFree[0];
                return;
            }
            int e = _nextEngine;
            if (_busy[e]) { _nextEngine = (e + 1) % Engines; tried++; continue; }
            var plan = ScheduleEngine(e, now);
            if (plan.Kind == PlanKind.Again) continue; // preemptions changed the state: ask the same engine again
            _nextEngine = (e + 1) % Engines;
            if (plan.Kind == PlanKind.Idle) { tried++; continue; }
            StartMicroBatch(e, now, plan);
            tried = 0;
        }
    }

    private void StartMicroBatch(int engine, double now, in Plan plan)
    {
        double stage = plan.Seconds / Engines;
        double t = now;
        for (int s = 0; s < _stageFree.Length; s++)
        {
            double start = Math.Max(t, _stageFree[s]);
            t = start + stage + (s == 0 ? plan.FirstStageExtra : 0);
            _stageFree[s] = t;
        }
        _busy[engine] = true;
        Sim.CompleteAt(t, this, engine);
    }

    public void OnMicroBatchDone(int engine, double end)
    {
        _busy[engine] = false;
        CompleteEngine(engine, end);
        Sim.Kick(this);
    }

    /// <summary>A prompt (new or preempted elsewhere) posted to this instance.</summary>
    public virtual void Submit(Request request) => throw new InvalidOperationException("this instance takes no prompts");

    /// <summary>The engine, of those here, a new request joins: the least loaded by <paramref name="load"/> (vLLM's virtual engine choice).</summary>
    protected int LeastLoaded(Func<int, long> load)
    {
        int best = 0;
        long bestLoad = load(0);
        for (int e = 1; e < Engines; e++)
        {
            long l = load(e);
            if (l < bestLoad) { best = e; bestLoad = l; }
        }
        return best;
    }

    /// <summary>
    /// After the scheduler's update: the step's tokens are computed KV now. With prefix caching the pool is the runtime's
    /// (without storage), whose sequences and cache follow what the step computed; counting pools need nothing.
    /// </summary>
    protected static void Computed(IKvCacheManager kv, SchedulerOutput output)
    {
        if (kv is not PagedKvCacheManager paged) return;
        foreach (var c in output.Scheduled) paged.SimulateComputed(c.Request);
    }

    /// <summary>Chunks of <paramref name="output"/> that sample a token, read before the scheduler updates its counts.</summary>
    protected static void CollectSampling(SchedulerOutput output, List<Request> into)
    {
        into.Clear();
        foreach (var c in output.Scheduled)
            if (c.SamplesToken) into.Add(c.Request);
    }
}
