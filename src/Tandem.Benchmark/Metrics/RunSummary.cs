namespace Tandem.Benchmark.Metrics;

/// <summary>Where a Tandem server's time went (from <c>tandem_timeline</c>), over the successful requests that reported one.</summary>
public sealed record LatencyBreakdown(int Requests, LatencyStats? Queue, LatencyStats? Prefill, LatencyStats? Transfer, LatencyStats? Decode);

/// <summary>The numbers of one run. Latencies in seconds; throughputs per second of run duration.</summary>
public sealed record RunSummary
{
    public required int Total { get; init; }
    public required int Completed { get; init; }
    public required int Failed { get; init; }
    public required int TimedOut { get; init; }
    public required double DurationSeconds { get; init; }
    public required long InputTokens { get; init; }
    /// <summary>
    /// Prompt tokens the server reported taking from its prompt cache, summed over the run; null when it reported none
    /// either way. Above 0, some TTFTs timed a cache hit rather than a prefill.
    /// </summary>
    public long? CachedPromptTokens { get; init; }
    /// <summary>Requests the server answered partly from its prompt cache (reported cached tokens above 0).</summary>
    public int CachedPromptRequests { get; init; }
    public required long OutputTokens { get; init; }
    /// <summary>Completed requests per second.</summary>
    public required double RequestThroughput { get; init; }
    public required double OutputTokenThroughput { get; init; }
    public required double TotalTokenThroughput { get; init; }
    public LatencyStats? Ttft { get; init; }
    public LatencyStats? Tpot { get; init; }
    public LatencyStats? Itl { get; init; }
    public LatencyStats? E2e { get; init; }
    public required double SloTtftSeconds { get; init; }
    public required double SloTpotSeconds { get; init; }
    /// <summary>Requests meeting both SLOs (failures never do).</summary>
    public required int GoodRequests { get; init; }
    /// <summary>GoodRequests / Total: requests meeting both SLOs, the attainment goodput is judged on.</summary>
    public required double SloAttainment { get; init; }
    /// <summary>Requests meeting the TTFT SLO, whatever their TPOT (absent from reports written before it existed).</summary>
    public int GoodRequestsTtft { get; init; }
    /// <summary>GoodRequestsTtft / Total.</summary>
    public double SloAttainmentTtft { get; init; }
    /// <summary>Requests meeting the TPOT SLO, whatever their TTFT (a successful one-token answer does).</summary>
    public int GoodRequestsTpot { get; init; }
    /// <summary>GoodRequestsTpot / Total.</summary>
    public double SloAttainmentTpot { get; init; }
    /// <summary>GoodRequests per second of run: vLLM's per-run "request goodput" (the search's goodput is a rate, see GoodputSearch).</summary>
    public required double GoodRequestThroughput { get; init; }
    public LatencyBreakdown? Breakdown { get; init; }
}
