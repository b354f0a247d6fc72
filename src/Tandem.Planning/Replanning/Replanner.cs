using System.Globalization;
using Tandem.Benchmark.Workloads;
using Tandem.Planning.Profiles;
using Tandem.Planning.Search;
using Tandem.Serving;

namespace Tandem.Planning.Replanning;

/// <summary>How the server watches its workload for re-planning.</summary>
public sealed record ReplanOptions
{
    /// <summary>Seconds of traffic the observed workload summarises (<c>--replan-window</c>).</summary>
    public double WindowSeconds { get; init; } = 60;
    /// <summary>Relative change of the rate or of a mean length, against what the current plan was made for, that triggers a re-plan (<c>--replan-threshold</c>; 0.25 = 25%).</summary>
    public double Threshold { get; init; } = 0.25;
    /// <summary>Fewest requests in the window before it is trusted.</summary>
    public int MinRequests { get; init; } = 20;
    /// <summary>Goodput searches a re-plan runs at once: 1 keeps it to one core beside the serving instances.</summary>
    public int PlannerThreads { get; init; } = 1;

    public void Validate()
    {
        if (!(WindowSeconds > 0) || double.IsInfinity(WindowSeconds)) throw new ArgumentOutOfRangeException(nameof(WindowSeconds), $"--replan-window must be positive seconds, got {WindowSeconds}");
        if (!(Threshold > 0) || double.IsInfinity(Threshold)) throw new ArgumentOutOfRangeException(nameof(Threshold), $"--replan-threshold must be a positive fraction (0.25 = 25%), got {Threshold}");
        ArgumentOutOfRangeException.ThrowIfLessThan(MinRequests, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(PlannerThreads, 1);
    }
}

/// <summary>What GET /plan shows: the placement running, what the planner recommends for the traffic seen, and why.</summary>
public sealed record ReplanStatus
{
    public required PlannedPlacement Current { get; init; }
    /// <summary>The workload the latest plan was made for (the plan file's, then each re-plan's observation).</summary>
    public required ObservedWorkload PlannedFor { get; init; }
    public ObservedWorkload? Observed { get; init; }
    public PlannedPlacement? Recommended { get; init; }
    /// <summary>Why the latest re-plan ran, and what it found.</summary>
    public string? Reason { get; init; }
    public DateTimeOffset? RecommendedAt { get; init; }
    public int Replans { get; init; }
    public bool Replanning { get; init; }
    /// <summary>Whether the recommendation differs from the placement running.</summary>
    public bool ChangeRecommended => Recommended is { } r && r.Describe() != Current.Describe();
}

/// <summary>
/// DistServe's re-planning loop for one server: a <see cref="WorkloadWindow"/> fed with every finished request;
/// <see cref="Check"/> compares the window with the workload the current plan was made for and, when the arrival
/// rate or a mean length moved past the threshold, re-runs the placement search (the same planner, simulator and
/// settings as the plan file, the observed lengths and rate as its workload) on the thread pool, off the request
/// path, one at a time. The answer is a recommendation (log line, metric, GET /plan): the running placement is not
/// changed live.
/// </summary>
public sealed class Replanner : IAsyncDisposable
{
    private readonly PlanFile _plan;
    private readonly LatencyProfile _profile;
    private readonly ReplanOptions _options;
    private readonly TimeProvider _time;
    private readonly Action<string> _log;
    private readonly long _start;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private ReplanStatus _status;
    private Task _running = Task.CompletedTask;
    private Task? _loop;

    public Replanner(PlanFile plan, LatencyProfile profile, ReplanOptions options, TimeProvider? time = null, Action<string>? log = null)
    {
        options.Validate();
        _plan = plan;
        _profile = profile;
        _options = options;
        _time = time ?? TimeProvider.System;
        _log = log ?? (_ => { });
        _start = _time.GetTimestamp();
        Window = new WorkloadWindow(options.WindowSeconds);
        var current = plan.Chosen ?? throw new ArgumentException("the plan has no placement to watch");
        var spec = WorkloadSpec.Preset(plan.Workload);
        var plannedFor = new ObservedWorkload(options.WindowSeconds, 0, plan.TargetRate ?? current.Goodput,
            spec.Input.Mean, spec.Input.Cv, spec.Output.Mean, spec.Output.Cv);
        _status = new ReplanStatus { Current = current, PlannedFor = plannedFor };
    }

    public WorkloadWindow Window { get; }
    public ReplanOptions Options => _options;
    public ReplanStatus Status { get { lock (_gate) return _status; } }

    /// <summary>Seconds since the replanner started, on its clock.</summary>
    public double Now => _time.GetElapsedTime(_start).TotalSeconds;

    /// <summary>Records a finished request (its arrival placed on this clock from its end-to-end time).</summary>
    public void Observe(RequestOutcome outcome)
    {
        if (outcome.FinishReason == Engine.Generation.FinishReason.Cancelled) return;
        var t = outcome.Timeline;
        double e2e = t.End is double end ? end - t.Arrival : 0;
        Window.Record(Now - e2e, outcome.PromptTokens, outcome.CompletionTokens);
    }

