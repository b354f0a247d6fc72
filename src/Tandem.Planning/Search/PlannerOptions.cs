using Tandem.Benchmark.Metrics;

namespace Tandem.Planning.Search;

/// <summary>What the placement search aims for and how hard it looks.</summary>
public sealed record PlannerOptions
{
    public required SloSpec Slo { get; init; }
    /// <summary>Share of requests that must meet both SLOs (DistServe: 0.9).</summary>
    public double AttainmentTarget { get; init; } = 0.9;
    /// <summary>
    /// The request rate to serve (DistServe's R): the planner picks the placement that reaches it with the fewest
    /// devices. Null: the placement with the highest goodput the whole cluster can give.
    /// </summary>
    public double? TargetRate { get; init; }
    /// <summary>Goodput bisection stops when passing and failing rates are this close (req/s; DistServe's default 0.25).</summary>
    public double Precision { get; init; } = 0.25;
    /// <summary>Highest rate per device a bisection tries (a unit still passing there is credited with it).</summary>
    public double MaxRatePerDevice { get; init; } = 1000;
    /// <summary>Which kinds of placement compete: DistServe's two algorithms, and the colocated baselines so the plan says when disaggregation does not pay.</summary>
    public bool HighAffinity { get; init; } = true;
    public bool LowAffinity { get; init; } = true;
    public bool Colocated { get; init; } = true;
    public bool Chunked { get; init; } = true;
    /// <summary>Goodput searches run at once (each is independent and deterministic, so the plan does not depend on it).</summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;

    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Slo);
        if (!(AttainmentTarget > 0 && AttainmentTarget <= 1)) throw new ArgumentOutOfRangeException(nameof(AttainmentTarget), $"--attainment must be in (0, 1], got {AttainmentTarget}");
        if (TargetRate is { } r && !(r > 0 && !double.IsInfinity(r))) throw new ArgumentOutOfRangeException(nameof(TargetRate), $"--rate must be a positive number of requests per second, got {r}");
        if (!(Precision > 0)) throw new ArgumentOutOfRangeException(nameof(Precision), $"--precision must be positive, got {Precision}");
        if (!(MaxRatePerDevice > 0) || double.IsInfinity(MaxRatePerDevice)) throw new ArgumentOutOfRangeException(nameof(MaxRatePerDevice), $"the highest rate per device must be positive, got {MaxRatePerDevice}");
        if (!(HighAffinity || LowAffinity || Colocated || Chunked)) throw new ArgumentException("at least one kind of placement must compete");
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDegreeOfParallelism, 1);
    }
}
