using Tandem.Planning.Simulation;
using Tandem.Planning.Search;

namespace Tandem.Planning.Tests.Search;

/// <summary>
/// Every homogeneous placement of a small cluster, enumerated directly (every configuration, every replica count)
/// with the goodput a placement of <see cref="StepEvaluator"/> units has: the sum over replicas, and for
/// disaggregated the slower phase. The planner must find the optimum this finds.
/// </summary>
internal static class BruteForcePlacements
{
    internal sealed record Candidate(string Kind, int Devices, double Goodput);

    public static List<Candidate> All(StepEvaluator model, ClusterSpec cluster, bool high, bool low, bool colocated, bool chunked)
    {
        var result = new List<Candidate>();
        var configs = new List<ParallelConfig>();
        foreach (int t in model.TensorDegrees)
            for (int s = 1; s <= model.MaxPipelineDegree; s++)
                if (t <= cluster.DevicesPerNode && t * s <= cluster.TotalDevices && model.Fits(new ParallelConfig(t, s)))
                    configs.Add(new ParallelConfig(t, s));
        int most = cluster.TotalDevices;

        foreach (var p in configs)
        {
            if (colocated || chunked)
                for (int k = 1; k <= most; k++)
                    if (cluster.CanHost([(p.Tp, p.Pp * k)]))
                    {
                        if (colocated) Add("colocated", k * p.Devices, k * model.Capacity(new PlanningUnit(UnitShape.Colocated, p)));
                        if (chunked) Add("chunked", k * p.Devices, k * model.Capacity(new PlanningUnit(UnitShape.Chunked, p)));
                    }
            if (!high) continue;
            foreach (var d in configs)
                for (int n = 1; n <= most; n++)
                    for (int m = 1; m <= most; m++)
                        if (cluster.CanHost([(p.Tp, p.Pp * n), (d.Tp, d.Pp * m)]))
                            Add("high", n * p.Devices + m * d.Devices, Math.Min(
                                n * model.Capacity(new PlanningUnit(UnitShape.PrefillOnly, p)),
                                m * model.Capacity(new PlanningUnit(UnitShape.DecodeOnly, d))));
        }
        if (low)
            for (int nodes = 1; nodes <= cluster.Nodes && nodes <= model.MaxPipelineDegree; nodes++)
                foreach (int tp in model.TensorDegrees)
                    foreach (int td in model.TensorDegrees)
                        for (int sp = 1; sp * nodes <= model.MaxPipelineDegree; sp++)
                            for (int sd = 1; sd * nodes <= model.MaxPipelineDegree; sd++)
                            {
                                var prefill = new ParallelConfig(tp, sp * nodes);
                                var decode = new ParallelConfig(td, sd * nodes);
                                int perNode = tp * sp + td * sd;
                                if (perNode > cluster.DevicesPerNode || !model.Fits(prefill) || !model.Fits(decode)) continue;
                                double unit = model.Capacity(new PlanningUnit(UnitShape.PairedInNode, prefill, decode));
                                for (int k = 1; k <= most; k++)
                                    if (cluster.CanHost([(perNode, nodes * k)]))
                                        Add("low", k * perNode * nodes, k * unit);
                            }
        return result;

        void Add(string kind, int devices, double goodput)
        {
            if (goodput > 0) result.Add(new Candidate(kind, devices, goodput));
        }
    }

    /// <summary>With a target: the fewest devices reaching it, then the most goodput per device; else the most goodput, then the fewest devices.</summary>
    public static Candidate? Best(IEnumerable<Candidate> all, double? target)
    {
        var list = all.ToList();
        if (target is { } r && list.Any(c => c.Goodput >= r))
            return list.Where(c => c.Goodput >= r).OrderBy(c => c.Devices).ThenByDescending(c => c.Goodput / c.Devices).First();
        return list.OrderByDescending(c => c.Goodput).ThenBy(c => c.Devices).FirstOrDefault();
    }
}
