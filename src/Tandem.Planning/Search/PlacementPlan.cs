using Tandem.Serving;

namespace Tandem.Planning.Search;

/// <summary>The simulated goodput of one <see cref="PlanningUnit"/> (req/s at the attainment target; 0 when its SLOs are out of reach).</summary>
public sealed record UnitGoodput(PlanningUnit Unit, double Goodput, int Probes);

/// <summary>
/// The planner's answer: <see cref="Ranked"/> holds the best placement of every parallelism combination that can
/// serve at all, best first (<see cref="Chosen"/>); <see cref="Units"/> every goodput search it ran.
/// </summary>
public sealed record PlacementPlan
{
    public required ClusterSpec Cluster { get; init; }
    public required PlannerOptions Options { get; init; }
    public required IReadOnlyList<PlannedPlacement> Ranked { get; init; }
    public required IReadOnlyList<UnitGoodput> Units { get; init; }
    public required TimeSpan Elapsed { get; init; }

    /// <summary>The winner; null when no placement meets the SLOs at any rate.</summary>
    public PlannedPlacement? Chosen => Ranked.Count > 0 ? Ranked[0] : null;

    /// <summary>The best placement of one serving mode (whether disaggregation pays is Chosen's mode against these).</summary>
    public PlannedPlacement? BestOf(ServingMode mode) => Ranked.FirstOrDefault(p => p.Mode == mode);
}
