using Tandem.Benchmark.Client;
using Tandem.Benchmark.Goodput;
using Tandem.Benchmark.Metrics;

namespace Tandem.Benchmark.Reports;

/// <summary>
/// Everything one <c>tandem bench serve</c> invocation measured, as written to <c>--out FILE.json</c> (snake_case
/// names; seconds; rates in requests per second, <c>"Infinity"</c> for all-at-once). <c>tandem bench plot</c> reads it back.
/// </summary>
public sealed record BenchReport
{
    public const string CurrentSchema = "tandem.bench.serve/1";

    public string Schema { get; init; } = CurrentSchema;
    public required BenchConfig Config { get; init; }
    /// <summary>One run per rate (a sweep, or every probe of a goodput search), in the order they ran.</summary>
    public required IReadOnlyList<RunReport> Runs { get; init; }
    public GoodputReport? Goodput { get; init; }
}

/// <summary>The settings a report was measured under.</summary>
public sealed record BenchConfig
{
    /// <summary>Name for this system in plots and tables (default: the model name).</summary>
    public required string Label { get; init; }
    public required string BaseUrl { get; init; }
    public required string Endpoint { get; init; }
    public required string Model { get; init; }
    /// <summary>Preset name (as given, e.g. "fixed:128:32"), "dataset" or "trace".</summary>
    public required string Workload { get; init; }
    /// <summary>The dataset or trace file.</summary>
    public string? Dataset { get; init; }
    /// <summary>The GGUF file whose tokenizer sized text prompts exactly, if one was given.</summary>
    public string? Tokenizer { get; init; }
    /// <summary>For a trace with arrival times: its own mean rate (requests per second) before scaling.</summary>
    public double? TraceRate { get; init; }
    public required int NumPrompts { get; init; }
    public double? InputLenMean { get; init; }
    public double? OutputLenMean { get; init; }
    public int? MaxModelLen { get; init; }
    public required string PromptFormat { get; init; }
    /// <summary>Coefficient of variation of inter-arrival gaps (1 = Poisson).</summary>
    public required double ArrivalCv { get; init; }
    public required int Seed { get; init; }
    public int? MaxConcurrency { get; init; }
    public required double TimeoutSeconds { get; init; }
    public required double SloTtftSeconds { get; init; }
    public required double SloTpotSeconds { get; init; }
    /// <summary>Cores or devices the server uses; per-device rates divide by it.</summary>
    public required int Devices { get; init; }
    /// <summary>"arrival" or "send": what TTFT and E2E are measured from.</summary>
    public required string LatencyOrigin { get; init; }
    public required DateTimeOffset StartedUtc { get; init; }
}

/// <summary>One run at one rate.</summary>
public sealed record RunReport
{
    public required double Rate { get; init; }
    public required double RatePerDevice { get; init; }
    public required string Arrival { get; init; }
    public required RunSummary Summary { get; init; }
    public required IReadOnlyList<RequestReport> Requests { get; init; }
}

/// <summary>One request: its record (times in seconds since its run started) with the latencies derived from it.</summary>
public sealed record RequestReport
{
    public required int Index { get; init; }
    public required bool Success { get; init; }
    public bool TimedOut { get; init; }
    public int? HttpStatus { get; init; }
    public string? Error { get; init; }
    public string? FinishReason { get; init; }
    public required int PromptTokens { get; init; }
    public int? PromptTokensReported { get; init; }
    /// <summary>Prompt tokens the server reported taking from its prompt cache; null when it did not say.</summary>
    public int? CachedPromptTokens { get; init; }
    public required int OutputTokensRequested { get; init; }
    public required int OutputTokens { get; init; }
    public bool OutputTokensFromUsage { get; init; }
    public required double ScheduledS { get; init; }
    public required double SentS { get; init; }
    public double? FirstTokenS { get; init; }
    public required double EndS { get; init; }
    public double? TtftS { get; init; }
    public double? TpotS { get; init; }
    public double? E2eS { get; init; }
    /// <summary>Meets both SLOs.</summary>
    public required bool MeetsSlo { get; init; }
    public bool MeetsTtftSlo { get; init; }
    public bool MeetsTpotSlo { get; init; }
    public IReadOnlyList<double> TokenTimesS { get; init; } = [];
    public ServerTimeline? ServerTimeline { get; init; }

    public static RequestReport From(RequestRecord r, SloSpec slo, LatencyOrigin origin) => new()
    {
        Index = r.Index,
        Success = r.Success,
        TimedOut = r.TimedOut,
        HttpStatus = r.HttpStatus,
        Error = r.Error,
        FinishReason = r.FinishReason,
        PromptTokens = r.PromptTokens,
        PromptTokensReported = r.PromptTokensReported,
        CachedPromptTokens = r.CachedPromptTokens,
        OutputTokensRequested = r.OutputTokensRequested,
        OutputTokens = r.OutputTokens,
        OutputTokensFromUsage = r.OutputTokensFromUsage,
        ScheduledS = r.ScheduledAt,
        SentS = r.SentAt,
        FirstTokenS = r.FirstTokenAt,
        EndS = r.EndAt,
        TtftS = RequestMetrics.Ttft(r, origin),
        TpotS = RequestMetrics.Tpot(r),
        E2eS = RequestMetrics.E2e(r, origin),
        MeetsSlo = RequestMetrics.MeetsSlo(r, slo, origin),
        MeetsTtftSlo = RequestMetrics.MeetsTtftSlo(r, slo, origin),
        MeetsTpotSlo = RequestMetrics.MeetsTpotSlo(r, slo),
        TokenTimesS = r.TokenTimes,
        ServerTimeline = r.ServerTimeline,
    };

    /// <summary>Whether this request would meet <paramref name="slo"/> (used to redraw attainment at other SLOs from a saved report).</summary>
    public bool Meets(SloSpec slo) =>
        Success && TtftS is double ttft && ttft <= slo.TtftSeconds && (TpotS is not double tpot || tpot <= slo.TpotSeconds);
}

/// <summary>A goodput search: every probe, and the answer overall and per device.</summary>
public sealed record GoodputReport
{
    public required double Target { get; init; }
    public required double Precision { get; init; }
    public required double Goodput { get; init; }
    public required double GoodputPerDevice { get; init; }
    /// <summary>Null when the search stopped at its maximum rate still passing.</summary>
    public double? LowestFailingRate { get; init; }
    public required IReadOnlyList<GoodputProbe> Probes { get; init; }
}
