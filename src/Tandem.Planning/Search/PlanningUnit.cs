using Tandem.Planning.Simulation;
using Tandem.Serving;

namespace Tandem.Planning.Search;

/// <summary>What one goodput search simulates (and which SLOs its requests are judged by).</summary>
public enum UnitShape
{
    /// <summary>One prefill instance on its own, judged by TTFT only (Algorithm 1).</summary>
    PrefillOnly,
    /// <summary>One decode instance on its own, judged by TPOT only (Algorithm 1).</summary>
    DecodeOnly,
    /// <summary>One prefill and one decode instance whose stages share nodes, KV over the intra-node link, both SLOs (Algorithm 2).</summary>
    PairedInNode,
    /// <summary>One colocated instance (vLLM-style prefill-first batching), both SLOs.</summary>
    Colocated,
    /// <summary>One chunked-prefill instance (Sarathi-Serve), both SLOs.</summary>
    Chunked,
}

/// <summary>
/// The smallest deployment whose goodput the planner bisects: a shape and the parallelism of its instance (for
/// <see cref="UnitShape.PairedInNode"/>, <see cref="Parallelism"/> is the prefill instance's and
/// <see cref="DecodeParallelism"/> the decode instance's, each spanning all the pair's nodes).
/// </summary>
public sealed record PlanningUnit(UnitShape Shape, ParallelConfig Parallelism, ParallelConfig? DecodeParallelism = null)
{
    public int Devices => Parallelism.Devices + (DecodeParallelism?.Devices ?? 0);

    /// <summary>The serving mode this unit runs in.</summary>
    public ServingMode Mode => Shape switch
    {
        UnitShape.Colocated => ServingMode.Colocated,
        UnitShape.Chunked => ServingMode.Chunked,
        _ => ServingMode.Disaggregated,
    };

    public override string ToString() => Shape switch
    {
        UnitShape.PairedInNode => $"{Shape} prefill {Parallelism} + decode {DecodeParallelism}",
        _ => $"{Shape} {Parallelism}",
    };
}
