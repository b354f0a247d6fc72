namespace Tandem.Engine.KvCache;

/// <summary>
/// One sequence's view of a <see cref="KvBlockPool"/>: its block table and token count. Position p lives
/// in block <c>Blocks[p / BlockSize]</c>, slot <c>p % BlockSize</c>. Dispose (or <see cref="Release"/>)
/// returns its blocks to the pool.
/// </summary>
public sealed class KvSequence : IDisposable
{
    private int[] _blocks = new int[4];
    // Prefix caching: the chained hash of each leading full block indexed (or offered to the index) so far.
    private UInt128[] _hashes = [];

    public KvBlockPool Pool { get; }
    /// <summary>Tokens whose keys and values are stored; the next token goes at this position.</summary>
    public int Length { get; internal set; }
    public int BlockCount { get; private set; }
    /// <summary>Positions the allocated blocks can hold.</summary>
    public int Capacity => BlockCount * Pool.BlockSize;
    public ReadOnlySpan<int> Blocks => _blocks.AsSpan(0, BlockCount);
    internal int[] BlockArray => _blocks;
    /// <summary>Leading full blocks whose prefix hash is known (attached from the cache, or offered to it).</summary>
    internal int HashedBlocks { get; private set; }
    internal UInt128 HashAt(int block) => _hashes[block];

    internal void SetHash(int block, UInt128 hash)
    {
        if (block != HashedBlocks) throw new InvalidOperationException($"block hashes are set in order: expected block {HashedBlocks}, got {block}");
        if (_hashes.Length <= block) Array.Resize(ref _hashes, Math.Max(Math.Max(4, _hashes.Length * 2), _blocks.Length));
        _hashes[block] = hash;
        HashedBlocks++;
    }

    internal KvSequence(KvBlockPool pool) => Pool = pool;

    /// <summary>
    /// Makes room for <paramref name="tokens"/> more tokens, allocating blocks as needed. Returns false,
    /// changing nothing, when the pool has too few free blocks (the scheduler then waits or preempts).
    /// </summary>
    public bool TryReserve(int tokens)
    {
        int needed = Pool.BlocksFor(Length + tokens) - BlockCount;
        if (needed <= 0) return true;
        if (needed > Pool.FreeBlocks) return false;
        if (BlockCount + needed > _blocks.Length) Array.Resize(ref _blocks, Math.Max(_blocks.Length * 2, BlockCount + needed));
        for (int i = 0; i < needed; i++) _blocks[BlockCount++] = Pool.TryAllocate();
        return true;
    }

    /// <summary>Appends an already-allocated block (import); the sequence takes over its reference.</summary>
    internal void AppendBlock(int block)
    {
        if (BlockCount == _blocks.Length) Array.Resize(ref _blocks, _blocks.Length * 2);
        _blocks[BlockCount++] = block;
    }

    /// <summary>Appends a cached block the pool has already referenced for this sequence (a prefix hit).</summary>
    internal void AppendBlock(int block, UInt128 hash)
    {
        AppendBlock(block);
        SetHash(BlockCount - 1, hash);
    }

    /// <summary>
    /// A simulated step computed the sequence up to <paramref name="length"/> tokens (within its reserved blocks): what
    /// writing their KV does to the length. Only on a pool without storage (<see cref="KvBlockPool.WithoutStorage"/>):
    /// on a real one it would pass unwritten KV off as computed.
    /// </summary>
    public void SimulateComputed(int length)
    {
        if (Pool.HasStorage) throw new InvalidOperationException("only a pool without storage takes simulated KV; a real pool's length follows the KV written");
        ArgumentOutOfRangeException.ThrowIfLessThan(length, Length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Capacity);
        Length = length;
    }

    /// <summary>Drops tokens after <paramref name="length"/>, releasing blocks no longer needed.</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        Length = length;
        int keep = Pool.BlocksFor(length);
        while (BlockCount > keep) Pool.Release(_blocks[--BlockCount]);
        HashedBlocks = Math.Min(HashedBlocks, length / Pool.BlockSize);
        // The last kept block is partial now and its slots past `length` get overwritten: it can no longer be a cached block.
        if (length % Pool.BlockSize != 0) Pool.Uncache(_blocks[BlockCount - 1]);
    }

    /// <summary>Returns every block to the pool; the sequence is empty afterwards and may be reused.</summary>
    public void Release() => Truncate(0);

    public void Dispose() => Release();
}
