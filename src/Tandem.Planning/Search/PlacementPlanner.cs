using Tandem.Planning.Simulation;
using System.Diagnostics;
using Tandem.Benchmark.Goodput;
using Tandem.Benchmark.Metrics;
using Tandem.Serving;

namespace Tandem.Planning.Search;

/// <summary>Progress of a plan: goodput searches finished out of those it will run.</summary>
public readonly record struct PlanningProgress(int UnitsDone, int UnitsTotal, UnitGoodput Last);

/// <summary>
/// DistServe's placement search (paper §4.1–4.2). Every candidate parallelism becomes one or more
/// <see cref="PlanningUnit"/>s whose goodput is bisected against the evaluator (a simulator); then replicas are sized
/// from those goodputs and the placements ranked:
/// <list type="bullet">
/// <item>Algorithm 1, high node affinity: every (tensor, pipeline) configuration with tensor ≤ devices per node and
/// tensor·pipeline ≤ the cluster, simulated as a prefill instance alone (TTFT) and a decode instance alone (TPOT);
/// every (prefill, decode) pair is then sized (<c>n = ⌈R/g_p⌉, m = ⌈R/g_d⌉</c>). Sizing every pair rather than taking
/// each phase's best goodput per device costs no simulation and finds the fewest devices even where rounding up
/// replicas favours a smaller configuration.</item>
/// <item>Algorithm 2, low node affinity: for each number of nodes a pair spans (inter-op degree), every pair of
/// intra-node segments (tensor × pipeline inside a node) that fits one node together, simulated jointly.</item>
/// <item>Colocated and chunked-prefill instances over the same configurations as Algorithm 1, judged by both SLOs,
/// so the plan shows when disaggregation does not pay.</item>
/// </list>
/// With a target rate the winner reaches it with the fewest devices (then the highest goodput per device); without
/// one, it has the highest goodput the cluster can give (then the fewest devices).
/// </summary>
public static class PlacementPlanner
{
    public static PlacementPlan Plan(IPlacementEvaluator evaluator, ClusterSpec cluster, PlannerOptions options,
        Action<PlanningProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(evaluator);
        ArgumentNullException.ThrowIfNull(cluster);
        options.Validate();
        var clock = Stopwatch.StartNew();

        var configs = SingleInstanceConfigs(evaluator, cluster);
        var pairs = options.LowAffinity ? PairedConfigs(evaluator, cluster) : [];
        var units = new List<PlanningUnit>();
        foreach (var p in configs)
        {
            if (options.HighAffinity) { units.Add(new PlanningUnit(UnitShape.PrefillOnly, p)); units.Add(new PlanningUnit(UnitShape.DecodeOnly, p)); }
            if (options.Colocated) units.Add(new PlanningUnit(UnitShape.Colocated, p));
            if (options.Chunked) units.Add(new PlanningUnit(UnitShape.Chunked, p));
        }
        units.AddRange(pairs.Select(p => p.Unit));
        units = units.Distinct().ToList();

        var goodputs = MeasureAll(evaluator, units, options, progress, ct);
        var byUnit = goodputs.ToDictionary(g => g.Unit, g => g.Goodput);

        var placements = new List<PlannedPlacement>();
        if (options.HighAffinity)
            foreach (var p in configs)
                foreach (var d in configs)
                    if (HighAffinity(p, byUnit[new PlanningUnit(UnitShape.PrefillOnly, p)], d, byUnit[new PlanningUnit(UnitShape.DecodeOnly, d)], cluster, options.TargetRate) is { } placement)
                        placements.Add(placement);
        foreach (var pair in pairs)
            if (LowAffinity(pair, byUnit[pair.Unit], cluster, options.TargetRate) is { } placement)
                placements.Add(placement);
        foreach (var p in configs)
        {
            if (options.Colocated && Colocated(ServingMode.Colocated, p, byUnit[new PlanningUnit(UnitShape.Colocated, p)], cluster, options.TargetRate) is { } colocated)
                placements.Add(colocated);
            if (options.Chunked && Colocated(ServingMode.Chunked, p, byUnit[new PlanningUnit(UnitShape.Chunked, p)], cluster, options.TargetRate) is { } chunked)
                placements.Add(chunked);
        }
        placements.Sort(PlacementRanking.For(options.TargetRate));
        return new PlacementPlan { Cluster = cluster, Options = options, Ranked = placements, Units = goodputs, Elapsed = clock.Elapsed };
    }

