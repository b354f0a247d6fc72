namespace Tandem.Benchmark.Client;

/// <summary>
/// What happened to one request, in seconds since the run started (<see cref="BenchClock"/>). Token times are the
/// arrival times of stream chunks that carried text; a server that packs several tokens into a chunk gives fewer
/// times than <see cref="OutputTokens"/>, which comes from the server's usage report when it sends one.
/// </summary>
public sealed record RequestRecord
{
    public required int Index { get; init; }
    /// <summary>Prompt length the workload intended (exact for token ids).</summary>
    public required int PromptTokens { get; init; }
    /// <summary>Prompt length the server reported in usage, if it did.</summary>
    public int? PromptTokensReported { get; init; }
    /// <summary>
    /// Prompt tokens the server said it did not prefill but took from its prompt cache
    /// (<c>usage.prompt_tokens_details.cached_tokens</c>, or llama.cpp's <c>timings.cache_n</c>); null when it did not say.
    /// </summary>
    public int? CachedPromptTokens { get; init; }
    public required int OutputTokensRequested { get; init; }
    /// <summary>Tokens generated: usage.completion_tokens when reported, else the count of chunks with text.</summary>
    public int OutputTokens { get; init; }
    public bool OutputTokensFromUsage { get; init; }
    /// <summary>When the arrival process said the request arrives.</summary>
    public required double ScheduledAt { get; init; }
    /// <summary>When it was sent (later than scheduled when --max-concurrency held it back).</summary>
    public double SentAt { get; init; }
    public IReadOnlyList<double> TokenTimes { get; init; } = [];
    /// <summary>When the response ended (stream closed, error or timeout).</summary>
    public double EndAt { get; init; }
    public bool Success { get; init; }
    public bool TimedOut { get; init; }
    public int? HttpStatus { get; init; }
    public string? Error { get; init; }
    public string? FinishReason { get; init; }
    public ServerTimeline? ServerTimeline { get; init; }

    public double? FirstTokenAt => TokenTimes.Count > 0 ? TokenTimes[0] : null;
    public double? LastTokenAt => TokenTimes.Count > 0 ? TokenTimes[^1] : null;
}
