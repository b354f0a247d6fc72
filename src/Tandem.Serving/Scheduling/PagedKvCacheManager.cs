using Tandem.Engine.KvCache;

namespace Tandem.Serving.Scheduling;

/// <summary>Block accounting over a real pool: one <see cref="KvSequence"/> per request, created on first allocation.</summary>
public sealed class PagedKvCacheManager(KvBlockPool pool) : IKvCacheManager
{
    private readonly Dictionary<Request, KvSequence> _sequences = new(ReferenceEqualityComparer.Instance);

    public KvBlockPool Pool { get; } = pool;
    public int TotalBlocks => Pool.BlockCount;
    public int FreeBlocks => Pool.FreeBlocks;
    public int BlockSize => Pool.BlockSize;
    public int SequenceCount => _sequences.Count;

    public int BlocksHeld(Request request) => _sequences.TryGetValue(request, out var s) ? s.BlockCount : 0;

    public bool TryAllocateSlots(Request request, int totalTokens)
    {
        if (!_sequences.TryGetValue(request, out var seq))
        {
            if (Pool.BlocksFor(totalTokens) > Pool.FreeBlocks) return false;
            seq = Pool.CreateSequence();
            _sequences.Add(request, seq);
        }
        return seq.TryReserve(totalTokens - seq.Length);
    }

    /// <summary>The request's sequence (its length equals the request's NumComputedTokens).</summary>
    public KvSequence Sequence(Request request) => _sequences[request];

    /// <summary>Takes over a sequence imported into this pool (KV migration).</summary>
    public void Adopt(Request request, KvSequence sequence)
    {
        if (sequence.Pool != Pool) throw new ArgumentException("the sequence belongs to another pool", nameof(sequence));
        if (!_sequences.TryAdd(request, sequence)) throw new InvalidOperationException($"request {request.RequestId} already holds KV here");
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
