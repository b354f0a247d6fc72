using Tandem.Engine.KvCache;

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
    /// <summary>
    /// Free blocks that admitting <paramref name="request"/> (holding nothing yet) up to <paramref name="totalTokens"/>
    /// with the cached prefix <paramref name="cached"/> takes: the new blocks, plus the cached ones nobody referenced
    /// (they were counted free).
    /// </summary>
    int NewBlocksNeeded(Request request, int totalTokens, KvPrefixMatch cached) =>
        Math.Max(0, BlocksFor(totalTokens) - BlocksHeld(request) - cached.Blocks) + cached.UnreferencedBlocks;
    /// <summary>Makes room for <paramref name="totalTokens"/> positions; false, changing nothing, when blocks are short.</summary>
    bool TryAllocateSlots(Request request, int totalTokens);
    /// <summary>
    /// The longest prefix of a request's tokens (holding no KV here) already cached in this pool: whole blocks, at
    /// most all tokens but the last, which must be computed for its logits (vLLM's rule). Nothing when prefix caching
    /// is off. Valid until the pool next changes.
    /// </summary>
    KvPrefixMatch FindCachedPrefix(Request request) => default;
    /// <summary>
    /// Admits <paramref name="request"/> (holding nothing yet): takes the cached prefix <paramref name="cached"/> just
    /// found and room up to <paramref name="totalTokens"/>; false, changing nothing, when blocks are short. On success
    /// the caller sets NumComputedTokens to cached.Tokens.
    /// </summary>
    bool TryAllocateSlots(Request request, int totalTokens, KvPrefixMatch cached) =>
        cached.Tokens == 0 ? TryAllocateSlots(request, totalTokens) : throw new NotSupportedException("this KV manager caches no prefixes");
    /// <summary>Returns every block of <paramref name="request"/> to the pool (no-op when it holds none).</summary>
    void Free(Request request);
}
