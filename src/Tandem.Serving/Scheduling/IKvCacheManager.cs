namespace Tandem.Serving.Scheduling;

/// <summary>
/// The block accounting a scheduler needs (vLLM's KVCacheManager): how many blocks are free and whether a
/// request can get slots for more tokens. The runtime backs it with a real <see cref="Tandem.Engine.KvCache.KvBlockPool"/>
/// (<see cref="PagedKvCacheManager"/>); a simulator with <see cref="CountingKvCacheManager"/>, so the same
/// scheduler code runs in both. Owned by one instance loop.
/// </summary>
public interface IKvCacheManager
{
    int TotalBlocks { get; }
    int FreeBlocks { get; }
    int UsedBlocks => TotalBlocks - FreeBlocks;
    int BlockSize { get; }
    int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;
    int BlocksHeld(Request request);
    /// <summary>Blocks still to allocate so that <paramref name="request"/> can hold <paramref name="totalTokens"/> positions.</summary>
    int NewBlocksNeeded(Request request, int totalTokens) => Math.Max(0, BlocksFor(totalTokens) - BlocksHeld(request));
    /// <summary>Makes room for <paramref name="totalTokens"/> positions; false, changing nothing, when blocks are short.</summary>
    bool TryAllocateSlots(Request request, int totalTokens);
    /// <summary>Returns every block of <paramref name="request"/> to the pool (no-op when it holds none).</summary>
    void Free(Request request);
}
