using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Serving;

/// <summary>Everything <see cref="ServingRuntime.Start"/> needs. <see cref="Validate"/> explains what is wrong.</summary>
public sealed record ServingOptions
{
    /// <summary>A GGUF file to load (the runtime then owns and disposes the model). Give this or <see cref="Model"/>.</summary>
    public string? ModelPath { get; init; }
    /// <summary>An already loaded model, shared with the caller (not disposed by the runtime).</summary>
    public LanguageModel? Model { get; init; }

    public ServingMode Mode { get; init; } = ServingMode.Disaggregated;
    /// <summary>Disaggregated mode: prefill instances.</summary>
    public int PrefillInstances { get; init; } = 1;
    /// <summary>Disaggregated mode: decode instances.</summary>
    public int DecodeInstances { get; init; } = 1;
    /// <summary>Colocated and Chunked modes: instances.</summary>
    public int ColocatedInstances { get; init; } = 1;

    /// <summary>
    /// Cores per instance, taken in order from the process's allowed cores (prefill instances first, then
    /// decode). Null: the allowed cores are split evenly between the instances (one prefill + one decode
    /// by default), at least one each.
    /// </summary>
    public int? CoresPerInstance { get; init; }
    /// <summary>Explicit core ids per instance (prefill instances first, then decode; or the colocated ones). Overrides <see cref="CoresPerInstance"/>.</summary>
    public IReadOnlyList<IReadOnlyList<int>>? InstanceCores { get; init; }
    /// <summary>Pin each instance's threads to its cores (Linux; a warning where it fails).</summary>
    public bool PinThreads { get; init; } = true;

    /// <summary>
    /// Nice value of each instance's threads (its loop and thread team; Linux), -20 highest … 19 lowest; 0 (the default)
    /// leaves them as started. Below 0 favours the engine over Kestrel, streaming, the GC and anything else on its cores,
    /// and needs CAP_SYS_NICE: a warning says when it is refused.
    /// </summary>
    public int InstanceNice { get; init; }
    /// <summary>KV cache memory of each instance, in bytes (as many blocks as fit).</summary>
    public long KvBytesPerInstance { get; init; } = 256L << 20;
    /// <summary>KV blocks per instance; overrides <see cref="KvBytesPerInstance"/> when set (tests, exact sizing).</summary>
    public int? KvBlocksPerInstance { get; init; }
    /// <summary>F16 halves KV memory and transfer bytes (llama.cpp's default); F32 matches the engine's single-sequence path bit for bit.</summary>
    public KvElementType KvElementType { get; init; } = KvElementType.F16;
    /// <summary>Tokens per KV block (vLLM's default 16).</summary>
    public int BlockSize { get; init; } = 16;
    /// <summary>
    /// Automatic prefix caching (vLLM's, on by default there too): full KV blocks stay cached, keyed by a hash of their
    /// tokens and prefix, and a request reuses the longest cached prefix of its prompt instead of computing it again.
    /// Outputs are bit-identical either way (the engine is batch-invariant); off only to measure or to save the hashing.
    /// </summary>
    public bool PrefixCaching { get; init; } = true;
    /// <summary>
    /// A directory for the KV disk tier (null: none): cached blocks evicted from an instance's pool are written there
    /// (at most <see cref="KvDiskBytes"/>, least recently used evicted) and read back on a prefix hit that missed RAM;
    /// the files survive a restart. Needs <see cref="PrefixCaching"/>. One directory per process.
    /// </summary>
    public string? KvDiskDir { get; init; }
    /// <summary>Most bytes of block files in <see cref="KvDiskDir"/>.</summary>
    public long KvDiskBytes { get; init; } = DefaultKvDiskBytes;
    public const long DefaultKvDiskBytes = 4L << 30;
    /// <summary>Which instances read from the disk tier: where measured faster than recomputing (default), or all.</summary>
    public KvDiskPolicy KvDiskPolicy { get; init; } = KvDiskPolicy.Auto;
    /// <summary>How the controller picks the prefill (or colocated) instance of a prompt.</summary>
    public EntryRouting Routing { get; init; } = EntryRouting.CacheAware;
    /// <summary>
    /// Cache-aware routing: weight of a prompt's uncached tokens against the instance's queued tokens (Dynamo's
    /// kv-overlap-score-weight, also 1 by default: a token to compute costs the same whether queued or this prompt's).
    /// Higher favours cache hits over balance.
    /// </summary>
    public double CacheOverlapWeight { get; init; } = 1.0;
    /// <summary>
    /// Conditional disaggregation (disaggregated mode): a prompt whose part not cached on some decode instance is at most
    /// this many tokens is prefilled there, with no prefill instance and no KV transfer (Dynamo's and llm-d's choice); it
    /// is also the most prompt tokens a decode step takes along. 0: every prompt goes through a prefill instance.
    /// </summary>
    public int LocalPrefillThreshold { get; init; } = DefaultLocalPrefillThreshold;
    /// <summary>
    /// 64, from measurement (docs/experiments/prefix-caching.md, "The threshold on a quiet machine"): on multi-turn chat
    /// (SmolLM-135M, 1 prefill + 1 decode core, cache on), 64 was best in two runs in opposite orders, TTFT p50 260 ms
    /// against 1.0–1.4 s with it off and every request within the SLO (TTFT 2 s, TPOT 200 ms) against 73–90%; its price
    /// is TPOT (52–76 ms p50 against 20–35 ms), as decode steps carry prompt chunks. 32 sent too few turns local to
    /// matter, 128 nearly all of them at a higher TPOT. The simulator (Tandem.Planning's Placement) takes the same default.
    /// </summary>
    public const int DefaultLocalPrefillThreshold = 64;
    /// <summary>
    /// Conditional disaggregation: the prefill pool counts as busy when every prefill instance has at least this many
    /// prompt tokens queued; a prompt then goes to a decode instance whatever its length. 0: never.
    /// </summary>
    public int PrefillBusyTokens { get; init; }
    /// <summary>Longest prompt + completion per request; null: the model's trained context length.</summary>
    public int? MaxContext { get; init; }

