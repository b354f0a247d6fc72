namespace Tandem.Serving;

/// <summary>A point-in-time view of the runtime, for metrics and health.</summary>
public sealed record ServingSnapshot
{
    public required IReadOnlyList<InstanceSnapshot> Instances { get; init; }
    /// <summary>The KV disk tier's counters (null: no tier).</summary>
    public Tandem.Engine.KvCache.KvDiskStats? KvDisk { get; init; }
    public int RequestsWaiting => Instances.Sum(i => i.Waiting);
    public int RequestsRunning => Instances.Sum(i => i.Running);
}

/// <summary>One instance: its role, queue, running requests and KV blocks.</summary>
public sealed record InstanceSnapshot
{
    public required string Name { get; init; }
    /// <summary>"prefill", "decode" or "colocated".</summary>
    public required string Role { get; init; }
    public required int Waiting { get; init; }
    public required int WaitingTokens { get; init; }
    public required int Running { get; init; }
    /// <summary>Blocks referenced by requests (cached blocks nobody holds are not used: they are free to evict).</summary>
    public required int KvBlocksUsed { get; init; }
    /// <summary>Blocks holding a cached prefix that no request references (evictable).</summary>
    public int KvBlocksCached { get; init; }
    /// <summary>Prompt tokens looked up in the prefix cache at admission, since start (vllm:prefix_cache_queries).</summary>
    public long PrefixCacheQueries { get; init; }
    /// <summary>Of those, tokens found cached (vllm:prefix_cache_hits).</summary>
    public long PrefixCacheHits { get; init; }
    public required int KvBlocksTotal { get; init; }
    public IReadOnlyList<int> Cores { get; init; } = [];
    /// <summary>False for a cluster worker the frontend has lost (heartbeats unanswered): it takes no work until it rejoins.</summary>
    public bool Up { get; init; } = true;
    /// <summary>Prefill instances: prefilled requests whose KV waits in this pool for a decode instance to pull it.</summary>
    public int Held { get; init; }
    /// <summary>
    /// Tokens this instance has run through the model since it started (prompt tokens prefilled, one per request per
    /// decode step; recomputation after preemption counts again): how the controller spread the work.
    /// </summary>
    public long TokensComputed { get; init; }
    /// <summary>Seconds the instance's loop spent in iterations that did work: with <see cref="TokensComputed"/>, its live cost per token.</summary>
    public double BusySeconds { get; init; }
    /// <summary>Seconds since the loop last finished an iteration (a loop waiting for work finishes none, and that is fine).</summary>
    public double SecondsSinceIteration { get; init; }
    /// <summary>Messages posted to the instance that its loop has not taken in yet.</summary>
    public bool Pending { get; init; }
    /// <summary>Why the instance's loop is gone, or null while it runs.</summary>
    public string? Failure { get; init; }

    /// <summary>Whether the instance has work: queued, running, or posted and not yet taken in.</summary>
    public bool HasWork => Waiting > 0 || Running > 0 || Pending;
}
