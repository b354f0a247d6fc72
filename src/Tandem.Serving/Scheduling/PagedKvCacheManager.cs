using System.Runtime.InteropServices;
using Tandem.Engine.KvCache;

namespace Tandem.Serving.Scheduling;

/// <summary>
/// Block accounting over a real pool: one <see cref="KvSequence"/> per request, created on first allocation, starting
/// from the longest cached prefix when the pool caches prefixes. Counts prefix-cache queries and hits in tokens, as
/// vLLM's metrics do.
/// </summary>
public sealed class PagedKvCacheManager(KvBlockPool pool) : IKvCacheManager
{
    private readonly Dictionary<Request, KvSequence> _sequences = new(ReferenceEqualityComparer.Instance);
    private long _queries, _hits;

    public KvBlockPool Pool { get; } = pool;
    public int TotalBlocks => Pool.BlockCount;
    public int FreeBlocks => Pool.FreeBlocks;
    public int BlockSize => Pool.BlockSize;
    public int SequenceCount => _sequences.Count;
    /// <summary>Tokens of the requests admitted with prefix caching on (vllm:prefix_cache_queries); read from any thread.</summary>
    public long PrefixCacheQueries => Interlocked.Read(ref _queries);
    /// <summary>Of those, tokens whose KV came from the cache (vllm:prefix_cache_hits).</summary>
    public long PrefixCacheHits => Interlocked.Read(ref _hits);

    public int BlocksHeld(Request request) => _sequences.TryGetValue(request, out var s) ? s.BlockCount : 0;

    public bool TryAllocateSlots(Request request, int totalTokens) => TryAllocateSlots(request, totalTokens, default);

    /// <summary>The cached prefix in RAM, after continuing it from the disk tier into the pool when there is one.</summary>
    public KvPrefixMatch FindCachedPrefix(Request request)
    {
        if (!Pool.PrefixCaching || _sequences.ContainsKey(request)) return default;
        var tokens = CollectionsMarshal.AsSpan(request.AllTokenIdList);
        Pool.ReadCachedPrefixFromDisk(tokens, request.NumTokens - 1);
        return Pool.FindCachedPrefix(tokens, request.NumTokens - 1);
    }

    public bool TryAllocateSlots(Request request, int totalTokens, KvPrefixMatch cached)
    {
        if (!_sequences.TryGetValue(request, out var seq))
        {
            if (((IKvCacheManager)this).NewBlocksNeeded(request, totalTokens, cached) > Pool.FreeBlocks) return false;
            seq = Pool.CreateSequence();
            if (cached.Tokens > 0)
            {
                var taken = Pool.AttachCachedPrefix(seq, CollectionsMarshal.AsSpan(request.AllTokenIdList), cached.Tokens);
                if (taken != cached)
                {
                    seq.Release();
                    throw new InvalidOperationException($"request {request.RequestId}: the cached prefix changed between lookup and admission ({cached} then {taken})");
                }
            }
            if (Pool.PrefixCaching)
            {
                Interlocked.Add(ref _queries, request.NumTokens);
                Interlocked.Add(ref _hits, cached.Tokens);
                request.NotePrefixHit(cached.Tokens);
            }
            _sequences.Add(request, seq);
        }
        return seq.TryReserve(totalTokens - seq.Length);
    }

    /// <summary>After a step: the request's newly completed full blocks join the prefix cache.</summary>
    public void CacheComputedBlocks(Request request, KvSequence sequence) =>
        Pool.CacheFullBlocks(sequence, CollectionsMarshal.AsSpan(request.AllTokenIdList));

    /// <summary>
    /// Simulation, over a pool without storage: the request's KV now holds its computed tokens, and their full blocks
    /// join the prefix cache, as the step that computed them leaves a real pool (the runner writes, then caches).
    /// </summary>
    public void SimulateComputed(Request request)
    {
        var sequence = _sequences[request];
        sequence.SimulateComputed(request.NumComputedTokens);
        CacheComputedBlocks(request, sequence);
    }

    /// <summary>The request's sequence (its length equals the request's NumComputedTokens).</summary>
    public KvSequence Sequence(Request request) => _sequences[request];

    /// <summary>
    /// A sequence for the KV of <paramref name="request"/>'s NumComputedTokens tokens migrating into this pool: it starts
    /// with the longest prefix of them already cached here (its blocks shared, not transferred again; RAM only, as a
    /// transfer is cheaper than a disk read), short of the last token so that a pull always moves at least one block
    /// (every migration then ends the same way), and has blocks reserved for the rest. The caller fills it from its Length
    /// on and then adopts it (<see cref="Adopt"/>) or releases it. Null, changing nothing, when blocks are short.
    /// </summary>
    public KvSequence? ReserveImport(Request request)
    {
        var sequence = Pool.CreateSequence();
        if (Pool.PrefixCaching)
            Pool.AttachCachedPrefix(sequence, CollectionsMarshal.AsSpan(request.AllTokenIdList), request.NumComputedTokens - 1);
        if (!sequence.TryReserve(request.NumComputedTokens - sequence.Length))
        {
            sequence.Release();
            return null;
        }
        request.KvReusedTokens = sequence.Length;
        return sequence;
    }

    /// <summary>Takes over a sequence imported into this pool (KV migration).</summary>
    public void Adopt(Request request, KvSequence sequence)
    {
        if (sequence.Pool != Pool) throw new ArgumentException("the sequence belongs to another pool", nameof(sequence));
        if (!_sequences.TryAdd(request, sequence)) throw new InvalidOperationException($"request {request.RequestId} already holds KV here");
        CacheComputedBlocks(request, sequence);
    }

    /// <summary>Hands the sequence out without freeing it (it stays allocated until released by its new holder).</summary>
    public KvSequence Detach(Request request)
    {
        if (!_sequences.Remove(request, out var seq)) throw new InvalidOperationException($"request {request.RequestId} holds no KV here");
        return seq;
    }

    public void Free(Request request)
    {
        if (_sequences.Remove(request, out var seq)) seq.Release();
    }
}
