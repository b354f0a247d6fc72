using Tandem.Benchmark.Arrivals;
using Tandem.Benchmark.Goodput;
using Tandem.Benchmark.Metrics;

namespace Tandem.Benchmark.Reports;

/// <summary>Builds report objects from runs.</summary>
public static class ReportBuilder
{
    public static RunReport Run(ArrivalProcess arrivals, RunResult result, SloSpec slo, LatencyOrigin origin, int devices) =>
        Run(arrivals.Rate, arrivals.Describe(), result, slo, origin, devices);

    /// <param name="arrival">How requests arrived, in words (e.g. "Poisson 2/s", "trace 1.5/s").</param>
    public static RunReport Run(double rate, string arrival, RunResult result, SloSpec slo, LatencyOrigin origin, int devices) => new()
    {
        Rate = rate,
        RatePerDevice = rate / devices,
        Arrival = arrival,
        Summary = MetricsCalculator.Summarize(result.Records, result.DurationSeconds, slo, origin),
        Requests = result.Records.Select(r => RequestReport.From(r, slo, origin)).ToList(),
    };

    public static GoodputReport Goodput(GoodputResult result, int devices) => new()
    {
        Target = result.Target,
        Precision = result.Precision,
        Goodput = result.Goodput,
        GoodputPerDevice = result.Goodput / devices,
        LowestFailingRate = result.LowestFailingRate,
        Probes = result.Probes,
    };
}
