namespace Tandem.Serving;

/// <summary>When an instance uses the KV disk tier (<see cref="ServingOptions.KvDiskDir"/>).</summary>
public enum KvDiskPolicy
{
    /// <summary>
    /// Only where reading beats recomputing: at start-up a cold read of one block is timed against recomputing a
    /// block's tokens; an instance uses the tier when the read is faster than the recompute divided by its cores.
    /// </summary>
    Auto,
    /// <summary>Every instance uses it, unmeasured (a disk known to be fast; tests).</summary>
    Always,
}
