using Tandem.Serving;

namespace Tandem.Planning.Search;

/// <summary>
/// The order of placements, best first. With a target rate: those that reach it, fewest devices first, then the
/// highest goodput per device. Without one (or among those that cannot reach it): the highest goodput, then the
/// fewest devices. Remaining ties fall to disaggregated before colocated before chunked, then to the description, so
/// a plan never depends on enumeration or thread order.
/// </summary>
internal sealed class PlacementRanking : IComparer<PlannedPlacement>
{
    private readonly bool _hasTarget;
    private PlacementRanking(bool hasTarget) => _hasTarget = hasTarget;

    public static PlacementRanking For(double? targetRate) => new(targetRate is not null);

    public int Compare(PlannedPlacement? x, PlannedPlacement? y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        int c;
        if (_hasTarget)
        {
            if ((c = y.ReachesTargetRate.CompareTo(x.ReachesTargetRate)) != 0) return c;
            if (x.ReachesTargetRate)
            {
                if ((c = x.Devices.CompareTo(y.Devices)) != 0) return c;
                if ((c = y.GoodputPerDevice.CompareTo(x.GoodputPerDevice)) != 0) return c;
            }
        }
        if ((c = y.Goodput.CompareTo(x.Goodput)) != 0) return c;
        if ((c = x.Devices.CompareTo(y.Devices)) != 0) return c;
        if ((c = ModeOrder(x.Mode).CompareTo(ModeOrder(y.Mode))) != 0) return c;
        return string.CompareOrdinal(x.Describe(), y.Describe());
    }

    private static int ModeOrder(ServingMode mode) => mode switch
    {
        ServingMode.Disaggregated => 0,
        ServingMode.Colocated => 1,
        _ => 2,
    };
}
