namespace Tandem.Planning.Search;

/// <summary>
/// How many replicas of a unit a placement takes, once the unit's goodput is known (no simulation here): enough to
/// reach the target rate (DistServe's <c>n = ⌈R / goodput⌉</c>), or, without a target or when the cluster cannot
/// reach it, as many as raise the goodput within the cluster.
/// </summary>
internal static class ReplicaSizing
{
    /// <summary>One replicated thing: its goodput, and the node-bound device groups it occupies (pipeline stages, or Algorithm 2's per-node segments).</summary>
    internal readonly record struct Replica(double Goodput, int GroupDevices, int GroupsPerReplica)
    {
        public int Devices => GroupDevices * GroupsPerReplica;
    }

    internal readonly record struct Sized(int Count, double Goodput, bool ReachesTarget);
    internal readonly record struct SizedPair(int Prefill, int Decode, double Goodput, bool ReachesTarget);

    /// <summary>Replicas of one unit; null when not even one fits the cluster.</summary>
    internal static Sized? Size(Replica replica, ClusterSpec cluster, double? targetRate)
    {
        if (targetRate is { } rate)
        {
            int needed = ReplicasFor(rate, replica.Goodput);
            if (Fits(cluster, replica, needed))
                return new Sized(needed, needed * replica.Goodput, true);
        }
        int most = MostThatFit(cluster, replica, other: default, otherCount: 0);
        return most == 0 ? null : new Sized(most, most * replica.Goodput, targetRate is null);
    }

    /// <summary>
    /// Prefill and decode replicas of Algorithm 1: the slower phase bounds the goodput. Without a reachable target,
    /// for each prefill count the decode count that keeps up (no more: more would only cost devices), the best total.
    /// </summary>
    internal static SizedPair? SizePair(Replica prefill, Replica decode, ClusterSpec cluster, double? targetRate)
    {
        if (targetRate is { } rate)
        {
            int n = ReplicasFor(rate, prefill.Goodput), m = ReplicasFor(rate, decode.Goodput);
            if (Fits(cluster, prefill, n, decode, m))
                return new SizedPair(n, m, Math.Min(n * prefill.Goodput, m * decode.Goodput), true);
        }
        SizedPair? best = null;
        int nMost = MostThatFit(cluster, prefill, decode, otherCount: 1);
        for (int n = 1; n <= nMost; n++)
        {
            int mFit = MostThatFit(cluster, decode, prefill, otherCount: n);
            if (mFit == 0) break;
            int m = Math.Min(mFit, ReplicasFor(n * prefill.Goodput, decode.Goodput));
            double goodput = Math.Min(n * prefill.Goodput, m * decode.Goodput);
            int devices = n * prefill.Devices + m * decode.Devices;
            if (best is not { } b || goodput > b.Goodput || (goodput == b.Goodput && devices < b.Prefill * prefill.Devices + b.Decode * decode.Devices))
                best = new SizedPair(n, m, goodput, targetRate is null);
        }
        return best;
    }

    /// <summary>⌈rate / goodput⌉, forgiving the last bit of rounding (2 / 0.5 is 4, not 5).</summary>
    internal static int ReplicasFor(double rate, double goodput) =>
        (int)Math.Min(int.MaxValue, Math.Max(1, Math.Ceiling(rate / goodput * (1 - 1e-12))));

    private static int MostThatFit(ClusterSpec cluster, Replica replica, Replica other, int otherCount)
    {
        int bound = cluster.TotalDevices / replica.Devices;
        int count = 0;
        while (count < bound && Fits(cluster, replica, count + 1, other, otherCount)) count++;
        return count;
    }

    private static bool Fits(ClusterSpec cluster, Replica a, int aCount, Replica b = default, int bCount = 0) =>
        cluster.CanHost([(a.GroupDevices, a.GroupsPerReplica * aCount), (Math.Max(1, b.GroupDevices), b.GroupsPerReplica * bCount)]);
}
