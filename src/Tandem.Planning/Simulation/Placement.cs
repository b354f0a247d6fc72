using Tandem.Planning.Profiles;
using Tandem.Serving;

namespace Tandem.Planning.Simulation;

/// <summary>
/// A serving placement to simulate: the mode, how many instances of each role and how each is parallelised, and the
/// scheduler settings. Defaults are <see cref="ServingOptions"/>'s, so a placement left alone simulates what
/// <c>tandem serve</c> runs.
/// </summary>
public sealed record Placement
{
    private static readonly ServingOptions Defaults = new();

    public ServingMode Mode { get; init; } = ServingMode.Disaggregated;
    /// <summary>Disaggregated: prefill instances and their parallelism.</summary>
    public int PrefillInstances { get; init; } = 1;
    public ParallelConfig PrefillParallel { get; init; } = new(1);
    /// <summary>Disaggregated: decode instances and their parallelism.</summary>
    public int DecodeInstances { get; init; } = 1;
    public ParallelConfig DecodeParallel { get; init; } = new(1);
    /// <summary>Colocated and Chunked: instances and their parallelism.</summary>
    public int ColocatedInstances { get; init; } = 1;
    public ParallelConfig ColocatedParallel { get; init; } = new(1);

    public int PrefillTokenTarget { get; init; } = Defaults.PrefillTokenTarget;
    public int ChunkBudget { get; init; } = Defaults.ChunkBudget;
    public int MaxNumSeqs { get; init; } = Defaults.MaxNumSeqs;
    public double WatermarkFraction { get; init; } = Defaults.WatermarkFraction;
    public int BlockSize { get; init; } = Defaults.BlockSize;
    /// <summary>KV blocks of each instance (all its pipeline stages together); overrides the other two sizes.</summary>
    public int? KvBlocksPerInstance { get; init; }
    /// <summary>
    /// KV bytes of each instance, per pipeline stage (a stage holds its own layers' KV, so p stages hold p times the
    /// tokens). Used when neither <see cref="KvBlocksPerInstance"/> nor the profile's capacity table gives a size.
    /// </summary>
    public long KvBytesPerInstance { get; init; } = Defaults.KvBytesPerInstance;
    /// <summary>Use the profile's KV capacity table (GPU profiles) when it has the instance's tp × pp.</summary>
    public bool UseProfileKvCapacity { get; init; } = true;
    /// <summary>
    /// Automatic prefix caching, as <c>tandem serve</c> (on by default): the instances' KV pools are the runtime's own
    /// (<c>PagedKvCacheManager</c> over a pool without storage), so a prompt whose leading blocks an instance computed
    /// before (a conversation's history, a shared system prompt) computes only the rest. Prompts given without token
    /// ids are taken as sharing nothing.
    /// </summary>
    public bool PrefixCaching { get; init; } = Defaults.PrefixCaching;
    /// <summary>How a prompt picks its prefill (or colocated) instance, as <c>--routing</c>: cache-aware by default.</summary>
    public EntryRouting Routing { get; init; } = Defaults.Routing;
    /// <summary>Cache-aware routing's weight of a prompt's uncached tokens against an instance's queue (<c>--cache-overlap-weight</c>).</summary>
    public double CacheOverlapWeight { get; init; } = Defaults.CacheOverlapWeight;
    /// <summary>
    /// Disaggregated, conditional disaggregation (<c>--local-prefill-threshold</c>): a prompt whose part not cached on a
    /// decode instance is at most this many tokens is prefilled there (no prefill instance, no transfer), in chunks of at
    /// most this many tokens riding along its decode steps. 0: off (every prompt through a prefill instance).
    /// </summary>
    public int LocalPrefillThreshold { get; init; } = Defaults.LocalPrefillThreshold;
    /// <summary>With <see cref="LocalPrefillThreshold"/>: every prefill instance this busy (queued prompt tokens) sends prompts to decode instances (<c>--prefill-busy-tokens</c>; 0: never).</summary>
    public int PrefillBusyTokens { get; init; } = Defaults.PrefillBusyTokens;
    /// <summary>Bandwidth of the link KV moves over, bytes per second (infinity: free, as in process).</summary>
    public double LinkBytesPerSecond { get; init; } = double.PositiveInfinity;

