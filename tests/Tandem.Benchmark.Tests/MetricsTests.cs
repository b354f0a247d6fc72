using Tandem.Benchmark.Client;
using Tandem.Benchmark.Metrics;

namespace Tandem.Benchmark.Tests;

public class MetricsTests
{
    /// <summary>A successful request that arrived at <paramref name="arrival"/> with the given token times.</summary>
    internal static RequestRecord Ok(int index, double arrival, params double[] tokens) => new()
    {
        Index = index, PromptTokens = 10, OutputTokensRequested = tokens.Length, OutputTokens = tokens.Length, OutputTokensFromUsage = true,
        ScheduledAt = arrival, SentAt = arrival, TokenTimes = tokens, EndAt = tokens[^1] + 0.001, Success = true, HttpStatus = 200,
    };

    internal static RequestRecord Failed(int index, bool timedOut = false) => new()
    {
        Index = index, PromptTokens = 10, OutputTokensRequested = 4, ScheduledAt = 0, SentAt = 0, EndAt = 1,
        Success = false, TimedOut = timedOut, Error = timedOut ? "timed out" : "HTTP 503",
    };

    [Fact]
    public void LatenciesFollowTheMissionDefinitions()
    {
        var r = Ok(0, 1.0, 1.5, 1.6, 1.8, 2.1);
        Assert.Equal(0.5, RequestMetrics.Ttft(r)!.Value, 12);
        Assert.Equal((2.1 - 1.5) / 3, RequestMetrics.Tpot(r)!.Value, 12);
        Assert.Equal(1.1, RequestMetrics.E2e(r)!.Value, 12);
        Assert.Equal([0.1, 0.2, 0.3], RequestMetrics.Itls(r).Select(x => Math.Round(x, 12)));

        // Usage says 7 tokens though only 4 chunks came: TPOT divides by the token count.
        var packed = r with { OutputTokens = 7 };
        Assert.Equal((2.1 - 1.5) / 6, RequestMetrics.Tpot(packed)!.Value, 12);

        // Held back by --max-concurrency: TTFT from arrival includes the wait, from send it does not.
        var held = r with { SentAt = 1.3 };
        Assert.Equal(0.5, RequestMetrics.Ttft(held, LatencyOrigin.Arrival)!.Value, 12);
        Assert.Equal(0.2, RequestMetrics.Ttft(held, LatencyOrigin.Send)!.Value, 12);
    }

    [Fact]
    public void AttainmentCountsRequestsMeetingBothSlosAndFailuresAsMisses()
    {
        var slo = new SloSpec(0.5, 0.1);
        RequestRecord[] records =
        [
            Ok(0, 0, 0.4, 0.5, 0.6),        // TTFT 0.4, TPOT 0.1: meets both (bounds inclusive)
            Ok(1, 0, 0.6, 0.65, 0.7),       // TTFT 0.6: misses TTFT
            Ok(2, 0, 0.2, 0.5, 0.8),        // TPOT 0.3: misses TPOT
            Ok(3, 0, 0.3),                  // one token: no TPOT, judged on TTFT
            Failed(4),
            Failed(5, timedOut: true),
        ];
        Assert.Equal([true, false, false, true, false, false], records.Select(r => RequestMetrics.MeetsSlo(r, slo)));
        Assert.Equal(2.0 / 6, RequestMetrics.Attainment(records, slo), 12);

        var s = MetricsCalculator.Summarize(records, durationSeconds: 2.0, slo);
        Assert.Equal(6, s.Total);
        Assert.Equal(4, s.Completed);
        Assert.Equal(2, s.Failed);
        Assert.Equal(1, s.TimedOut);
        Assert.Equal(2, s.GoodRequests);
        Assert.Equal(2.0 / 6, s.SloAttainment, 12);
        Assert.Equal(1.0, s.GoodRequestThroughput, 12);
        Assert.Equal(2.0, s.RequestThroughput, 12);
        Assert.Equal(10, s.OutputTokens);
        Assert.Equal(4, s.Ttft!.Count);
        Assert.Equal(3, s.Tpot!.Count);
        Assert.Equal((0.4 + 0.6 + 0.2 + 0.3) / 4, s.Ttft.Mean, 12);
        Assert.Equal(0.0, MetricsCalculator.Summarize(records, 2.0, new SloSpec(1e-6, 1e-6)).SloAttainment);
        Assert.Equal(4.0 / 6, MetricsCalculator.Summarize(records, 2.0, SloSpec.None).SloAttainment, 12);
    }

    [Fact]
    public void PercentilesInterpolateLikeNumpy()
    {
        var s = LatencyStats.From(Enumerable.Range(1, 10).Select(i => (double)i).Reverse())!;
        Assert.Equal(5.5, s.Mean, 12);
        Assert.Equal(5.5, s.Median, 12);
        Assert.Equal(9.1, s.P90, 12);
        Assert.Equal(9.91, s.P99, 12);
        Assert.Equal(1, s.Min);
        Assert.Equal(10, s.Max);
        Assert.Null(LatencyStats.From([]));
    }

    [Fact]
    public void ServerTimelineGivesTheBreakdown()
    {
        var t = new ServerTimeline { Arrival = 10, PrefillStart = 10.5, PrefillEnd = 11, TransferStart = 11, TransferEnd = 11.1, DecodeStart = 11.2, End = 12 };
        Assert.Equal(0.5, t.Queue!.Value, 12);
        Assert.Equal(0.5, t.Prefill!.Value, 12);
        Assert.Equal(0.2, t.Transfer!.Value, 12);
        Assert.Equal(0.8, t.Decode!.Value, 12);
        var colocated = t with { TransferStart = null, TransferEnd = null, DecodeStart = null };
        Assert.Null(colocated.Transfer);
        Assert.Equal(1.0, colocated.Decode!.Value, 12);
    }
}
