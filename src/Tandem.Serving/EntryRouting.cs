namespace Tandem.Serving;

/// <summary>How the controller picks the prefill (or colocated) instance for a new prompt.</summary>
public enum EntryRouting
{
    /// <summary>
    /// Overlap against load, as Dynamo's KV router and llm-d's prefix scorer: the instance with the least work before
    /// this prompt's first token, counted as its queued prompt tokens plus <see cref="ServingOptions.CacheOverlapWeight"/>
    /// times the prompt's tokens not already in that instance's prefix cache. Without prefix caching (or with no
    /// overlap anywhere) it is <see cref="LeastLoaded"/>.
    /// </summary>
    CacheAware,
    /// <summary>DistServe's controller: the shortest queue in prompt tokens, then the fewest running requests.</summary>
    LeastLoaded,
    /// <summary>Each instance in turn, blind to load and cache (the baseline cache-aware routing is measured against).</summary>
    RoundRobin,
}
