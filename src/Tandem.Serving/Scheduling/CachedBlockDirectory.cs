using Tandem.Engine.KvCache;

namespace Tandem.Serving.Scheduling;

/// <summary>
/// What one instance has in its prefix cache, as a router sees it: the hashes of the full blocks in its pool's index,
/// kept current by the pool's events (<see cref="IKvPrefixListener"/>) on the instance's loop and read by the
/// controller's threads. A journal of the last changes lets a copy in another process (a cluster frontend) follow it
/// by difference (<see cref="ReportSince"/>, <see cref="Apply"/>) instead of receiving the whole set every heartbeat.
/// Sized once to the pool, so events allocate nothing.
/// </summary>
public sealed class CachedBlockDirectory : IKvPrefixListener
{
    private readonly HashSet<UInt128> _blocks;
    // The hash of each of the last changes (stored or removed), change n at n % length. As long as the pool: a
    // difference over more changes than that is no smaller than the whole set.
    private readonly UInt128[] _journal;
    private long _sequence; // changes since this directory was created
    private readonly Lock _lock = new();

    public CachedBlockDirectory(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _blocks = new HashSet<UInt128>(capacity);
        _journal = new UInt128[capacity];
        // Random per directory: a copy that followed another process (or an earlier run of this one) starts over.
        ulong epoch;
        do epoch = (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue); while (epoch == CachedBlockReport.NoEpoch);
        Epoch = epoch;
    }

    /// <summary>Names this directory's journal in reports (never <see cref="CachedBlockReport.NoEpoch"/>).</summary>
    public ulong Epoch { get; }

    public int Count { get { lock (_lock) return _blocks.Count; } }

    public void Stored(UInt128 blockHash) { lock (_lock) Add(blockHash); }
    public void Removed(UInt128 blockHash) { lock (_lock) Remove(blockHash); }

    // Under the lock.
    private void Add(UInt128 blockHash) { if (_blocks.Add(blockHash)) Journal(blockHash); }
    private void Remove(UInt128 blockHash) { if (_blocks.Remove(blockHash)) Journal(blockHash); }
    private void Journal(UInt128 blockHash) => _journal[_sequence++ % _journal.Length] = blockHash;

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

    /// <summary>
    /// What changed since a copy's position (<paramref name="epoch"/>, <paramref name="sequence"/>): each hash touched
    /// since, as stored or removed by where it is now; the whole set when the copy has nothing, followed another
    /// directory, or is further behind than the journal reaches.
    /// </summary>
    public CachedBlockReport ReportSince(ulong epoch, long sequence)
    {
        lock (_lock)
        {
            if (epoch != Epoch || sequence < 0 || sequence > _sequence || _sequence - sequence > _journal.Length)
                return new CachedBlockReport(Epoch, _sequence, Full: true, [.. _blocks], []);
            if (sequence == _sequence) return new CachedBlockReport(Epoch, _sequence, Full: false, [], []);
            var touched = new HashSet<UInt128>((int)(_sequence - sequence));
            for (long s = sequence; s < _sequence; s++) touched.Add(_journal[s % _journal.Length]);
            var stored = new List<UInt128>(touched.Count);
            var removed = new List<UInt128>(touched.Count);
            foreach (var h in touched) (_blocks.Contains(h) ? stored : removed).Add(h);
            return new CachedBlockReport(Epoch, _sequence, Full: false, [.. stored], [.. removed]);
        }
    }

    /// <summary>Brings this directory, a copy of another, up to a report of that one (journalled here as changes of its own).</summary>
    public void Apply(CachedBlockReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        lock (_lock)
        {
            if (report.Full)
            {
                var keep = new HashSet<UInt128>(report.Stored);
                foreach (var h in _blocks.Where(h => !keep.Contains(h)).ToList()) Remove(h);
            }
            foreach (var h in report.Removed) Remove(h);
            foreach (var h in report.Stored) Add(h);
        }
    }

    /// <summary>
    /// Blocks of a prompt of <paramref name="tokens"/> tokens an instance could take from its cache: whole blocks, at
    /// most all tokens but the last, which is computed for its logits (vLLM's rule, as the pool applies it).
    /// </summary>
    public static int ReusableBlocks(int tokens, int blockSize) => Math.Max(0, tokens - 1) / blockSize;

    /// <summary>
    /// For cache-aware routing: the tokens of a prompt each of <paramref name="holders"/> has cached (whole leading
    /// blocks it could reuse), by the directory <paramref name="directory"/> gives of it (null: nothing, or another
    /// hash chain), the prompt hashed once with <paramref name="hash"/>. The in-process controller, the cluster frontend
    /// and the simulator all measure overlap with this.
    /// </summary>
    public static void CachedTokens<T>(KvPrefixHash hash, ReadOnlySpan<int> prompt, IReadOnlyList<T> holders, Func<T, CachedBlockDirectory?> directory, Span<int> cached)
    {
        cached.Clear();
        int blocks = ReusableBlocks(prompt.Length, hash.BlockSize);
        UInt128[]? rented = blocks > 128 ? System.Buffers.ArrayPool<UInt128>.Shared.Rent(blocks) : null;
        Span<UInt128> chain = rented is null ? stackalloc UInt128[blocks] : rented.AsSpan(0, blocks);
        hash.Chain(prompt[..(blocks * hash.BlockSize)], chain);
        for (int i = 0; i < holders.Count; i++) cached[i] = (directory(holders[i])?.LeadingBlocks(chain) ?? 0) * hash.BlockSize;
        if (rented is not null) System.Buffers.ArrayPool<UInt128>.Shared.Return(rented);
    }
}
