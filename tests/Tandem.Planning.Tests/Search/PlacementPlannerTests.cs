using Tandem.Planning.Simulation;
using Tandem.Benchmark.Metrics;
using Tandem.Planning.Search;
using Tandem.Serving;

namespace Tandem.Planning.Tests.Search;

public class PlacementPlannerTests
{
    private static readonly SloSpec Slo = new(0.25, 0.1);

    public static TheoryData<int, int, int, double?> Cases()
    {
        var data = new TheoryData<int, int, int, double?>();
        // (seed, nodes, devices per node, target rate): one CPU-like node, and GPU-like clusters of 2 nodes.
        foreach (int seed in new[] { 1, 2, 3, 4, 5 })
        {
            data.Add(seed, 1, 8, null);
            data.Add(seed, 1, 8, 20);
            data.Add(seed, 2, 4, null);
            data.Add(seed, 2, 4, 7.5);
            data.Add(seed, 2, 4, 1000); // out of the cluster's reach: the most it can give wins
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Algorithm_1_finds_the_brute_force_optimum(int seed, int nodes, int devicesPerNode, double? rate) =>
        AssertFindsOptimum(seed, nodes, devicesPerNode, rate, high: true, low: false, colocated: false, chunked: false);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Algorithm_2_finds_the_brute_force_optimum(int seed, int nodes, int devicesPerNode, double? rate) =>
        AssertFindsOptimum(seed, nodes, devicesPerNode, rate, high: false, low: true, colocated: false, chunked: false);

    [Theory]
    [MemberData(nameof(Cases))]
    public void All_placements_together_find_the_brute_force_optimum(int seed, int nodes, int devicesPerNode, double? rate) =>
        AssertFindsOptimum(seed, nodes, devicesPerNode, rate, high: true, low: true, colocated: true, chunked: true);

    private static void AssertFindsOptimum(int seed, int nodes, int devicesPerNode, double? rate, bool high, bool low, bool colocated, bool chunked)
    {
        var model = new StepEvaluator(seed, [1, 2, 4], maxPipelineDegree: 2, minDevices: 2);
        var cluster = new ClusterSpec(nodes, devicesPerNode);
        var plan = PlacementPlanner.Plan(model, cluster, new PlannerOptions
        {
            Slo = Slo, TargetRate = rate, HighAffinity = high, LowAffinity = low, Colocated = colocated, Chunked = chunked,
        });
        var best = BruteForcePlacements.Best(BruteForcePlacements.All(model, cluster, high, low, colocated, chunked), rate);

        Assert.NotNull(best);
        var chosen = plan.Chosen;
        Assert.NotNull(chosen);
        Assert.Equal((best.Devices, best.Goodput), (chosen.Devices, chosen.Goodput));
        Assert.True(cluster.CanHost(Groups(chosen)), $"{chosen.Describe()} does not fit {nodes}×{devicesPerNode}");
        Assert.Equal(rate is null || best.Goodput >= rate, chosen.ReachesTargetRate);
        // The goodputs behind the plan are the evaluator's own (the bisection lands on the quarter-step capacities).
        Assert.All(plan.Units, u => Assert.Equal(model.Capacity(u.Unit), u.Goodput));
    }

    [Fact]
    public void The_plan_does_not_depend_on_how_many_searches_run_at_once()
    {
        var cluster = new ClusterSpec(2, 4);
        PlacementPlan Run(int threads) => PlacementPlanner.Plan(new StepEvaluator(7, [1, 2, 4], 2), cluster,
            new PlannerOptions { Slo = Slo, TargetRate = 6, MaxDegreeOfParallelism = threads });
        var one = Run(1);
        var four = Run(4);
        Assert.Equal(one.Ranked, four.Ranked);
        Assert.Equal(one.Units, four.Units);
        Assert.True(one.Ranked.Count > 10);
    }

    [Fact]
    public void Colocated_wins_when_disaggregation_does_not_pay_and_the_plan_says_what_disaggregated_would_cost()
    {
        // A tight-TTFT SLO where a colocated instance keeps up with 3 req/s per device but a phase alone manages 1.
        var model = new FixedEvaluator(unit => unit.Shape switch
        {
            UnitShape.Colocated => 3.0 * unit.Devices,
            UnitShape.Chunked => 2.0 * unit.Devices,
            UnitShape.PairedInNode => 0.5 * unit.Devices,
            _ => 1.0 * unit.Devices,
        });
        var plan = PlacementPlanner.Plan(model, new ClusterSpec(1, 4), new PlannerOptions { Slo = Slo, TargetRate = 6 });
        Assert.Equal(ServingMode.Colocated, plan.Chosen!.Mode);
        Assert.Equal(2, plan.Chosen.Devices);
        var disaggregated = plan.BestOf(ServingMode.Disaggregated);
        Assert.NotNull(disaggregated);
        Assert.False(disaggregated.ReachesTargetRate); // 6 req/s would need 6 + 6 cores of a 4-core machine; it tops out at 2
        Assert.Equal(2.0, disaggregated.Goodput);
    }

    [Fact]
    public void Rounding_up_replicas_can_favour_a_configuration_with_less_goodput_per_device()
    {
        // Prefill TP4 gives 1.0 req/s per device but 4 devices; TP1 gives 0.75 on 1 device. For 1.5 req/s, TP1 needs
        // 2 devices, TP4 needs 4: DistServe's "best per device, then replicas" would take 4.
        var model = new FixedEvaluator(unit => unit.Shape switch
        {
            UnitShape.PrefillOnly => unit.Parallelism.Tp == 4 ? 4.0 : 0.75 * unit.Devices,
            UnitShape.DecodeOnly => 10.0 * unit.Devices,
            _ => 0,
        }, tensorDegrees: [1, 4]);
        var plan = PlacementPlanner.Plan(model, new ClusterSpec(1, 8), new PlannerOptions { Slo = Slo, TargetRate = 1.5 });
        Assert.Equal(new InstanceGroup(new ParallelConfig(1), 2, 0.75), plan.Chosen!.Prefill);
        Assert.Equal(3, plan.Chosen.Devices);
    }

    [Fact]
    public void Without_a_target_decode_replicas_stop_where_they_keep_up_with_prefill()
    {
        // Prefill needs TP2 (1 req/s each), one TP1 decode instance keeps up with 100: on 8 cores, 3 prefill + 1
        // decode give 3 req/s; the eighth core would add a decode instance that raises nothing.
        var model = new FixedEvaluator(unit => unit.Shape switch
        {
            UnitShape.PrefillOnly => unit.Parallelism.Tp == 2 ? 1.0 : 0,
            UnitShape.DecodeOnly => unit.Parallelism.Tp == 1 ? 100.0 : 0,
            _ => 0,
        }, tensorDegrees: [1, 2]);
        var plan = PlacementPlanner.Plan(model, new ClusterSpec(1, 8), new PlannerOptions { Slo = Slo });
        Assert.Equal(new InstanceGroup(new ParallelConfig(2), 3, 1.0), plan.Chosen!.Prefill);
        Assert.Equal(new InstanceGroup(new ParallelConfig(1), 1, 100.0), plan.Chosen.Decode);
        Assert.Equal(3.0, plan.Chosen.Goodput);
    }

    [Theory]
    [InlineData(2, 8, 4, 3, true)]   // 3 + 3 on each of two 8-device nodes... four groups of 4 fit too
    [InlineData(2, 8, 3, 4, true)]   // two groups of 3 per node
    [InlineData(2, 8, 3, 5, false)]  // 15 devices of 16, but only two groups of 3 fit a node
    [InlineData(1, 4, 8, 1, false)]  // a stage wider than a node
    public void Stages_stay_inside_nodes(int nodes, int perNode, int groupDevices, int groups, bool fits) =>
        Assert.Equal(fits, new ClusterSpec(nodes, perNode).CanHost([(groupDevices, groups)]));

    private static IEnumerable<(int, int)> Groups(PlannedPlacement p)
    {
        if (p.Affinity == NodeAffinity.Low)
        {
            int nodes = p.NodesPerPair!.Value;
            yield return ((p.Prefill!.Parallelism.Devices + p.Decode!.Parallelism.Devices) / nodes, nodes * p.Prefill.Count);
            yield break;
        }
        foreach (var g in new[] { p.Prefill, p.Decode, p.Instances })
            if (g is not null)
                yield return (g.Parallelism.Tp, g.Parallelism.Pp * g.Count);
    }

    /// <summary>Goodput given per unit by a formula (step attainment), for hand-made cases.</summary>
    private sealed class FixedEvaluator(Func<PlanningUnit, double> capacity, IReadOnlyList<int>? tensorDegrees = null) : IPlacementEvaluator
    {
        public IReadOnlyList<int> TensorDegrees => tensorDegrees ?? [1, 2, 4];
        public int MaxPipelineDegree => 1;
        public bool Fits(ParallelConfig parallelism) => true;
        public double Attainment(PlanningUnit unit, double rate, SloSpec slo) => rate <= capacity(unit) ? 1 : 0;
    }
}
