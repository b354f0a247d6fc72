using System.Runtime.CompilerServices;

namespace Tandem.Serving.Diagnostics;

/// <summary>One prompt chunk of a step: <see cref="Tokens"/> tokens after the <see cref="Start"/> the request had computed.</summary>
public readonly record struct StepChunk(int Start, int Tokens, bool SamplesToken);

/// <summary>
/// One engine step of one instance, as its loop ran it: how long each part took, what the batch held (enough to rebuild
/// it in the bench: <c>Tandem.Bench steps --replay</c>), what the loop thread got of its core, and what the GC did
/// meanwhile. Written by the instance's loop into its <see cref="StepLog"/>; durations in seconds.
/// </summary>
public record struct StepRecord
{
    /// <summary>Prompt chunks kept per step; a step with more keeps their count and token sums, and the first ones.</summary>
    public const int MaxChunks = 8;

    /// <summary>The step's number on its instance (0, 1, ...), counting only steps that ran the model.</summary>
    public long Index { get; set; }
    /// <summary>When the step began (before scheduling), in seconds on the runtime's clock (as request timelines).</summary>
    public double Start { get; set; }
    /// <summary>
    /// Since the previous step ended: the loop idle, waiting for a message, or taking in messages. NaN for an instance's
    /// first step.
    /// </summary>
    public double Gap { get; set; }
    /// <summary>Scheduling, preemptions, in-process KV pulls: from <see cref="Start"/> to the model runner.</summary>
    public double Prepare { get; set; }
    /// <summary>
    /// When the forward pass began, on the runtime's clock: set against other instances' forward passes, it says which
    /// steps ran beside another instance's (sharing memory bandwidth and caches) and which alone.
    /// </summary>
    public double ForwardAt { get; set; }
    /// <summary>The transformer's forward pass alone: what the bench replays.</summary>
    public double Forward { get; set; }
    /// <summary>CPU time the loop thread got during <see cref="Forward"/> (Linux; NaN elsewhere).</summary>
    public double ForwardCpu { get; set; }
    /// <summary>
    /// Time the instance's threads (the loop and its thread team) spent runnable but waiting for a core during
    /// <see cref="Forward"/>, summed over the threads (Linux schedstat; NaN where unavailable).
    /// </summary>
    public double ForwardRunQueue { get; set; }
    /// <summary>The model runner: the batch built, the forward pass, sampling.</summary>
    public double Execute { get; set; }
    /// <summary>From <see cref="Start"/> until the sampled tokens were handed to their streams.</summary>
    public double Total { get; set; }

    /// <summary>Requests that computed one decode token.</summary>
    public int DecodeSequences { get; set; }
    /// <summary>Tokens the decode requests had computed before the step (each attends to as many), summed.</summary>
    public long DecodeContext { get; set; }
    /// <summary>Prompt chunks (a whole prompt or part of one, a recompute after preemption included).</summary>
    public int PrefillChunks { get; set; }
    public int PrefillTokens { get; set; }
    /// <summary>Tokens the prompt chunks' requests had computed before the step (or found cached), summed.</summary>
    public long PrefillContext { get; set; }
    /// <summary>Prompt tokens of the requests admitted this step that the prefix cache held (not computed).</summary>
    public int CachedTokens { get; set; }
    /// <summary>Tokens sampled (rows of logits computed).</summary>
    public int LogitRows { get; set; }
    /// <summary>Requests preempted by this step (or by iterations since the previous step that ran nothing).</summary>
    public int Preempted { get; set; }
    /// <summary>KV pulls started by this step (or since the previous one).</summary>
    public int Pulled { get; set; }
    /// <summary>
    /// Prompts a decode instance handed back to a prefill instance by this step (or since the previous one): local
    /// prompts that no longer fit beside its running requests and pulls (<c>SchedulerOutput.ToPrefill</c>).
    /// </summary>
    public int ToPrefill { get; set; }

    /// <summary>Bytes the loop thread allocated during the step (zero is the goal).</summary>
    public long AllocatedBytes { get; set; }
    /// <summary>Collections of each generation, in the whole process, while the step ran.</summary>
    public int Gen0Collections { get; set; }
    public int Gen1Collections { get; set; }
    public int Gen2Collections { get; set; }
    /// <summary>Time the GC paused the process while the step ran.</summary>
    public double GcPause { get; set; }

    private ChunkArray _chunks;

    /// <summary>Prompt chunks of <see cref="PrefillChunks"/> that are kept (at most <see cref="MaxChunks"/>).</summary>
    public readonly int StoredChunks => Math.Min(PrefillChunks, MaxChunks);

    public readonly StepChunk Chunk(int i)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)i, (uint)StoredChunks, nameof(i));
        return _chunks[i];
    }

    /// <summary>Adds a prompt chunk (counted always, kept while there is room).</summary>
    public void AddChunk(StepChunk chunk)
    {
        if (PrefillChunks < MaxChunks) _chunks[PrefillChunks] = chunk;
        PrefillChunks++;
        PrefillTokens += chunk.Tokens;
        PrefillContext += chunk.Start;
    }

    /// <summary>Decode requests only, prompt chunks only, or both.</summary>
    public readonly string Kind => PrefillChunks == 0 ? "decode" : DecodeSequences == 0 ? "prefill" : "mixed";

    // The runtime refuses ValueType.Equals on an inline array, and the record's generated Equals reaches it through
    // EqualityComparer<ChunkArray>.Default: so the array compares its elements itself (slots past the kept chunks stay
    // default, so all eight can be compared).
    [InlineArray(MaxChunks)]
    private struct ChunkArray : IEquatable<ChunkArray>
    {
        private StepChunk _first;

        public readonly bool Equals(ChunkArray other) => ((ReadOnlySpan<StepChunk>)this).SequenceEqual(other);

        public readonly override bool Equals(object? obj) => obj is ChunkArray other && Equals(other);

        public readonly override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (var chunk in (ReadOnlySpan<StepChunk>)this) hash.Add(chunk);
            return hash.ToHashCode();
        }
    }
}
