using Tandem.Engine.Model;

namespace Tandem.Engine.KvCache;

/// <summary>
/// Paged KV memory, as vLLM's PagedAttention: a fixed number of blocks of <see cref="BlockSize"/> token
/// slots, each slot holding every layer's key and value vectors. Sequences own blocks through their
/// <see cref="KvSequence"/> block tables; blocks are reference counted so that a later prefix cache can
/// share them without a redesign. Not thread-safe: one owner (an instance's loop) allocates and frees.
/// Storage is per layer, block-major: layer l, block b, slot s starts at ((b·BlockSize)+s)·kvDim.
/// </summary>
public sealed class KvBlockPool
{
    private readonly int[] _refCounts;
    private readonly Stack<int> _free;

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

    public int FreeBlocks => _free.Count;
    public int UsedBlocks => BlockCount - _free.Count;

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
            for (int l = 0; l < Layers; l++) { KeysF32[l] = new float[perLayer]; ValuesF32[l] = new float[perLayer]; }
        }
        else
        {
            KeysF16 = new Half[Layers][];
            ValuesF16 = new Half[Layers][];
            for (int l = 0; l < Layers; l++) { KeysF16[l] = new Half[perLayer]; ValuesF16[l] = new Half[perLayer]; }
        }
        _refCounts = new int[blockCount];
        _free = new Stack<int>(blockCount);
        for (int b = blockCount - 1; b >= 0; b--) _free.Push(b);
    }

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

    internal static string Format(long bytes) =>
        bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):0.##} GiB" : bytes >= 1L << 20 ? $"{bytes / (double)(1L << 20):0.##} MiB" : $"{bytes / 1024.0:0.##} KiB";

    /// <summary>Blocks needed to hold <paramref name="tokens"/> tokens.</summary>
    public int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;

    /// <summary>Takes a free block (reference count 1), or returns -1 when none is free.</summary>
    public int TryAllocate()
    {
        if (_free.Count == 0) return -1;
        int b = _free.Pop();
        _refCounts[b] = 1;
        return b;
    }

    /// <summary>Adds a reference to a block in use (for sharing).</summary>
    public void AddRef(int block)
    {
        if (_refCounts[block] <= 0) throw new InvalidOperationException($"KV block {block} is not allocated");
        _refCounts[block]++;
    }

    /// <summary>Drops a reference; the block returns to the free list at zero.</summary>
    public void Release(int block)
    {
        if (_refCounts[block] <= 0) throw new InvalidOperationException($"KV block {block} released more often than allocated");
        if (--_refCounts[block] == 0) _free.Push(block);
    }

    public int RefCount(int block) => _refCounts[block];

    /// <summary>Starts an empty sequence on this pool.</summary>
    public KvSequence CreateSequence() => new(this);
}
