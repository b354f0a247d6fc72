using Tandem.Benchmark.Client;

namespace Tandem.Benchmark.Metrics;

/// <summary>Turns a run's records into its <see cref="RunSummary"/>.</summary>
public static class MetricsCalculator
{
    public static RunSummary Summarize(IReadOnlyList<RequestRecord> records, double durationSeconds, SloSpec slo, LatencyOrigin origin = LatencyOrigin.Arrival)
    {
        var ok = records.Where(r => r.Success).ToList();
        int good = records.Count(r => RequestMetrics.MeetsSlo(r, slo, origin));
        int goodTtft = records.Count(r => RequestMetrics.MeetsTtftSlo(r, slo, origin));
        int goodTpot = records.Count(r => RequestMetrics.MeetsTpotSlo(r, slo));
        double Share(int n) => records.Count == 0 ? 0 : n / (double)records.Count;
        long input = ok.Sum(r => (long)(r.PromptTokensReported ?? r.PromptTokens));
        long output = ok.Sum(r => (long)r.OutputTokens);
        double PerSecond(double x) => durationSeconds > 0 ? x / durationSeconds : 0;
        return new RunSummary
        {
            Total = records.Count,
            Completed = ok.Count,
            Failed = records.Count - ok.Count,
            TimedOut = records.Count(r => r.TimedOut),
            DurationSeconds = durationSeconds,
            InputTokens = input,
            CachedPromptTokens = records.Any(r => r.CachedPromptTokens is not null) ? records.Sum(r => (long)(r.CachedPromptTokens ?? 0)) : null,
            CachedPromptRequests = records.Count(r => r.CachedPromptTokens > 0),
            OutputTokens = output,
            RequestThroughput = PerSecond(ok.Count),
            OutputTokenThroughput = PerSecond(output),
            TotalTokenThroughput = PerSecond(input + output),
            Ttft = LatencyStats.From(ok.Select(r => RequestMetrics.Ttft(r, origin)).OfType<double>()),
            Tpot = LatencyStats.From(ok.Select(RequestMetrics.Tpot).OfType<double>()),
            Itl = LatencyStats.From(ok.SelectMany(RequestMetrics.Itls)),
            E2e = LatencyStats.From(ok.Select(r => RequestMetrics.E2e(r, origin)).OfType<double>()),
            SloTtftSeconds = slo.TtftSeconds,
            SloTpotSeconds = slo.TpotSeconds,
            GoodRequests = good,
            SloAttainment = Share(good),
            GoodRequestsTtft = goodTtft,
            SloAttainmentTtft = Share(goodTtft),
            GoodRequestsTpot = goodTpot,
            SloAttainmentTpot = Share(goodTpot),
            GoodRequestThroughput = PerSecond(good),
            Breakdown = Breakdown(ok),
        };
    }

    private static LatencyBreakdown? Breakdown(List<RequestRecord> ok)
    {
        var timelines = ok.Select(r => r.ServerTimeline).OfType<ServerTimeline>().ToList();
        if (timelines.Count == 0) return null;
        return new LatencyBreakdown(timelines.Count,
            LatencyStats.From(timelines.Select(t => t.Queue).OfType<double>()),
            LatencyStats.From(timelines.Select(t => t.Prefill).OfType<double>()),
            LatencyStats.From(timelines.Select(t => t.Transfer).OfType<double>()),
            LatencyStats.From(timelines.Select(t => t.Decode).OfType<double>()));
    }
}