    /// <summary>Devices (cores or GPUs) the placement uses: per-device goodput divides by this.</summary>
    public int Devices => Mode == ServingMode.Disaggregated
        ? PrefillInstances * PrefillParallel.Devices + DecodeInstances * DecodeParallel.Devices
        : ColocatedInstances * ColocatedParallel.Devices;

    public void Validate()
    {
        static void Positive(int v, string name) { if (v < 1) throw new ArgumentException($"{name} must be at least 1; got {v}"); }
        if (Mode == ServingMode.Disaggregated)
        {
            Positive(PrefillInstances, nameof(PrefillInstances));
            Positive(DecodeInstances, nameof(DecodeInstances));
            Positive(PrefillParallel.Tp, "prefill tp"); Positive(PrefillParallel.Pp, "prefill pp");
            Positive(DecodeParallel.Tp, "decode tp"); Positive(DecodeParallel.Pp, "decode pp");
        }
        else
        {
            Positive(ColocatedInstances, nameof(ColocatedInstances));
            Positive(ColocatedParallel.Tp, "tp"); Positive(ColocatedParallel.Pp, "pp");
        }
        Positive(PrefillTokenTarget, nameof(PrefillTokenTarget));
        Positive(ChunkBudget, nameof(ChunkBudget));
        Positive(MaxNumSeqs, nameof(MaxNumSeqs));
        Positive(BlockSize, nameof(BlockSize));
        if (KvBlocksPerInstance is { } b) Positive(b, nameof(KvBlocksPerInstance));
        if (KvBytesPerInstance <= 0) throw new ArgumentException($"KvBytesPerInstance must be positive; got {KvBytesPerInstance}");
        if (WatermarkFraction is < 0 or >= 1 || double.IsNaN(WatermarkFraction)) throw new ArgumentException($"WatermarkFraction must be in [0, 1); got {WatermarkFraction}");
        if (LocalPrefillThreshold < 0) throw new ArgumentException($"the local prefill threshold must be 0 or more; got {LocalPrefillThreshold}");
        if (PrefillBusyTokens < 0) throw new ArgumentException($"the prefill busy tokens must be 0 or more; got {PrefillBusyTokens}");
        if (PrefillBusyTokens > 0 && LocalPrefillThreshold == 0)
            throw new ArgumentException("prefill busy tokens send prompts to decode instances, which needs a local prefill threshold above 0 (their per-step prompt budget)");
        if (!(LinkBytesPerSecond > 0)) throw new ArgumentException($"link bandwidth must be positive; got {LinkBytesPerSecond}");
    }

    /// <summary>KV blocks of one instance of <paramref name="parallel"/> under <paramref name="profile"/>.</summary>
    public int KvBlocks(LatencyProfile profile, ParallelConfig parallel)
    {
        if (KvBlocksPerInstance is { } blocks) return blocks;
        // As KvBlockPool.FromBudget sizes the runtime's pools: whole blocks of the budget.
        long count = UseProfileKvCapacity && profile.KvCapacityTokens(parallel.Tp, parallel.Pp) is { } tokens
            ? tokens / BlockSize
            : KvBytesPerInstance / (profile.KvBytesPerToken * BlockSize) * parallel.Pp;
        return (int)Math.Min(int.MaxValue, count);
    }

    public override string ToString() => Mode == ServingMode.Disaggregated
        ? $"disaggregated: {PrefillInstances}× prefill {PrefillParallel} + {DecodeInstances}× decode {DecodeParallel}"
            + (LocalPrefillThreshold > 0 ? $", local prefill ≤ {LocalPrefillThreshold}" : "")
        : $"{Mode.ToString().ToLowerInvariant()}: {ColocatedInstances}× {ColocatedParallel}";
}
