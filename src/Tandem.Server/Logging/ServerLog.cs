using Microsoft.Extensions.Logging;

namespace Tandem.Server.Logging;

/// <summary>
/// The server's own log lines, as structured messages (each placeholder is a field: <c>--log-format json</c> writes
/// them as JSON properties). Generated at compile time: no formatting, boxing or allocation when the level is off.
/// </summary>
internal static partial class ServerLog
{
    /// <summary>The category of the per-request lines.</summary>
    public const string RequestsCategory = "Tandem.Requests";
    /// <summary>The category of the periodic throughput / queue line.</summary>
    public const string StatsCategory = "Tandem.Stats";

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "request {RequestId} finished: finish_reason={FinishReason} prompt_tokens={PromptTokens} cached_tokens={CachedTokens} " +
                  "output_tokens={OutputTokens} ttft_ms={TtftMs} tpot_ms={TpotMs} e2e_ms={E2eMs}")]
    public static partial void RequestFinished(ILogger logger, string requestId, string finishReason, int promptTokens, int cachedTokens,
        int outputTokens, double? ttftMs, double? tpotMs, double? e2eMs);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information,
        Message = "Avg prompt throughput: {PromptThroughput:0.0} tokens/s, Avg generation throughput: {GenerationThroughput:0.0} tokens/s, " +
                  "Running: {Running} reqs, Waiting: {Waiting} reqs, KV cache usage: {KvCacheUsagePercent:0.0}%, Prefix cache hit rate: {PrefixCacheHitRatePercent:0.0}%")]
    public static partial void Stats(ILogger logger, double promptThroughput, double generationThroughput, int running, int waiting,
        double kvCacheUsagePercent, double prefixCacheHitRatePercent);
}
