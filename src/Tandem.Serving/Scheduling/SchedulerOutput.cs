namespace Tandem.Serving.Scheduling;

/// <summary>
/// What one scheduling decision asks the model runner to do (vLLM's SchedulerOutput): the chunks of one
/// forward step, the requests preempted to make room for it, and (decode instances) the KV migrations to
/// pull. Reused across steps by its scheduler.
/// </summary>
public sealed class SchedulerOutput
{
    public List<ScheduledChunk> Scheduled { get; } = [];
    /// <summary>Requests whose KV was freed this step; they recompute from scratch (vLLM's recompute preemption).</summary>
    public List<Request> Preempted { get; } = [];
    /// <summary>Decode instances: waiting requests whose KV to pull from their prefill instance before the step.</summary>
    public List<Request> ToPull { get; } = [];
    /// <summary>
    /// Decode instances: prompts sent here to prefill (conditional disaggregation) that this pool cannot hold now while a
    /// pull waits for room too, or can never hold; they go to a prefill instance instead, holding nothing here.
    /// </summary>
    public List<Request> ToPrefill { get; } = [];
    public int TotalTokens { get; private set; }
    /// <summary>Prompt tokens in the step (for the latency model: prefill work vs decode work).</summary>
    public int PrefillTokens { get; private set; }
    public int DecodeTokens => TotalTokens - PrefillTokens;
    /// <summary>Prompt tokens of the requests admitted this step whose KV came from the prefix cache (not computed).</summary>
    public int CachedTokens { get; private set; }
    public bool IsEmpty => Scheduled.Count == 0 && ToPull.Count == 0 && Preempted.Count == 0 && ToPrefill.Count == 0;
    /// <summary>The clock value the decision was made at.</summary>
    public double Now { get; internal set; }

    internal void Clear(double now)
    {
        Scheduled.Clear();
        Preempted.Clear();
        ToPull.Clear();
        ToPrefill.Clear();
        TotalTokens = 0;
        PrefillTokens = 0;
        CachedTokens = 0;
        Now = now;
    }

    internal void Add(Request request, int numTokens)
    {
        Scheduled.Add(new ScheduledChunk(request, numTokens));
        TotalTokens += numTokens;
        if (!IsDecode(request, numTokens)) PrefillTokens += numTokens;
    }

    /// <summary>
    /// A prompt chunk of a request admitted this step after <paramref name="cachedTokens"/> tokens found in the prefix
    /// cache. Always prompt work, even when the cache left a single token to compute.
    /// </summary>
    internal void AddAdmitted(Request request, int numTokens, int cachedTokens)
    {
        Scheduled.Add(new ScheduledChunk(request, numTokens));
        TotalTokens += numTokens;
        PrefillTokens += numTokens;
        CachedTokens += cachedTokens;
    }

    /// <summary>Takes a preempted request's chunk back out of the step; returns its token count.</summary>
    internal int Unschedule(Request request)
    {
        int i = Scheduled.FindIndex(c => ReferenceEquals(c.Request, request));
        if (i < 0) return 0;
        int n = Scheduled[i].NumTokens;
        Scheduled.RemoveAt(i);
        TotalTokens -= n;
        if (!IsDecode(request, n)) PrefillTokens -= n;
        return n;
    }

    // Decode work computes only the token sampled last; anything longer (or a request without output yet) is prompt.
    internal static bool IsDecode(Request r, int n) => n == 1 && r.NumOutputTokens > 0 && r.NumComputedTokens == r.NumTokens - 1;
}
