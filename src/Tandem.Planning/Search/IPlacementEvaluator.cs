using Tandem.Planning.Simulation;
using Tandem.Benchmark.Metrics;

namespace Tandem.Planning.Search;

/// <summary>
/// What the placement search needs from a latency model: which parallelisms exist (the profile's tensor degrees,
/// whether pipelining is modelled, whether the model fits), and the SLO attainment of a <see cref="PlanningUnit"/>
/// at an arrival rate. The planner runs it from several threads at once: it must be safe for that and deterministic
/// (same unit, rate and SLO, same answer), as a seeded simulation is.
/// </summary>
public interface IPlacementEvaluator
{
    /// <summary>Devices per stage the latency model knows (GPU tensor-parallel degrees, or CPU cores per instance).</summary>
    IReadOnlyList<int> TensorDegrees { get; }

    /// <summary>Most pipeline stages the model can be split into (1 where pipelining is not modelled, as on a CPU).</summary>
    int MaxPipelineDegree { get; }

    /// <summary>Whether the model's weights and a useful KV cache fit an instance of this parallelism.</summary>
    bool Fits(ParallelConfig parallelism);

    /// <summary>Share of requests meeting <paramref name="slo"/> when the unit serves Poisson arrivals at <paramref name="rate"/> req/s.</summary>
    double Attainment(PlanningUnit unit, double rate, SloSpec slo);
}
