namespace Tandem.Serving.Scheduling;

/// <summary>What the controller reads of a prefill or colocated instance to dispatch a prompt.</summary>
public interface IEntryLoad
{
    /// <summary>Prompt tokens posted to the instance and not yet computed.</summary>
    int QueuedTokens { get; }
    /// <summary>Requests the instance is computing.</summary>
    int RunningCount { get; }
}

/// <summary>What the controller reads of a decode instance to route a prefilled request.</summary>
public interface IDecodeLoad
{
    /// <summary>KV blocks free for new requests, net of those promised to migrations already routed there.</summary>
    int FreeCapacityBlocks { get; }
}

/// <summary>
/// DistServe's controller policy, shared by the runtime and the simulator: a prompt goes to the entry instance with
/// the shortest queue in tokens (then the fewest running), a prefilled request to the decode instance with the most
/// free KV capacity. Ties go to the lowest index. Generic so the hot path does not box.
/// </summary>
public static class DispatchPolicy
{
    public static int PickEntry<T>(IReadOnlyList<T> instances) where T : IEntryLoad
    {
        int best = 0;
        for (int i = 1; i < instances.Count; i++)
        {
            var c = instances[i];
            var b = instances[best];
            if (c.QueuedTokens < b.QueuedTokens || (c.QueuedTokens == b.QueuedTokens && c.RunningCount < b.RunningCount)) best = i;
        }
        return best;
    }

    /// <summary>
    /// Cache-aware pick (<see cref="EntryRouting.CacheAware"/>): the least <c>QueuedTokens + weight × (promptTokens −
    /// cachedTokens[i])</c>, i.e. the prompt tokens instance i must compute before this prompt's first token, with the
    /// prompt's own uncached part weighted; then the fewest running, then the lowest index.
    /// </summary>
    public static int PickEntryCacheAware<T>(IReadOnlyList<T> instances, int promptTokens, ReadOnlySpan<int> cachedTokens, double weight) where T : IEntryLoad
    {
        int best = 0;
        double bestScore = double.MaxValue;
        for (int i = 0; i < instances.Count; i++)
        {
            var c = instances[i];
            double score = c.QueuedTokens + weight * (promptTokens - cachedTokens[i]);
            if (score < bestScore || (score == bestScore && c.RunningCount < instances[best].RunningCount))
            {
                best = i;
                bestScore = score;
            }
        }
        return best;
    }

    /// <summary>
    /// Conditional disaggregation (<c>--local-prefill-threshold</c>, Dynamo's and llm-d's choice): the decode instance
    /// that prefills a prompt itself, or -1 when the prompt goes to a prefill instance. The candidate is the decode
    /// instance holding the longest cached prefix (<paramref name="cachedTokens"/>), then the most free KV; it takes the
    /// prompt when the rest is at most <paramref name="threshold"/> tokens, or when every entry instance has at least
    /// <paramref name="busyTokens"/> prompt tokens queued (0: never busy). Threshold 0: always -1.
    /// </summary>
    public static int PickLocalPrefill<TDecode, TEntry>(IReadOnlyList<TDecode> decode, ReadOnlySpan<int> cachedTokens, int promptTokens,
        IReadOnlyList<TEntry> entry, int threshold, int busyTokens) where TDecode : IDecodeLoad where TEntry : IEntryLoad
    {
        if (threshold == 0 || decode.Count == 0) return -1;
        int best = 0;
        for (int i = 1; i < decode.Count; i++)
            if (cachedTokens[i] > cachedTokens[best] || (cachedTokens[i] == cachedTokens[best] && decode[i].FreeCapacityBlocks > decode[best].FreeCapacityBlocks)) best = i;
        if (promptTokens - cachedTokens[best] <= threshold) return best;
        if (busyTokens == 0) return -1;
        for (int i = 0; i < entry.Count; i++)
            if (entry[i].QueuedTokens < busyTokens) return -1;
        return best;
    }

    public static int PickDecode<T>(IReadOnlyList<T> instances) where T : IDecodeLoad
    {
        int best = 0;
        for (int i = 1; i < instances.Count; i++)
            if (instances[i].FreeCapacityBlocks > instances[best].FreeCapacityBlocks) best = i;
        return best;
    }
}