    /// <summary>
    /// DistServe's L_m: most prompt tokens per prefill step (prefill instances, and the prefill steps of the
    /// vLLM-style colocated policy). 512 because a batched matmul stops gaining from more rows once each
    /// weight row is reused across a few hundred tokens (the step becomes compute-bound and just gets
    /// longer), and 512 is the batch llama.cpp (n_batch/n_ubatch) and vLLM's chunked prefill default to for
    /// the same reason. Re-measure with the profiler for a given model and core count.
    /// </summary>
    public int PrefillTokenTarget { get; init; } = 512;
    /// <summary>
    /// Chunked mode: tokens per step, decode tokens included (Sarathi-Serve's token budget). 512: Sarathi-Serve
    /// reports 512 for strict TPOT SLOs (2048 for relaxed ones); a smaller budget bounds how long a decode step
    /// can be stretched by prompt chunks.
    /// </summary>
    public int ChunkBudget { get; init; } = 512;
    /// <summary>Most requests decoding at once on an instance (vLLM's max_num_seqs).</summary>
    public int MaxNumSeqs { get; init; } = 128;
    /// <summary>Share of a pool kept free when admitting or pulling a request while others run (vLLM's 1% watermark).</summary>
    public double WatermarkFraction { get; init; } = 0.01;