    /// <summary>Checks every tenth of the window (at least every second, at most every 30 s) until disposed.</summary>
    public void Start()
    {
        var period = TimeSpan.FromSeconds(Math.Clamp(_options.WindowSeconds / 10, 1, 30));
        _loop = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(period, _time);
            try
            {
                while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
                    _ = Check(); // a re-plan runs on; the next tick sees it running
            }
            catch (OperationCanceledException) { }
        });
    }

    /// <summary>
    /// Compares the window with what the plan was made for; when it drifted (and no re-plan is running) starts one
    /// and returns it; otherwise returns the one running, or a completed task.
    /// </summary>
    public Task Check()
    {
        lock (_gate)
        {
            if (!_running.IsCompleted) return _running;
            // A window is trusted once the server has run that long and it holds enough requests.
            if (Now < _options.WindowSeconds) return Task.CompletedTask;
            var observed = Window.Observe(Now);
            _status = _status with { Observed = observed };
            if (observed is null || observed.Requests < _options.MinRequests) return Task.CompletedTask;
            if (Drift(_status.PlannedFor, observed, _options.Threshold) is not { } why) return Task.CompletedTask;
            _status = _status with { Replanning = true };
            _running = Task.Run(() => Replan(observed, why));
            return _running;
        }
    }

    /// <summary>What moved past the threshold, in words; null when nothing did.</summary>
    internal static string? Drift(ObservedWorkload plannedFor, ObservedWorkload observed, double threshold)
    {
        var moved = new List<string>();
        void Compare(string what, double was, double now, string unit)
        {
            double change = was > 0 ? (now - was) / was : double.PositiveInfinity;
            if (Math.Abs(change) > threshold)
                moved.Add(string.Create(CultureInfo.InvariantCulture, $"{what} {now:0.##} {unit} is {Math.Abs(change) * 100:0}% {(change > 0 ? "above" : "below")} the {was:0.##} planned for"));
        }
        Compare("arrival rate", plannedFor.Rate, observed.Rate, "req/s");
        Compare("mean prompt", plannedFor.InputMean, observed.InputMean, "tokens");
        Compare("mean answer", plannedFor.OutputMean, observed.OutputMean, "tokens");
        return moved.Count == 0 ? null : string.Join("; ", moved);
    }

    private void Replan(ObservedWorkload observed, string why)
    {
        try
        {
            var workload = new WorkloadSpec("observed",
                new LengthDistribution(Math.Max(1, observed.InputMean), observed.InputCv),
                new LengthDistribution(Math.Max(1, observed.OutputMean), observed.OutputCv), null);
            var cluster = new ClusterSpec(_plan.Nodes, _plan.DevicesPerNode, _plan.IntraNodeBandwidth, _plan.InterNodeBandwidth);
            var template = new Simulation.Placement { PrefillTokenTarget = _plan.PrefillTokenTarget, ChunkBudget = _plan.ChunkBudget };
            var evaluator = new SimulatorEvaluator(_profile, workload, cluster, template, _plan.RequestsPerProbe, _plan.Seed);
            var plan = PlacementPlanner.Plan(evaluator, cluster, new PlannerOptions
            {
                Slo = new(_plan.SloTtftSeconds, _plan.SloTpotSeconds),
                AttainmentTarget = _plan.Attainment,
                TargetRate = observed.Rate,
                MaxDegreeOfParallelism = _options.PlannerThreads,
            }, ct: _stop.Token);
            string reason;
            lock (_gate)
            {
                var recommended = plan.Chosen;
                reason = recommended is null
                    ? $"{why}: no placement of the cluster meets the SLOs for it"
                    : recommended.Describe() == _status.Current.Describe()
                        ? $"{why}: the running placement is still the best"
                        : $"{why}: {recommended.Describe()} serves it with {recommended.Devices} devices{(recommended.ReachesTargetRate ? "" : " (short of the rate: the cluster tops out there)")}";
                _status = _status with
                {
                    PlannedFor = observed, Recommended = recommended, Reason = reason, RecommendedAt = _time.GetUtcNow(),
                    Replans = _status.Replans + 1, Replanning = false,
                };
            }
            _log($"re-plan: {reason} (running: {_status.Current.Describe()}; planned in {plan.Elapsed.TotalSeconds:0.0} s)");
        }
        catch (OperationCanceledException)
        {
            lock (_gate) _status = _status with { Replanning = false };
        }
        catch (Exception e)
        {
            lock (_gate) _status = _status with { Replanning = false, Reason = $"{why}: re-planning failed: {e.Message}" };
            _log($"re-plan failed: {e.Message}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_loop is not null) await _loop.ConfigureAwait(false);
        try { await _running.ConfigureAwait(false); } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
