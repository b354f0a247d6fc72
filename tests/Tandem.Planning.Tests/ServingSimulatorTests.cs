using System.Text.Json;
using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Reports;
using Tandem.Benchmark.Workloads;
using Tandem.Planning.Simulation;
using Tandem.Serving;

namespace Tandem.Planning.Tests;

public class ServingSimulatorTests
{
    private static string Json(RunReport run) => JsonSerializer.Serialize(run, BenchReportJson.Options);

    [Theory]
    [InlineData(ServingMode.Disaggregated)]
    [InlineData(ServingMode.Colocated)]
    [InlineData(ServingMode.Chunked)]
    public void Same_seed_gives_the_same_report_and_another_seed_another(ServingMode mode)
    {
        var profile = SyntheticProfiles.Linear();
        var placement = new Placement { Mode = mode, PrefillInstances = 2, DecodeInstances = 1, ColocatedInstances = 2, KvBlocksPerInstance = 200, ChunkBudget = 64 };
        var spec = WorkloadSpec.Preset("chatbot", 96, 24);
        var slo = new SloSpec(2.5, 0.05);
        string first = Json(ServingSimulator.Run(placement, profile, spec, 1.5, 200, seed: 7, slo));
        string again = Json(ServingSimulator.Run(placement, profile, spec, 1.5, 200, seed: 7, slo));
        string other = Json(ServingSimulator.Run(placement, profile, spec, 1.5, 200, seed: 8, slo));
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    [Theory]
    [InlineData(ServingMode.Disaggregated)]
    [InlineData(ServingMode.Colocated)]
    [InlineData(ServingMode.Chunked)]
    public void Every_request_gets_its_full_answer_with_token_times_in_order(ServingMode mode)
    {
        // A small pool forces preemptions (decode and colocated recompute): requests must still finish whole.
        var placement = new Placement { Mode = mode, KvBlocksPerInstance = 40, ChunkBudget = 64 };
        var run = ServingSimulator.Run(placement, SyntheticProfiles.Linear(), WorkloadSpec.Preset("chatbot", 96, 48, maxModelLength: 600), 4, 120, seed: 3);
        Assert.Equal(120, run.Summary.Completed);
        foreach (var r in run.Requests)
        {
            Assert.Equal(r.OutputTokensRequested, r.OutputTokens);
            Assert.Equal(r.OutputTokens, r.TokenTimesS.Count);
            for (int i = 1; i < r.TokenTimesS.Count; i++) Assert.True(r.TokenTimesS[i] > r.TokenTimesS[i - 1]);
            Assert.True(r.TtftS > 0);
        }
    }
}
