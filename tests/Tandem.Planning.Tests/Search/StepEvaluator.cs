using Tandem.Planning.Simulation;
using Tandem.Benchmark.Metrics;
using Tandem.Planning.Search;

namespace Tandem.Planning.Tests.Search;

/// <summary>
/// A synthetic latency model whose goodputs are known exactly: every unit meets its SLOs for every request up to its
/// capacity and for none beyond (a step). Capacities are drawn from a seed, per unit, in multiples of 0.25 req/s so a
/// bisection at precision 0.25 lands on them exactly; some are 0 (the SLO is out of reach) and some parallelisms do
/// not fit the model, as with a real profile.
/// </summary>
internal sealed class StepEvaluator(int seed, IReadOnlyList<int> tensorDegrees, int maxPipelineDegree, int minDevices = 1) : IPlacementEvaluator
{
    private int _calls;

    public IReadOnlyList<int> TensorDegrees => tensorDegrees;
    public int MaxPipelineDegree => maxPipelineDegree;
    public int Calls => _calls;

    public bool Fits(ParallelConfig parallelism) => parallelism.Devices >= minDevices;

    public double Attainment(PlanningUnit unit, double rate, SloSpec slo)
    {
        Interlocked.Increment(ref _calls);
        return rate <= Capacity(unit) ? 1.0 : 0.0;
    }

    /// <summary>The unit's goodput: a stable function of the seed and the unit (string hashes are randomised per process, so arithmetic).</summary>
    public double Capacity(PlanningUnit unit)
    {
        var d = unit.DecodeParallelism ?? new ParallelConfig(1);
        int key = seed * 1_000_003 + (int)unit.Shape * 100_003 + unit.Parallelism.Tp * 1009 + unit.Parallelism.Pp * 101 + d.Tp * 11 + d.Pp;
        var rng = new Random(key);
        // Roughly proportional to the devices, with wide noise, so that neither the largest nor the smallest configuration always wins.
        return 0.25 * rng.Next(0, 12 * unit.Devices + 1);
    }
}
