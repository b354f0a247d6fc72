using System.Diagnostics;
using Tandem.Benchmark.Arrivals;
using Tandem.Benchmark.Reports;
using Tandem.Benchmark.Workloads;
using Tandem.Planning.Profiles;
using Tandem.Planning.Simulation;
using Tandem.Serving;
using Xunit.Abstractions;

namespace Tandem.Planning.Tests;

public class ServingSimulatorTests(ITestOutputHelper output)
{
    [Fact]
    public void Speed()
    {
        var profile = SyntheticProfiles.Linear();
        var spec = WorkloadSpec.Preset("chatbot");
        var requests = WorkloadGenerator.Generate(spec, 10_000, 1, PromptFormat.TokenIds);
        var times = new ArrivalProcess(4).ArrivalTimes(10_000, 1);
        foreach (var mode in new[] { ServingMode.Disaggregated, ServingMode.Colocated, ServingMode.Chunked })
        {
            var placement = new Placement { Mode = mode, PrefillInstances = 3, DecodeInstances = 1, ColocatedInstances = 4, KvBytesPerInstance = 2L << 30 };
            var sw = Stopwatch.StartNew();
            var result = ServingSimulator.Simulate(placement, profile, requests, times);
            double sim = sw.Elapsed.TotalSeconds;
            var run = ReportBuilder.Run(4, "x", result, new(2.5, 0.1), Tandem.Benchmark.Metrics.LatencyOrigin.Arrival, 4);
            output.WriteLine($"{mode}: {sim:F2} s sim, {sw.Elapsed.TotalSeconds:F2} s with report; ok {run.Summary.Completed}, ttft {run.Summary.Ttft?.Mean:F3} tpot {run.Summary.Tpot?.Mean:F4} att {run.Summary.SloAttainment:F3}");
        }
    }
}
