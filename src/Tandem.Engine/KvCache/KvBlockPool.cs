using Tandem.Engine.Model;

namespace Tandem.Engine.KvCache;

/// <summary>
/// Paged KV memory, as vLLM's PagedAttention: a fixed number of blocks of <see cref="BlockSize"/> token
/// slots, each slot holding every layer's key and value vectors. Sequences own blocks through their
/// <see cref="KvSequence"/> block tables; blocks are reference counted so sequences can share them. With prefix
/// caching on (<see cref="EnablePrefixCaching"/>) full blocks are indexed by their <see cref="KvPrefixHash"/>: a new
/// sequence reuses the longest cached prefix of its tokens, and blocks no sequence references stay cached until a
/// block is needed (LRU). Every block is exactly one of free (holds nothing), cached (indexed, unreferenced,
/// evictable) or used (referenced); <see cref="FreeBlocks"/> counts free and cached, both being allocatable.
/// Not thread-safe: one owner (an instance's loop) allocates and frees.
/// Storage is per layer, block-major: layer l, block b, slot s starts at ((b·BlockSize)+s)·kvDim.
/// </summary>
public sealed class KvBlockPool
{
    private readonly int[] _refCounts;
    private readonly Stack<int> _free;
    private KvPrefixCache? _prefix;
    private KvDiskStore? _disk;
    private byte[] _diskFile = [];   // one block file, read back before it reaches the pool
    private int[] _pinned = [];      // blocks held while a prefix is read back from disk

    public ModelConfig Config { get; }
    public int BlockSize { get; }
    public int BlockCount { get; }
    public KvElementType ElementType { get; }
    public int KvDim { get; }
    public int Layers { get; }

    // Exactly one of these pairs is allocated, by element type.
    internal readonly float[][]? KeysF32;
    internal readonly float[][]? ValuesF32;
    internal readonly Half[][]? KeysF16;
    internal readonly Half[][]? ValuesF16;

    /// <summary>Blocks a sequence can get now: never used or released uncached, plus cached ones nobody references (evicted on demand).</summary>
    public int FreeBlocks => _free.Count + (_prefix?.Evictable ?? 0);
    /// <summary>Blocks referenced by at least one sequence.</summary>
    public int UsedBlocks => BlockCount - FreeBlocks;
    /// <summary>Blocks that hold a cached prefix and that no sequence references (part of <see cref="FreeBlocks"/>).</summary>
    public int CachedBlocks => _prefix?.Evictable ?? 0;
    /// <summary>Blocks in the prefix index, referenced or not.</summary>
    public int IndexedBlocks => _prefix?.Indexed ?? 0;
    public bool PrefixCaching => _prefix != null;
    /// <summary>The block hash chain of this pool (null when prefix caching is off).</summary>
    public KvPrefixHash? PrefixHash => _prefix?.Hash;

    /// <summary>Hears of every block entering or leaving the prefix index (set before the pool is used; needs prefix caching).</summary>
    public IKvPrefixListener? PrefixListener
    {
        get => _prefix?.Listener;
        set => (_prefix ?? throw new InvalidOperationException("prefix caching is off in this pool")).Listener = value;
    }

    /// <summary>
    /// The disk tier under this pool's prefix cache (null: none): a cached block evicted from the pool is offered to
    /// it, and <see cref="ReadCachedPrefixFromDisk"/> continues a prefix there. Needs prefix caching and a store of this
    /// pool's block format (model, block size, KV type); set before the pool is used. May be shared by several pools.
    /// </summary>
    public KvDiskStore? DiskTier
    {
        get => _disk;
        set
        {
            if (value != null)
            {
                if (_prefix == null) throw new InvalidOperationException("the KV disk tier needs prefix caching");
                if (value.Format != KvDiskBlockFile.For(this)) throw new ArgumentException($"the disk store holds blocks of {value.Format}, this pool {KvDiskBlockFile.For(this)}", nameof(value));
                _diskFile = new byte[value.Format.FileBytes];
                _pinned = new int[BlockCount];
            }
            _disk = value;
        }
    }

    /// <summary>Bytes of one block (all layers, K and V).</summary>
    public long BytesPerBlock => BytesPerToken(Config, ElementType) * BlockSize;

    public static long BytesPerToken(ModelConfig c, KvElementType type) =>
        2L * c.BlockCount * c.KvDim * (type == KvElementType.F16 ? 2 : 4);

