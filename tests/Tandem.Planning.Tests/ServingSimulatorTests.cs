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

public class PipelineParallelTests
{
    [Theory]
    // One stage: the second prompt waits for the whole first step. Two stages: it enters the pipeline as soon as the
    // first prompt leaves stage 1 (D/2), so it is done D/2 after the first. Three requests over two stages: the third
    // waits for the first virtual engine to be free again (at D), then takes D.
    [InlineData(1, new[] { 0.1, 0.2, 0.3 })]
    [InlineData(2, new[] { 0.1, 0.15, 0.2 })]
    public void Prefill_pipeline_overlaps_micro_batches(int stages, double[] expectedTtft)
    {
        // Local prefill off: these 16-token prompts all go through the prefill pipeline.
        var placement = new Placement { PrefillParallel = new ParallelConfig(1, stages), PrefillTokenTarget = 16, KvBlocksPerInstance = 1000, LocalPrefillThreshold = 0 };
        var work = Enumerable.Range(0, 3).Select(i => new BenchRequest(i, null, null, 16, 1)).ToArray();
        var result = ServingSimulator.Simulate(placement, SyntheticProfiles.Constant(0.1), work, [0, 0, 0]);
        Assert.Equal(expectedTtft, result.Records.Select(r => Math.Round(r.FirstTokenAt!.Value - r.ScheduledAt, 9)));
        Assert.Equal(stages, placement.Devices - 1); // prefill tp1·pp{stages} + one decode device
    }
}
