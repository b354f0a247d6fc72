using Tandem.Engine.KvCache;

namespace Tandem.Serving.Scheduling;

/// <summary>
/// What one instance has in its prefix cache, as the controller sees it: the hashes of the full blocks in its pool's
/// index, kept current by the pool's events (<see cref="IKvPrefixListener"/>) on the instance's loop and read by the
/// controller's threads. Sized once to the pool, so events allocate nothing.
/// </summary>
public sealed class CachedBlockDirectory : IKvPrefixListener
{
    private readonly HashSet<UInt128> _blocks;
    private readonly Lock _lock = new();

    public CachedBlockDirectory(int capacity) => _blocks = new HashSet<UInt128>(capacity);

    public int Count { get { lock (_lock) return _blocks.Count; } }

    public void Stored(UInt128 blockHash) { lock (_lock) _blocks.Add(blockHash); }
    public void Removed(UInt128 blockHash) { lock (_lock) _blocks.Remove(blockHash); }

    /// <summary>How many leading blocks of a prompt's hash chain this instance holds (a prefix: it stops at the first miss).</summary>
    public int LeadingBlocks(ReadOnlySpan<UInt128> chain)
    {
        lock (_lock)
        {
            int n = 0;
            while (n < chain.Length && _blocks.Contains(chain[n])) n++;
            return n;
        }
    }
}