    public KvBlockPool(ModelConfig config, int blockCount, int blockSize = 16, KvElementType elementType = KvElementType.F32)
    {
        if (blockSize <= 0) throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "block size must be positive");
        if (blockCount <= 0) throw new ArgumentOutOfRangeException(nameof(blockCount), blockCount, "a KV pool needs at least one block");
        Config = config;
        BlockSize = blockSize;
        BlockCount = blockCount;
        ElementType = elementType;
        KvDim = config.KvDim;
        Layers = config.BlockCount;
        long perLayer = (long)blockCount * blockSize * KvDim;
        if (perLayer > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(blockCount), blockCount, "KV pool too large for one array per layer");
        if (elementType == KvElementType.F32)
        {
            KeysF32 = new float[Layers][];
            ValuesF32 = new float[Layers][];
            for (int l = 0; l < Layers; l++) { KeysF32[l] = PoolArray<float>(perLayer); ValuesF32[l] = PoolArray<float>(perLayer); }
        }
        else
        {
            KeysF16 = new Half[Layers][];
            ValuesF16 = new Half[Layers][];
            for (int l = 0; l < Layers; l++) { KeysF16[l] = PoolArray<Half>(perLayer); ValuesF16[l] = PoolArray<Half>(perLayer); }
        }
        Commit();
        _refCounts = new int[blockCount];
        _free = new Stack<int>(blockCount);
        for (int b = blockCount - 1; b >= 0; b--) _free.Push(b);
    }

    /// <summary>
    /// The pool's arrays live on the pinned object heap, not the large object heap. Hundreds of MiB of long-lived KV in
    /// the LOH made the GC's LOH budget as large, so the short-lived large arrays of requests (a sampler's
    /// vocabulary-sized buffers, about 200 KB each) piled up for minutes before a gen-2 collection reclaimed them: the
    /// 10-minute overload run's resident set grew 15% from first to second half with a flat live heap.
    /// </summary>
    private static T[] PoolArray<T>(long length) => GC.AllocateArray<T>(checked((int)length), pinned: true);

    /// <summary>
    /// Writes every page of the pool once, so the whole budget is resident from the start, as llama.cpp clears its KV
    /// buffer at context creation. Without it a fresh large array stays untouched until used, and because the
    /// allocator hands out never-used blocks before it evicts cached ones, resident memory crept up request by request
    /// until the pool had been walked once: under steady load a server's memory grew for minutes (15% in the
    /// 10-minute overload run) and looked like a leak.
    /// </summary>
    private void Commit()
    {
        for (int l = 0; l < Layers; l++)
        {
            if (KeysF32 is not null) { KeysF32[l].AsSpan().Clear(); ValuesF32![l].AsSpan().Clear(); }
            else { KeysF16![l].AsSpan().Clear(); ValuesF16![l].AsSpan().Clear(); }
        }
    }

    /// <summary>
    /// A pool of <paramref name="blockCount"/> blocks that keeps the accounting (reference counts, free list, prefix
    /// index and LRU) but no KV: a simulator drives the real schedulers and KV manager over it on a virtual clock, with
    /// <see cref="KvSequence.SimulateComputed"/> standing in for the steps that would write KV. No model can run on it.
    /// </summary>
    public static KvBlockPool WithoutStorage(int blockCount, int blockSize = 16) => new(NoLayers, blockCount, blockSize);

    /// <summary>The shape of a pool without storage: no layers, so no KV arrays (and <see cref="BytesPerBlock"/> 0).</summary>
    private static readonly ModelConfig NoLayers = new()
    {
        Architecture = default, ArchitectureName = "none (KV accounting only)", EmbeddingLength = 0, BlockCount = 0,
        FeedForwardLength = 0, HeadCount = 0, HeadCountKv = 0, HeadDim = 0, RopeDimensions = 0, RopeFreqBase = 0,
        RopeFreqScale = 1, RmsNormEpsilon = 0, ContextLength = 0, VocabSize = 0,
    };

    /// <summary>True for a pool made by <see cref="WithoutStorage"/>.</summary>
    public bool HasStorage => Layers > 0;

    /// <summary>
    /// A pool sized from a memory budget in bytes: as many blocks as fit. Throws
    /// <see cref="ArgumentException"/> with the numbers when the budget is below one block.
    /// </summary>
    public static KvBlockPool FromBudget(ModelConfig config, long budgetBytes, int blockSize = 16, KvElementType elementType = KvElementType.F32)
    {
        long perBlock = BytesPerToken(config, elementType) * blockSize;
        long blocks = budgetBytes / perBlock;
        if (blocks < 1)
            throw new ArgumentException(
                $"KV memory budget of {Format(budgetBytes)} is below one block of {blockSize} tokens ({Format(perBlock)} for this model with {elementType} KV)");
        return new KvBlockPool(config, (int)Math.Min(blocks, int.MaxValue), blockSize, elementType);
    }

    /// <summary>Bytes as people read them: KiB, MiB or GiB.</summary>
    public static string Format(long bytes) =>
        bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):0.##} GiB" : bytes >= 1L << 20 ? $"{bytes / (double)(1L << 20):0.##} MiB" : $"{bytes / 1024.0:0.##} KiB";

    /// <summary>Blocks needed to hold <paramref name="tokens"/> tokens.</summary>
    public int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;

    /// <summary>
    /// Turns on prefix caching, keyed by <paramref name="model"/>'s fingerprint, this pool's block size and KV type.
    /// Only on a pool no sequence uses yet.
    /// </summary>
    public void EnablePrefixCaching(ModelFingerprint model)
    {
        if (_free.Count != BlockCount) throw new InvalidOperationException("prefix caching must be enabled before any block is allocated");
        _prefix ??= new KvPrefixCache(new KvPrefixHash(model, BlockSize, ElementType), BlockCount);
    }

    /// <summary>
    /// Takes a free block (reference count 1): a never-used one first, else the least recently released cached
    /// block, which leaves the prefix index. Returns -1 when none is free.
    /// </summary>
    public int TryAllocate()
    {
        int b;
        if (_free.Count > 0) b = _free.Pop();
        else
        {
            if ((b = _prefix?.Evict() ?? -1) < 0) return -1;
            // Its KV is still there until the caller writes over it: the disk tier copies it now (or drops it).
            _disk?.Offer(this, b, _prefix!.HashOf(b), _prefix.TokensOf(b));
        }
        _refCounts[b] = 1;
        return b;
    }

    /// <summary>Adds a reference to a block in use (for sharing).</summary>
    public void AddRef(int block)
    {
        if (_refCounts[block] <= 0) throw new InvalidOperationException($"KV block {block} is not allocated");
        _refCounts[block]++;
    }

    /// <summary>Drops a reference; at zero the block stays cached if it is indexed, else it returns to the free list.</summary>
    public void Release(int block)
    {
        if (_refCounts[block] <= 0) throw new InvalidOperationException($"KV block {block} released more often than allocated");
        if (--_refCounts[block] != 0) return;
        if (_prefix != null && _prefix.IsIndexed(block)) _prefix.Park(block);
        else _free.Push(block);
    }

    /// <summary>
    /// The longest cached prefix of <paramref name="tokens"/> in whole blocks, at most <paramref name="maxTokens"/>
    /// tokens, without taking it. vLLM's rule for a prompt: pass its length − 1, since its last token must be
    /// computed to give logits.
    /// </summary>
    public KvPrefixMatch FindCachedPrefix(ReadOnlySpan<int> tokens, int maxTokens) => Walk(tokens, maxTokens, null);

    /// <summary>
    /// Gives the empty <paramref name="sequence"/> the longest cached prefix of <paramref name="tokens"/> (at most
    /// <paramref name="maxTokens"/>): its blocks are shared, its Length becomes the tokens matched.
    /// </summary>
    public KvPrefixMatch AttachCachedPrefix(KvSequence sequence, ReadOnlySpan<int> tokens, int maxTokens)
    {
        if (sequence.Pool != this) throw new ArgumentException("the sequence belongs to another pool", nameof(sequence));
        if (sequence.BlockCount != 0) throw new InvalidOperationException("a cached prefix attaches only to an empty sequence");
        var match = Walk(tokens, maxTokens, sequence);
        sequence.Length = match.Tokens;
        return match;
    }

    /// <summary>
    /// Where the cached prefix of <paramref name="tokens"/> (at most <paramref name="maxTokens"/>) leaves this pool's
    /// index, continues it in the disk tier: the blocks found there in a row are read into free blocks and indexed as
    /// cached (unreferenced), so a following <see cref="FindCachedPrefix"/> finds them. Reads nothing when the request
    /// (all of <paramref name="tokens"/>) could not be admitted now anyway, so reading never evicts for nothing.
    /// Returns the blocks read; a missing, corrupted or foreign file ends the prefix there (a miss, never wrong KV).
    /// </summary>
    public int ReadCachedPrefixFromDisk(ReadOnlySpan<int> tokens, int maxTokens)
    {
        if (_disk == null || _prefix == null) return 0;
        int blocks = Math.Min(tokens.Length, maxTokens) / BlockSize;
        // First without touching anything: most lookups end in RAM, or find nothing on disk either.
        var ram = Walk(tokens, maxTokens, null);
        if (ram.Blocks == blocks || BlocksFor(tokens.Length) - ram.Blocks + ram.UnreferencedBlocks > FreeBlocks) return 0;
        var parent = _prefix.Hash.Root;
        for (int b = 0; b < ram.Blocks; b++) parent = _prefix.Hash.Next(parent, tokens.Slice(b * BlockSize, BlockSize));
        if (!_disk.Lookup(_prefix.Hash.Next(parent, tokens.Slice(ram.Blocks * BlockSize, BlockSize)))) return 0;

        int pinned = 0, read = 0;
        try
        {
            // The part in RAM is held meanwhile: the blocks read take free blocks, and must not take these.
            parent = _prefix.Hash.Root;
            for (int b = 0; b < ram.Blocks; b++)
            {
                var block = tokens.Slice(b * BlockSize, BlockSize);
                parent = _prefix.Hash.Next(parent, block);
                int found = _prefix.Find(parent, block);
                if (_refCounts[found]++ == 0) _prefix.Unpark(found);
                _pinned[pinned++] = found;
            }
            for (int b = ram.Blocks; b < blocks; b++)
            {
                var block = tokens.Slice(b * BlockSize, BlockSize);
                var hash = _prefix.Hash.Next(parent, block);
                if (!_disk.TryRead(hash, block, _diskFile)) break;
                int target = TryAllocate();
                if (target < 0) break;
                _pinned[pinned++] = target;
                _disk.Format.Restore(_diskFile, this, target);
                if (!_prefix.TryAdd(target, hash, block)) break; // the hash is indexed with other tokens (a collision): the chain ends
                parent = hash;
                read++;
            }
        }
        finally
        {
            // Held blocks go back, the chain's tail first so that it is evicted before its head (as Release orders a
            // sequence's blocks): indexed ones to the LRU, one read but not indexed to the free list.
            for (int i = pinned - 1; i >= 0; i--) Release(_pinned[i]);
        }
        return read;
    }

    /// <summary>
    /// Offers every cached full block to the disk tier, waiting for write buffers (shutdown: what RAM held survives a
    /// restart). No-op without a disk tier.
    /// </summary>
    public void SpillCachedToDisk()
    {
        if (_disk == null || _prefix == null) return;
        for (int b = 0; b < BlockCount; b++)
            if (_prefix.IsIndexed(b)) _disk.Offer(this, b, _prefix.HashOf(b), _prefix.TokensOf(b), wait: true);
    }

    private KvPrefixMatch Walk(ReadOnlySpan<int> tokens, int maxTokens, KvSequence? attachTo)
    {
        if (_prefix == null) return default;
        int blocks = Math.Min(tokens.Length, maxTokens) / BlockSize, unreferenced = 0, b = 0;
        var parent = _prefix.Hash.Root;
        for (; b < blocks; b++)
        {
            var block = tokens.Slice(b * BlockSize, BlockSize);
            var hash = _prefix.Hash.Next(parent, block);
            int found = _prefix.Find(hash, block);
            if (found < 0) break;
            if (_refCounts[found] == 0) unreferenced++;
            if (attachTo != null)
            {
                if (_refCounts[found]++ == 0) _prefix.Unpark(found);
                attachTo.AppendBlock(found, hash);
            }
            parent = hash;
        }
        return new KvPrefixMatch(b * BlockSize, b, unreferenced);
    }

    /// <summary>
    /// Indexes the full blocks of <paramref name="sequence"/> not indexed yet; <paramref name="tokens"/> are the
    /// sequence's tokens (at least its Length). A block whose hash another block already holds stays unindexed
    /// (freed, not cached, when released). No-op when prefix caching is off.
    /// </summary>
    public void CacheFullBlocks(KvSequence sequence, ReadOnlySpan<int> tokens)
    {
        if (_prefix == null) return;
        int full = sequence.Length / BlockSize;
        if (tokens.Length < full * BlockSize) throw new ArgumentException($"the sequence holds {sequence.Length} tokens but {tokens.Length} were given", nameof(tokens));
        for (int b = sequence.HashedBlocks; b < full; b++)
        {
            var block = tokens.Slice(b * BlockSize, BlockSize);
            var hash = _prefix.Hash.Next(b == 0 ? _prefix.Hash.Root : sequence.HashAt(b - 1), block);
            _prefix.TryAdd(sequence.Blocks[b], hash, block);
            sequence.SetHash(b, hash);
        }
    }

    /// <summary>A partly kept block is about to be overwritten (truncation): it must leave the index, and no other sequence may hold it.</summary>
    internal void Uncache(int block)
    {
        if (_prefix == null || !_prefix.IsIndexed(block)) return;
        if (_refCounts[block] > 1) throw new InvalidOperationException($"KV block {block} is shared by {_refCounts[block]} sequences and cannot be truncated into");
        _prefix.Remove(block);
    }

    public int RefCount(int block) => _refCounts[block];

    /// <summary>Starts an empty sequence on this pool.</summary>
    public KvSequence CreateSequence() => new(this);
}