    /// <summary>The one monotonic clock of every lifetime event.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
    /// <summary>Receives every intake and step of every instance (replay in the simulator); null: nothing traced.</summary>
    public IServingTrace? Trace { get; init; }
    /// <summary>
    /// Steps each instance records in its <see cref="Diagnostics.StepLog"/> ring (time, batch composition, core and GC
    /// figures per step; see <see cref="ServingRuntime.StepLogs"/>); older ones are overwritten. 0 (the default): no
    /// recording at all.
    /// </summary>
    public int StepLogCapacity { get; init; }
    /// <summary>Receives warnings (pinning failures, failed steps); default: standard error.</summary>
    public Action<string>? OnWarning { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option and why.</summary>
    public void Validate()
    {
        if ((ModelPath == null) == (Model == null))
            throw new ArgumentException("give exactly one of ModelPath (a GGUF file) or Model (a loaded model)");
        if (ModelPath != null && !File.Exists(ModelPath))
            throw new ArgumentException($"model file not found: {ModelPath}", nameof(ModelPath));
        if (Mode == ServingMode.Disaggregated)
        {
            Positive(PrefillInstances, nameof(PrefillInstances));
            Positive(DecodeInstances, nameof(DecodeInstances));
        }
        else Positive(ColocatedInstances, nameof(ColocatedInstances));
        if (CoresPerInstance is { } c) Positive(c, nameof(CoresPerInstance));
        if (InstanceCores != null)
        {
            int expected = InstanceCount;
            if (InstanceCores.Count != expected)
                throw new ArgumentException($"InstanceCores lists {InstanceCores.Count} core sets but {Mode} mode here has {expected} instances", nameof(InstanceCores));
            for (int i = 0; i < InstanceCores.Count; i++)
                if (InstanceCores[i].Count == 0 || InstanceCores[i].Any(core => core < 0))
                    throw new ArgumentException($"InstanceCores[{i}] must list at least one core id, none negative", nameof(InstanceCores));
        }
        if (KvBlocksPerInstance is { } b) Positive(b, nameof(KvBlocksPerInstance));
        else if (KvBytesPerInstance <= 0) throw new ArgumentException($"KvBytesPerInstance must be positive; got {KvBytesPerInstance}", nameof(KvBytesPerInstance));
        Positive(BlockSize, nameof(BlockSize));
        if (MaxContext is { } m) Positive(m, nameof(MaxContext));
        Positive(PrefillTokenTarget, nameof(PrefillTokenTarget));
        Positive(ChunkBudget, nameof(ChunkBudget));
        Positive(MaxNumSeqs, nameof(MaxNumSeqs));
        if (InstanceNice is < -20 or > 19) throw new ArgumentException($"InstanceNice must be between -20 and 19; got {InstanceNice}", nameof(InstanceNice));
        if (StepLogCapacity < 0) throw new ArgumentException($"StepLogCapacity must be 0 or more; got {StepLogCapacity}", nameof(StepLogCapacity));
        if (LocalPrefillThreshold < 0) throw new ArgumentException($"LocalPrefillThreshold must be 0 or more; got {LocalPrefillThreshold}", nameof(LocalPrefillThreshold));
        if (PrefillBusyTokens < 0) throw new ArgumentException($"PrefillBusyTokens must be 0 or more; got {PrefillBusyTokens}", nameof(PrefillBusyTokens));
        if (PrefillBusyTokens > 0 && LocalPrefillThreshold == 0)
            throw new ArgumentException("PrefillBusyTokens sends prompts to decode instances, which needs LocalPrefillThreshold above 0 (their per-step prompt budget)", nameof(PrefillBusyTokens));
        if (!(CacheOverlapWeight >= 0) || double.IsInfinity(CacheOverlapWeight))
            throw new ArgumentException($"CacheOverlapWeight must be 0 or more; got {CacheOverlapWeight}", nameof(CacheOverlapWeight));
        if (KvDiskDir is not null)
        {
            if (string.IsNullOrWhiteSpace(KvDiskDir)) throw new ArgumentException("KvDiskDir must name a directory", nameof(KvDiskDir));
            if (!PrefixCaching) throw new ArgumentException("the KV disk tier holds blocks the prefix cache evicts: it needs prefix caching on", nameof(KvDiskDir));
            if (KvDiskBytes <= 0) throw new ArgumentException($"KvDiskBytes must be positive; got {KvDiskBytes}", nameof(KvDiskBytes));
            if (!Enum.IsDefined(KvDiskPolicy)) throw new ArgumentException($"unknown KV disk policy {KvDiskPolicy}", nameof(KvDiskPolicy));
        }
        if (!Enum.IsDefined(Routing)) throw new ArgumentException($"unknown routing {Routing}", nameof(Routing));
        if (WatermarkFraction is < 0 or >= 1 || double.IsNaN(WatermarkFraction))
            throw new ArgumentException($"WatermarkFraction must be in [0, 1); got {WatermarkFraction}", nameof(WatermarkFraction));
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }

    /// <summary>Instances the mode runs.</summary>
    public int InstanceCount => Mode == ServingMode.Disaggregated ? PrefillInstances + DecodeInstances : ColocatedInstances;

    private static void Positive(int value, string name)
    {
        if (value < 1) throw new ArgumentException($"{name} must be at least 1; got {value}", name);
    }
}
