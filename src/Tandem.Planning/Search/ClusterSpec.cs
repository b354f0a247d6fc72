namespace Tandem.Planning.Search;

/// <summary>
/// The machines a placement must fit: <see cref="Nodes"/> nodes of <see cref="DevicesPerNode"/> devices (GPUs, or
/// CPU cores), a fast link inside a node and a slower one between nodes (bytes per second), over which KV caches move.
/// </summary>
public sealed record ClusterSpec
{
    /// <summary>NVLink-class A100 bandwidth inside a node (600 GB/s), DistServe's intra-node link.</summary>
    public const double DefaultIntraNodeBandwidth = 600e9;
    /// <summary>The 25 Gbit/s cross-node network of DistServe's low-affinity testbed.</summary>
    public const double DefaultInterNodeBandwidth = 25e9 / 8;

    public ClusterSpec(int nodes, int devicesPerNode, double intraNodeBandwidth = DefaultIntraNodeBandwidth, double interNodeBandwidth = DefaultInterNodeBandwidth)
    {
        if (nodes < 1) throw new ArgumentOutOfRangeException(nameof(nodes), $"--nodes must be at least 1, got {nodes}");
        if (devicesPerNode < 1) throw new ArgumentOutOfRangeException(nameof(devicesPerNode), $"--devices-per-node must be at least 1, got {devicesPerNode}");
        if (!(intraNodeBandwidth > 0) || double.IsInfinity(intraNodeBandwidth)) throw new ArgumentOutOfRangeException(nameof(intraNodeBandwidth), $"--intra-bandwidth must be positive, got {intraNodeBandwidth / 1e9} GB/s");
        if (!(interNodeBandwidth > 0) || double.IsInfinity(interNodeBandwidth)) throw new ArgumentOutOfRangeException(nameof(interNodeBandwidth), $"--inter-bandwidth must be positive, got {interNodeBandwidth / 1e9} GB/s");
        Nodes = nodes;
        DevicesPerNode = devicesPerNode;
        IntraNodeBandwidth = intraNodeBandwidth;
        InterNodeBandwidth = interNodeBandwidth;
    }

    public int Nodes { get; }
    public int DevicesPerNode { get; }
    public double IntraNodeBandwidth { get; }
    public double InterNodeBandwidth { get; }
    public int TotalDevices => Nodes * DevicesPerNode;

    /// <summary>
    /// Whether groups of devices that must each sit inside one node (a pipeline stage, or Algorithm 2's prefill and
    /// decode segments of one stage) fit the nodes: first-fit decreasing, which never packs what cannot fit and, for
    /// the few group sizes a placement has, finds a packing whenever the sizes divide the node (the usual powers of two).
    /// </summary>
    public bool CanHost(IEnumerable<(int DevicesPerGroup, int Groups)> groups)
    {
        var sizes = new List<int>();
        foreach (var (size, count) in groups)
        {
            if (count == 0) continue;
            if (size > DevicesPerNode) return false;
            if ((long)size * count > TotalDevices) return false;
            for (int i = 0; i < count; i++) sizes.Add(size);
        }
        if (sizes.Sum() > TotalDevices) return false;
        sizes.Sort((a, b) => b.CompareTo(a));
        var free = new int[Nodes];
        Array.Fill(free, DevicesPerNode);
        foreach (int size in sizes)
        {
            int node = Array.FindIndex(free, f => f >= size);
            if (node < 0) return false;
            free[node] -= size;
        }
        return true;
    }
}