    /// <summary>
    /// The goodput of a whole placement, every instance simulated at once (bisected like a unit's, starting from the
    /// rate the plan expects): what the per-unit goodputs promise, checked — it is lower where the phases interfere
    /// in ways a phase simulated alone does not show (KV transfer, decode holding prefill's memory).
    /// </summary>
    public static double SimulateGoodput(SimulatorEvaluator evaluator, PlannedPlacement placement, PlannerOptions options)
    {
        double maxRate = options.MaxRatePerDevice * placement.Devices;
        double first = Math.Clamp(placement.Goodput, options.Precision, maxRate);
        var search = new GoodputSearchOptions
        {
            Target = options.AttainmentTarget,
            Precision = options.Precision,
            InitialRate = first,
            MinRate = Math.Min(options.Precision, first),
            MaxRate = maxRate,
        };
        return GoodputSearch.Find(rate => evaluator.Attainment(placement, rate, options.Slo), search).Goodput;
    }

    /// <summary>Algorithm 1's configurations: tensor ≤ devices per node (a stage stays inside a node), tensor·pipeline ≤ the cluster, the model fits.</summary>
    internal static List<ParallelConfig> SingleInstanceConfigs(IPlacementEvaluator evaluator, ClusterSpec cluster)
    {
        var configs = new List<ParallelConfig>();
        foreach (int tensor in evaluator.TensorDegrees.Distinct().Order())
        {
            if (tensor < 1 || tensor > cluster.DevicesPerNode) continue;
            for (int pipeline = 1; pipeline <= evaluator.MaxPipelineDegree && tensor * pipeline <= cluster.TotalDevices; pipeline++)
            {
                var p = new ParallelConfig(tensor, pipeline);
                if (evaluator.Fits(p)) configs.Add(p);
            }
        }
        return configs;
    }

    /// <summary>One Algorithm 2 candidate: a pair spanning <see cref="Nodes"/> nodes, each node holding a prefill and a decode segment.</summary>
    internal sealed record PairedConfig(int Nodes, ParallelConfig PrefillSegment, ParallelConfig DecodeSegment)
    {
        public PlanningUnit Unit => new(UnitShape.PairedInNode,
            new ParallelConfig(PrefillSegment.Tp, PrefillSegment.Pp * Nodes), new ParallelConfig(DecodeSegment.Tp, DecodeSegment.Pp * Nodes));
        public int DevicesPerNode => PrefillSegment.Devices + DecodeSegment.Devices;
    }

    /// <summary>Algorithm 2's candidates: for each inter-op degree, every pair of intra-node segments that fits one node together.</summary>
    internal static List<PairedConfig> PairedConfigs(IPlacementEvaluator evaluator, ClusterSpec cluster)
    {
        var pairs = new List<PairedConfig>();
        var tensors = evaluator.TensorDegrees.Distinct().Order().ToList();
        for (int nodes = 1; nodes <= cluster.Nodes && nodes <= evaluator.MaxPipelineDegree; nodes++)
        {
            var segments = new List<ParallelConfig>();
            foreach (int tensor in tensors)
                for (int pipeline = 1; tensor * pipeline <= cluster.DevicesPerNode && pipeline * nodes <= evaluator.MaxPipelineDegree; pipeline++)
                    if (tensor >= 1 && evaluator.Fits(new ParallelConfig(tensor, pipeline * nodes)))
                        segments.Add(new ParallelConfig(tensor, pipeline));
            foreach (var p in segments)
                foreach (var d in segments)
                    if (p.Devices + d.Devices <= cluster.DevicesPerNode)
                        pairs.Add(new PairedConfig(nodes, p, d));
        }
        return pairs;
    }

