using Tandem.Benchmark.Client;

namespace Tandem.Benchmark.Metrics;

/// <summary>
/// The per-request latencies as the mission doc defines them: TTFT = first token − arrival; TPOT = (last token −
/// first token) / (output tokens − 1); ITL = gaps between consecutive token arrivals; E2E = last token − arrival.
/// A failed request has none of them.
/// </summary>
public static class RequestMetrics
{
    public static double Origin(RequestRecord r, LatencyOrigin origin) => origin == LatencyOrigin.Send ? r.SentAt : r.ScheduledAt;

    public static double? Ttft(RequestRecord r, LatencyOrigin origin = LatencyOrigin.Arrival) =>
        r.Success && r.FirstTokenAt is double first ? first - Origin(r, origin) : null;

    /// <summary>Null for a single-token answer, which has no decode phase.</summary>
    public static double? Tpot(RequestRecord r) =>
        r.Success && r.OutputTokens > 1 && r.FirstTokenAt is double first && r.LastTokenAt is double last
            ? (last - first) / (r.OutputTokens - 1)
            : null;

    public static double? E2e(RequestRecord r, LatencyOrigin origin = LatencyOrigin.Arrival) =>
        r.Success && r.LastTokenAt is double last ? last - Origin(r, origin) : null;

    public static IEnumerable<double> Itls(RequestRecord r)
    {
        if (!r.Success) yield break;
        for (int i = 1; i < r.TokenTimes.Count; i++) yield return r.TokenTimes[i] - r.TokenTimes[i - 1];
    }

    /// <summary>
    /// Whether a request meets both SLOs (what goodput counts). A failed or timed-out request never does. A one-token
    /// answer has no TPOT and is judged on TTFT alone (as vLLM's goodput does).
    /// </summary>
    public static bool MeetsSlo(RequestRecord r, SloSpec slo, LatencyOrigin origin = LatencyOrigin.Arrival) =>
        MeetsTtftSlo(r, slo, origin) && MeetsTpotSlo(r, slo);

    /// <summary>Whether a request meets the TTFT SLO, whatever its TPOT. A failed request does not.</summary>
    public static bool MeetsTtftSlo(RequestRecord r, SloSpec slo, LatencyOrigin origin = LatencyOrigin.Arrival) =>
        Ttft(r, origin) is double ttft && ttft <= slo.TtftSeconds;

    /// <summary>
    /// Whether a request meets the TPOT SLO, whatever its TTFT. A failed request does not; a successful one-token
    /// answer has no decode phase and does (so that both-SLO attainment is exactly TTFT-and-TPOT).
    /// </summary>
    public static bool MeetsTpotSlo(RequestRecord r, SloSpec slo) =>
        r.Success && (Tpot(r) is not double tpot || tpot <= slo.TpotSeconds);

    /// <summary>Share of <paramref name="records"/> meeting the SLO, failures included in the denominator.</summary>
    public static double Attainment(IReadOnlyCollection<RequestRecord> records, SloSpec slo, LatencyOrigin origin = LatencyOrigin.Arrival) =>
        records.Count == 0 ? 0 : records.Count(r => MeetsSlo(r, slo, origin)) / (double)records.Count;
}
