namespace Tandem.Engine.KvCache;

/// <summary>
/// The prefix cache of one <see cref="KvBlockPool"/> (vLLM's automatic prefix caching): an index from block hash
/// (<see cref="KvPrefixHash"/>) to the block holding that full block of KV, the token ids each indexed block holds
/// (compared on every hit, so a hash collision is a miss, never wrong output), and an LRU list of the indexed blocks
/// no sequence references. Those blocks count as free: the pool hands them out, least recently released first,
/// only when no never-used block is left, and drops them from the index then. Arrays sized once; nothing is
/// allocated per block or per token. Same single owner as the pool.
/// </summary>
internal sealed class KvPrefixCache
{
    private readonly int _blockSize;
    private readonly Dictionary<UInt128, int> _index;
    private readonly UInt128[] _hashOf;
    private readonly bool[] _indexed;
    private readonly int[] _tokens;            // block b's ids at [b·BlockSize, (b+1)·BlockSize) while indexed
    private readonly int[] _prev, _next;       // LRU of unreferenced indexed blocks; -1 ends
    private readonly bool[] _inLru;
    private int _head = -1, _tail = -1;

    public KvPrefixCache(KvPrefixHash hash, int blockCount)
    {
        Hash = hash;
        _blockSize = hash.BlockSize;
        _index = new Dictionary<UInt128, int>(blockCount);
        _hashOf = new UInt128[blockCount];
        _indexed = new bool[blockCount];
        _tokens = new int[blockCount * hash.BlockSize];
        _prev = new int[blockCount];
        _next = new int[blockCount];
        _inLru = new bool[blockCount];
    }

    public KvPrefixHash Hash { get; }
    /// <summary>Who hears of blocks entering and leaving the index (a router's view), if anyone.</summary>
    public IKvPrefixListener? Listener { get; set; }
    /// <summary>Indexed blocks no sequence references: evictable, counted as free.</summary>
    public int Evictable { get; private set; }
    /// <summary>Blocks in the index, referenced or not.</summary>
    public int Indexed => _index.Count;

    public bool IsIndexed(int block) => _indexed[block];

    /// <summary>The hash and token ids block <paramref name="block"/> was indexed under; still valid right after it is evicted, until it is reused.</summary>
    public UInt128 HashOf(int block) => _hashOf[block];
    public ReadOnlySpan<int> TokensOf(int block) => _tokens.AsSpan(block * _blockSize, _blockSize);

    /// <summary>The indexed block under <paramref name="hash"/> if it holds exactly <paramref name="tokens"/>, else -1.</summary>
    public int Find(UInt128 hash, ReadOnlySpan<int> tokens) =>
        _index.TryGetValue(hash, out int b) && tokens.SequenceEqual(_tokens.AsSpan(b * _blockSize, _blockSize)) ? b : -1;

    /// <summary>Indexes a full block; false (nothing changes) when another block already holds that hash.</summary>
    public bool TryAdd(int block, UInt128 hash, ReadOnlySpan<int> tokens)
    {
        if (_indexed[block]) return true;
        if (!_index.TryAdd(hash, block)) return false;
        _indexed[block] = true;
        _hashOf[block] = hash;
        tokens.CopyTo(_tokens.AsSpan(block * _blockSize, _blockSize));
        Listener?.Stored(hash);
        return true;
    }

    /// <summary>Drops a block from the index (evicted, or about to be overwritten).</summary>
    public void Remove(int block)
    {
        if (!_indexed[block]) return;
        if (_inLru[block]) Unlink(block);
        _index.Remove(_hashOf[block]);
        _indexed[block] = false;
        Listener?.Removed(_hashOf[block]);
    }

    /// <summary>An indexed block's last reference went: it waits, evictable, at the LRU's tail.</summary>
    public void Park(int block)
    {
        _inLru[block] = true;
        _prev[block] = _tail;
        _next[block] = -1;
        if (_tail >= 0) _next[_tail] = block; else _head = block;
        _tail = block;
        Evictable++;
    }

    /// <summary>A parked block is referenced again (a prefix hit): it leaves the LRU.</summary>
    public void Unpark(int block)
    {
        if (_inLru[block]) Unlink(block);
    }

    /// <summary>Takes the least recently parked block out of the index for reuse; -1 when none is parked.</summary>
    public int Evict()
    {
        int b = _head;
        if (b < 0) return -1;
        Remove(b);
        return b;
    }

    private void Unlink(int block)
    {
        int p = _prev[block], n = _next[block];
        if (p >= 0) _next[p] = n; else _head = n;
        if (n >= 0) _prev[n] = p; else _tail = p;
        _inLru[block] = false;
        Evictable--;
    }
}
