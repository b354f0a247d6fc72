using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tandem.Server.Hosting;
using Tandem.Server.Metrics;

namespace Tandem.Server.Logging;

/// <summary>
/// Every <see cref="TandemApiOptions.StatsLogInterval"/>, vLLM's periodic line: prompt and generation throughput of the
/// requests that finished in the interval, requests running and waiting, KV cache usage and the prefix cache hit rate
/// of the prompts admitted in it. Written only when something happened in this interval or the one before (so the
/// line after a burst shows it has drained); a server with nothing to do stays quiet.
/// </summary>
internal sealed class ServingStatsLog(TandemApi api, ILoggerFactory logging) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (api.Options.StatsLogInterval is not { } interval || interval <= TimeSpan.Zero) return;
        var log = logging.CreateLogger(ServerLog.StatsCategory);
        if (!log.IsEnabled(LogLevel.Information)) return;
        using var timer = new PeriodicTimer(interval, api.Time);
        var last = Reading.Take(api);
        bool activeBefore = false;
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                var now = Reading.Take(api);
                bool active = now.Running + now.Waiting > 0 || now.Finished != last.Finished || now.PrefixQueries != last.PrefixQueries;
                if (active || activeBefore)
                {
                    double seconds = Math.Max(1e-9, api.Time.GetElapsedTime(last.Timestamp, now.Timestamp).TotalSeconds);
                    long queries = now.PrefixQueries - last.PrefixQueries;
                    ServerLog.Stats(log,
                        (now.PromptTokens - last.PromptTokens) / seconds,
                        (now.GenerationTokens - last.GenerationTokens) / seconds,
                        now.Running, now.Waiting, now.KvUsage * 100,
                        queries > 0 ? 100.0 * (now.PrefixHits - last.PrefixHits) / queries : 0);
                }
                activeBefore = active;
                last = now;
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The host is stopping.
        }
    }

    private readonly record struct Reading(long Timestamp, long PromptTokens, long GenerationTokens, long Finished, int Running, int Waiting,
        double KvUsage, long PrefixQueries, long PrefixHits)
    {
        public static Reading Take(TandemApi api)
        {
            var s = api.Engine.Snapshot();
            var m = api.Metrics;
            return new Reading(api.Time.GetTimestamp(), m.PromptTokens, m.GenerationTokens, m.FinishedRequests, s.RequestsRunning, s.RequestsWaiting,
                ServingMetrics.KvUsage(s), m.PrefixCacheQueries(s), m.PrefixCacheHits(s));
        }
    }
}
