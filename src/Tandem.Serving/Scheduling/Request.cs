using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Serving.Scheduling;

/// <summary>
/// One request as the schedulers see it, with vLLM v1's bookkeeping: <see cref="AllTokenIds"/> is the prompt
/// followed by the tokens generated so far, and <see cref="NumComputedTokens"/> how many of them have their
/// KV in the current instance's pool. What a step must compute is AllTokenIds[NumComputedTokens..]: the whole
/// prompt for a new request, a chunk of it, or the one token sampled last for a decoding request. The same
/// rule covers recompute after preemption (NumComputedTokens drops to 0 and prompt + output is prefilled
/// again). Owned by one instance loop at a time; handed over through queues.
/// </summary>
public sealed class Request
{
    private readonly List<int> _allTokenIds;
    private int _cancelRequested;

    public Request(string requestId, IReadOnlyList<int> promptTokenIds, int maxTokens, long arrivalOrder, double arrivalTime)
    {
        if (promptTokenIds.Count == 0) throw new ArgumentException("a request needs at least one prompt token", nameof(promptTokenIds));
        RequestId = requestId;
        _allTokenIds = new List<int>(promptTokenIds.Count + maxTokens);
        _allTokenIds.AddRange(promptTokenIds);
        NumPromptTokens = promptTokenIds.Count;
        MaxTokens = maxTokens;
        ArrivalOrder = arrivalOrder;
        Timeline = new RequestTimeline { Arrival = arrivalTime };
    }

    public string RequestId { get; }
    /// <summary>Controller-assigned, increasing with arrival: the preemption victim is the largest (newest).</summary>
    public long ArrivalOrder { get; }
    public int NumPromptTokens { get; }
    public int MaxTokens { get; }
    public IReadOnlyList<int> AllTokenIds => _allTokenIds;
    internal List<int> AllTokenIdList => _allTokenIds;
    /// <summary>The same tokens without a copy (to hash them for routing); valid until the next token is appended.</summary>
    public ReadOnlySpan<int> AllTokenIdSpan => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_allTokenIds);
    public int NumTokens => _allTokenIds.Count;
    public int NumOutputTokens => _allTokenIds.Count - NumPromptTokens;
    /// <summary>Tokens whose KV is in the owning instance's pool.</summary>
    public int NumComputedTokens { get; set; }
    /// <summary>Tokens a step still has to compute before the next token can be sampled.</summary>
    public int NumTokensToCompute => NumTokens - NumComputedTokens;
    public RequestStatus Status { get; set; } = RequestStatus.Waiting;
    public bool IsFinished => Status >= RequestStatus.FinishedStopped;
    public int NumPreemptions { get; set; }
    /// <summary>
    /// Prompt tokens whose KV came from the prefix cache at the request's first admission (OpenAI's
    /// usage.prompt_tokens_details.cached_tokens); recomputation after a preemption does not change it.
    /// </summary>
    public int NumCachedTokens { get; private set; }
    private bool _prefixLookedUp;

    /// <summary>Records the cached prefix found at an admission; only the first one is the request's.</summary>
    public void NotePrefixHit(int tokens)
    {
        if (_prefixLookedUp) return;
        _prefixLookedUp = true;
        NumCachedTokens = tokens;
    }
    public RequestTimeline Timeline { get; }

    /// <summary>Set by any thread (client gone); the owning loop acts on it at its next iteration.</summary>
    public bool IsCancelRequested => Volatile.Read(ref _cancelRequested) != 0;
    // A full fence: the canceller then reads Owner, while a new owner sets Owner before checking the flag,
    // so one of the two always sees the other and no cancellation is lost in a hand-over.
    internal void RequestCancel() => Interlocked.Exchange(ref _cancelRequested, 1);

    /// <summary>Appends a sampled token (the output processor decides whether generation goes on).</summary>
    public void AppendOutputToken(int tokenId) => _allTokenIds.Add(tokenId);

    // ---- runtime-only state (null under a simulator) ----

    /// <summary>Text, sampling and the client's stream; null when a simulator drives the schedulers.</summary>
    internal RequestStream? Stream { get; set; }
    /// <summary>Where this request's prefilled KV waits to be pulled (disaggregated mode).</summary>
    internal IKvSource? Migration { get; set; }
    /// <summary>A cluster prefill worker with an overlapped pull (--kv-overlap): where its loop publishes the prompt's KV as chunks finish.</summary>
    internal Workers.PrefillKvProgress? KvProgress { get; set; }
    /// <summary>The instance whose loop owns the request now (cancellation wakes it).</summary>
    internal volatile Instances.ServingInstance? Owner;
    public long KvTransferBytes { get; set; }
    /// <summary>Of the KV migrated to a decode instance, tokens it held cached already and did not transfer again.</summary>
    public int KvReusedTokens { get; set; }

    public override string ToString() => $"{RequestId} ({NumComputedTokens}/{NumTokens} computed, {Status})";
}

/// <summary>A prefilled sequence left in this process's prefill instance's pool for a decode instance to pull.</summary>
internal sealed class LocalKvSource(KvSequence sequence, Instances.PrefillInstance holder, Request request) : IKvSource
{
    public KvSequence Sequence => sequence;

    /// <summary>A copy between two pools of this process: quick, so it runs on the decode loop.</summary>
    public bool IsRemote => false;

    /// <summary>Exports what <paramref name="reserved"/> lacks through <paramref name="scratch"/> (the engine's transfer format, checksum included) and imports.</summary>
    public long PullInto(KvSequence reserved, ModelFingerprint model, MemoryStream? scratch, CancellationToken cancellation)
    {
        scratch ??= new MemoryStream();
        scratch.SetLength(0);
        long bytes = KvTransfer.Export(sequence, model, scratch, fromToken: reserved.Length);
        scratch.Position = 0;
        KvTransfer.ImportInto(reserved, model, scratch);
        return bytes;
    }

    public void Release() => holder.Post(Instances.InstanceMessageKind.Release, request);
}
