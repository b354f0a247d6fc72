using Tandem.Planning.Simulation;
using Tandem.Serving;

namespace Tandem.Planning.Search;

/// <summary>Where a disaggregated placement's KV caches travel: DistServe's two placement algorithms.</summary>
public enum NodeAffinity
{
    /// <summary>Algorithm 1: each phase placed on its own, KV over the cross-node network (assumed fast enough).</summary>
    High,
    /// <summary>Algorithm 2: stage k of prefill and stage k of decode share a node, KV over the intra-node link.</summary>
    Low,
}

/// <summary><see cref="Count"/> identical instances of one parallelism, and the rate each sustains within its SLOs (simulated).</summary>
public sealed record InstanceGroup(ParallelConfig Parallelism, int Count, double GoodputPerInstance)
{
    public int Devices => Parallelism.Devices * Count;
}

/// <summary>
/// One candidate deployment: disaggregated (prefill and decode groups, placed with high or low node affinity) or
/// colocated / chunked (one group). <see cref="Goodput"/> is the rate the whole placement sustains within the SLOs
/// at the attainment target, from the simulated goodput of its instances: for disaggregated, the slower phase bounds
/// it (<c>min(n·g_prefill, m·g_decode)</c>).
/// </summary>
public sealed record PlannedPlacement
{
    public required ServingMode Mode { get; init; }
    /// <summary>Disaggregated only.</summary>
    public NodeAffinity? Affinity { get; init; }
    /// <summary>Low affinity: the nodes one prefill/decode pair spans (its pipeline stages across nodes).</summary>
    public int? NodesPerPair { get; init; }
    public InstanceGroup? Prefill { get; init; }
    public InstanceGroup? Decode { get; init; }
    /// <summary>Colocated and chunked modes.</summary>
    public InstanceGroup? Instances { get; init; }
    public required double Goodput { get; init; }
    /// <summary>Whether the placement reaches the planned-for rate within the cluster (always true when none was given).</summary>
    public bool ReachesTargetRate { get; init; } = true;

    /// <summary>The whole placement's goodput, every instance simulated at once (<see cref="PlacementPlanner.SimulateGoodput"/>); null when not checked.</summary>
    public double? SimulatedGoodput { get; init; }

    public int Devices => (Prefill?.Devices ?? 0) + (Decode?.Devices ?? 0) + (Instances?.Devices ?? 0);
    public double GoodputPerDevice => Devices == 0 ? 0 : Goodput / Devices;

    /// <summary>One line: "disaggregated (high affinity): 2 × prefill TP2 + 3 × decode TP1".</summary>
    public string Describe() => Mode switch
    {
        ServingMode.Disaggregated =>
            $"disaggregated ({(Affinity == NodeAffinity.Low ? $"low affinity, a pair spans {NodesPerPair} node(s)" : "high affinity")}): {Prefill!.Count} × prefill {Prefill.Parallelism} + {Decode!.Count} × decode {Decode.Parallelism}",
        _ => $"{Mode.ToString().ToLowerInvariant()}: {Instances!.Count} × {Instances.Parallelism}",
    };
}