    private static List<UnitGoodput> MeasureAll(IPlacementEvaluator evaluator, List<PlanningUnit> units, PlannerOptions options,
        Action<PlanningProgress>? progress, CancellationToken ct)
    {
        var results = new UnitGoodput[units.Count];
        int done = 0;
        var gate = new object();
        Parallel.For(0, units.Count, new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism, CancellationToken = ct }, i =>
        {
            results[i] = Measure(evaluator, units[i], options);
            lock (gate) progress?.Invoke(new PlanningProgress(++done, units.Count, results[i]));
        });
        return [.. results];
    }

    /// <summary>Bisects one unit's goodput, judging each phase alone by its own SLO (as DistServe's Algorithm 1 does).</summary>
    internal static UnitGoodput Measure(IPlacementEvaluator evaluator, PlanningUnit unit, PlannerOptions options)
    {
        var slo = unit.Shape switch
        {
            UnitShape.PrefillOnly => new SloSpec(options.Slo.TtftSeconds, double.PositiveInfinity),
            UnitShape.DecodeOnly => new SloSpec(double.PositiveInfinity, options.Slo.TpotSeconds),
            _ => options.Slo,
        };
        double maxRate = options.MaxRatePerDevice * unit.Devices;
        var search = new GoodputSearchOptions
        {
            Target = options.AttainmentTarget,
            Precision = options.Precision,
            InitialRate = Math.Min(1, maxRate),
            MinRate = Math.Min(options.Precision, Math.Min(1, maxRate)),
            MaxRate = maxRate,
        };
        var result = GoodputSearch.Find(rate => evaluator.Attainment(unit, rate, slo), search);
        return new UnitGoodput(unit, result.Goodput, result.Probes.Count);
    }

    private static PlannedPlacement? HighAffinity(ParallelConfig prefill, double prefillGoodput, ParallelConfig decode, double decodeGoodput, ClusterSpec cluster, double? target)
    {
        if (prefillGoodput <= 0 || decodeGoodput <= 0) return null;
        if (ReplicaSizing.SizePair(Stages(prefill, prefillGoodput), Stages(decode, decodeGoodput), cluster, target) is not { } sized) return null;
        return new PlannedPlacement
        {
            Mode = ServingMode.Disaggregated,
            Affinity = NodeAffinity.High,
            Prefill = new InstanceGroup(prefill, sized.Prefill, prefillGoodput),
            Decode = new InstanceGroup(decode, sized.Decode, decodeGoodput),
            Goodput = sized.Goodput,
            ReachesTargetRate = sized.ReachesTarget,
        };
    }

    private static PlannedPlacement? LowAffinity(PairedConfig pair, double goodput, ClusterSpec cluster, double? target)
    {
        if (goodput <= 0) return null;
        if (ReplicaSizing.Size(new ReplicaSizing.Replica(goodput, pair.DevicesPerNode, pair.Nodes), cluster, target) is not { } sized) return null;
        var unit = pair.Unit;
        return new PlannedPlacement
        {
            Mode = ServingMode.Disaggregated,
            Affinity = NodeAffinity.Low,
            NodesPerPair = pair.Nodes,
            Prefill = new InstanceGroup(unit.Parallelism, sized.Count, goodput),
            Decode = new InstanceGroup(unit.DecodeParallelism!.Value, sized.Count, goodput),
            Goodput = sized.Goodput,
            ReachesTargetRate = sized.ReachesTarget,
        };
    }

    private static PlannedPlacement? Colocated(ServingMode mode, ParallelConfig p, double goodput, ClusterSpec cluster, double? target)
    {
        if (goodput <= 0) return null;
        if (ReplicaSizing.Size(Stages(p, goodput), cluster, target) is not { } sized) return null;
        return new PlannedPlacement { Mode = mode, Instances = new InstanceGroup(p, sized.Count, goodput), Goodput = sized.Goodput, ReachesTargetRate = sized.ReachesTarget };
    }

    /// <summary>An instance occupies one node-bound group per pipeline stage.</summary>
    private static ReplicaSizing.Replica Stages(ParallelConfig p, double goodput) => new(goodput, p.Tp, p.Pp);
}
