using Tandem.Benchmark.Goodput;
using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark.Tests;

/// <summary>
/// The goodput search end to end, against a fake server whose latency is a known function of load: a request that
/// finds fewer than <see cref="Capacity"/> others in flight answers fast (TTFT 0.05 s), otherwise slowly (TTFT 1 s,
/// over the 0.5 s SLO); a fast request is in flight for <see cref="Hold"/> seconds. With evenly spaced arrivals at
/// rate λ, request i finds request i−Capacity still in flight exactly when Capacity/λ &lt; Hold, so every request
/// passes below λ* = Capacity/Hold and requests Capacity.. fail above it: attainment steps from 1 to at most
/// Capacity/N. The search must land within its precision of λ*.
/// </summary>
[Collection(SerialCollection.Name)]
public class GoodputServerTests
{
    private const int Capacity = 3;
    private const double Hold = 1.3;
    private const double Threshold = Capacity / Hold; // 2.3077 req/s
    private const int Requests = 5;

    private static FakePlan Plan(int others, int arrival) =>
        others < Capacity ? new FakePlan(0.05, Hold) : new FakePlan(1.0, 1.0 + Hold);

    [Fact]
    public async Task SearchFindsTheKnownThresholdWithinThePrecision()
    {
        await using var server = await FakeOpenAiServer.StartAsync(Plan);
        const double precision = 0.2;
        var options = new ServeBenchmarkOptions
        {
            BaseUrl = server.BaseUrl,
            Workload = "fixed",
            InputLength = 8,
            OutputLength = 4,
            NumPrompts = Requests,
            ArrivalCv = 0,
            Seed = 1,
            Slo = new SloSpec(0.5, 1.0),
            Devices = 2,
            // Probes 2 (pass), 4, 3, 2.5 (fail), 2.25 (pass), 2.375 (fail). The nearest probes miss the step by
            // 33-37 ms of hold time, the next ones by 100 ms or more; one misjudged probe still lands within precision.
            Goodput = new GoodputSearchOptions { Target = 0.9, Precision = precision, InitialRate = 2, MaxRate = 16 },
        };
        var report = await ServeBenchmark.RunAsync(options);

        var g = report.Goodput!;
        string trace = string.Join("\n", report.Runs.Select(r =>
            $"rate {r.Rate}: attainment {r.Summary.SloAttainment}, ttft [{string.Join(", ", r.Requests.Select(q => q.TtftS?.ToString("0.000")))}]"));
        Assert.True(Math.Abs(g.Goodput - Threshold) <= precision, $"goodput {g.Goodput}, expected {Threshold:0.###} ± {precision}\n{trace}");
        Assert.Equal(g.Goodput / 2, g.GoodputPerDevice, 12);
        Assert.NotNull(g.LowestFailingRate);
        Assert.True(g.LowestFailingRate!.Value - g.Goodput <= precision);
        Assert.Equal(g.Probes.Count, report.Runs.Count);
        Assert.Equal(g.Probes.Select(p => p.Rate), report.Runs.Select(r => r.Rate));
        foreach (var (probe, run) in g.Probes.Zip(report.Runs))
        {
            Assert.Equal(probe.Attainment, run.Summary.SloAttainment);
            Assert.Equal(probe.Rate / 2, run.RatePerDevice, 12);
            Assert.Equal(Requests, run.Requests.Count);
            Assert.All(run.Requests, r => Assert.True(r.Success, r.Error));
            // The step: everyone passes, or the requests that found Capacity others in flight miss.
            Assert.True(probe.Attainment == 1.0 || probe.Attainment <= (double)Capacity / Requests, $"attainment {probe.Attainment} at {probe.Rate}");
        }
        Assert.Contains(g.Probes, p => p.Passed);
        Assert.Contains(g.Probes, p => !p.Passed);
    }
}
