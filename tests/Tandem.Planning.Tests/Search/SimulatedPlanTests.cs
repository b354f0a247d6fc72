using Tandem.Engine.Tests;
using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Workloads;
using Tandem.Planning.Search;
using Tandem.Planning.Simulation;
using Tandem.Serving;

namespace Tandem.Planning.Tests.Search;

/// <summary>The placement search over the real simulator (the schedulers the server runs) with a CPU-like profile.</summary>
public class SimulatedPlanTests
{
    private static readonly WorkloadSpec Workload = WorkloadSpec.Preset("fixed:64:16");
    private static readonly PlannerOptions Options = new() { Slo = new SloSpec(2.0, 0.1), TargetRate = 1.5, Precision = 0.05 };

    private static (SimulatorEvaluator, PlacementPlan) Plan(int threads)
    {
        var cluster = new ClusterSpec(1, 4);
        var evaluator = new SimulatorEvaluator(SyntheticProfiles.Linear(), Workload, cluster, requestsPerProbe: 100);
        return (evaluator, PlacementPlanner.Plan(evaluator, cluster, Options with { MaxDegreeOfParallelism = threads }));
    }

    [Fact]
    public void The_chosen_placement_simulated_whole_meets_the_SLOs_at_the_target_rate_and_the_plan_repeats()
    {
        var (evaluator, plan) = Plan(threads: 2);
        var chosen = plan.Chosen;
        Assert.NotNull(chosen);
        Assert.True(chosen.ReachesTargetRate);
        Assert.True(chosen.Devices <= 4);
        // Every configuration of this profile fits one node of 4 cores: no pipelining on a CPU profile.
        Assert.All(plan.Units, u => Assert.Equal(1, u.Unit.Parallelism.Pp));
        Assert.Equal("cpu", evaluator.DeviceKind);

        // DistServe's search sizes the phases apart: its placements run without conditional disaggregation.
        Assert.Equal(0, evaluator.PlacementOf(chosen).LocalPrefillThreshold);
        var run = ServingSimulator.Run(evaluator.PlacementOf(chosen), SyntheticProfiles.Linear(), Workload, Options.TargetRate!.Value, 100, 0, Options.Slo);
        Assert.True(run.Summary.SloAttainment >= 0.9, $"{chosen.Describe()}: {run.Summary.SloAttainment:P0} at {Options.TargetRate} req/s");
        Assert.True(PlacementPlanner.SimulateGoodput(evaluator, chosen, Options) >= Options.TargetRate);

        var (_, again) = Plan(threads: 1);
        Assert.Equal(plan.Ranked, again.Ranked);
        Assert.Equal(plan.Units, again.Units);
    }

    [Fact]
    public void A_gpu_profile_offers_pipeline_stages_only_where_its_memory_table_says_the_model_fits()
    {
        var profile = Profiles.LatencyProfileJson.Read(Path.Combine(TestPaths.RepoRoot, "..", "shared", "data", "distserve-a100", "profiler-a100-80g.distserve.json"), "opt-66b");
        var evaluator = new SimulatorEvaluator(profile, WorkloadSpec.Preset("chatbot"), new ClusterSpec(2, 8));
        Assert.Equal("gpu", evaluator.DeviceKind);
        foreach (var k in profile.KvCapacity) Assert.True(evaluator.Fits(new ParallelConfig(k.Tp, k.Pp)));
        Assert.False(evaluator.Fits(new ParallelConfig(1, 1))); // 66B of f16 weights do not fit one 80 GB A100
        var configs = PlacementPlanner.SingleInstanceConfigs(evaluator, new ClusterSpec(2, 8));
        Assert.Contains(new ParallelConfig(2, 2), configs);
        Assert.DoesNotContain(configs, c => c.Tp > 8 || c.Devices > 16);
    }
}
