using Tandem.Benchmark;
using Tandem.Benchmark.Arrivals;
using Tandem.Benchmark.Goodput;
using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Reports;
using Tandem.Benchmark.Workloads;
using Tandem.Planning.Profiles;

namespace Tandem.Planning.Simulation;

/// <summary>
/// DistServe's simulator over Tandem's own schedulers: plays a workload against a <see cref="Placement"/> on a
/// virtual clock with step times from a <see cref="LatencyProfile"/>, and reports it exactly as <c>tandem bench serve</c>
/// reports a measured run (the same records, metrics, attainment and goodput code), so simulated and measured
/// reports can be compared and plotted together.
/// </summary>
public static class ServingSimulator
{
    /// <summary>One run: <paramref name="requests"/> arriving at <paramref name="arrivalTimes"/> (seconds); records in workload order.</summary>
    public static RunResult Simulate(Placement placement, LatencyProfile profile, IReadOnlyList<BenchRequest> requests, IReadOnlyList<double> arrivalTimes) =>
        new ServingSimulation(placement, profile).Run(requests, arrivalTimes);

    /// <summary>
    /// One run of a synthetic workload at <paramref name="rate"/>: <paramref name="count"/> requests drawn from
    /// <paramref name="workload"/> and arrivals from <paramref name="seed"/>, as the bench draws them for the same arguments.
    /// </summary>
    public static RunReport Run(Placement placement, LatencyProfile profile, WorkloadSpec workload, double rate, int count, int seed,
        SloSpec? slo = null, double arrivalCv = 1.0)
    {
        var requests = WorkloadGenerator.Generate(workload, count, seed, PromptFormat.TokenIds);
        var arrivals = new ArrivalProcess(rate, arrivalCv);
        var result = Simulate(placement, profile, requests, arrivals.ArrivalTimes(count, seed));
        return ReportBuilder.Run(arrivals, result, slo ?? SloSpec.None, LatencyOrigin.Arrival, placement.Devices);
    }

    /// <summary>
    /// What <c>tandem bench serve</c> would measure with <paramref name="options"/> (workload, seed, rates or goodput
    /// search, SLOs), simulated: the same requests (<see cref="ServeBenchmark.PrepareWorkload"/>) and arrival times,
    /// one run per rate or per search probe. <paramref name="label"/> names the system in plots.
    /// </summary>
    public static BenchReport Bench(Placement placement, LatencyProfile profile, ServeBenchmarkOptions options, string? label = null,
        Action<RunReport>? onRun = null)
    {
        options.Validate();
        var started = DateTimeOffset.UtcNow;
        var workload = ServeBenchmark.PrepareWorkload(options);
        var requests = workload.Requests;
        var runs = new List<RunReport>();

        RunReport RunAt(double rate)
        {
            var (times, arrival) = workload.ArrivalsAt(rate, options);
            var result = Simulate(placement, profile, requests, times);
            var run = ReportBuilder.Run(rate, arrival + " (simulated)", result, options.Slo, options.LatencyOrigin, placement.Devices);
            runs.Add(run);
            onRun?.Invoke(run);
            return run;
        }

        GoodputReport? goodput = null;
        if (options.Goodput is { } search)
        {
            var found = GoodputSearch.FindAsync((rate, _) => Task.FromResult(RunAt(rate).Summary.SloAttainment), search).GetAwaiter().GetResult();
            goodput = ReportBuilder.Goodput(found, placement.Devices);
        }
        else
        {
            foreach (double rate in workload.Rates(options)) RunAt(rate);
        }

        return new BenchReport
        {
            Config = workload.Config(options, label ?? $"{placement} (simulated)", "simulated", profile.Model, placement.Devices, started),
            Runs = runs,
            Goodput = goodput,
        };
    }
}
