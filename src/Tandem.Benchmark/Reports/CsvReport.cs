using System.Globalization;
using System.Text;

namespace Tandem.Benchmark.Reports;

/// <summary>CSV views of a report: one row per request, and one row per run. Invariant culture; empty cell = not applicable.</summary>
public static class CsvReport
{
    public static readonly string[] RequestColumns =
    [
        "rate", "index", "success", "timed_out", "http_status", "prompt_tokens", "prompt_tokens_reported", "cached_prompt_tokens",
        "output_tokens_requested", "output_tokens", "scheduled_s", "sent_s", "first_token_s", "end_s",
        "ttft_s", "tpot_s", "e2e_s", "meets_slo", "meets_ttft_slo", "meets_tpot_slo", "queue_s", "prefill_s", "transfer_s", "decode_s", "error",
    ];

    public static readonly string[] RunColumns =
    [
        "rate", "rate_per_device", "total", "completed", "failed", "timed_out", "duration_s", "request_throughput",
        "output_token_throughput", "total_token_throughput", "ttft_mean_s", "ttft_median_s", "ttft_p90_s", "ttft_p99_s",
        "tpot_mean_s", "tpot_median_s", "tpot_p90_s", "tpot_p99_s", "itl_mean_s", "itl_p99_s", "e2e_mean_s", "e2e_p99_s",
        "slo_ttft_s", "slo_tpot_s", "slo_attainment", "slo_attainment_ttft", "slo_attainment_tpot", "good_request_throughput",
        "cached_prompt_tokens", "cached_prompt_requests",
    ];

    public static void WriteRequests(string path, BenchReport report)
    {
        var sb = new StringBuilder();
        sb.AppendJoin(',', RequestColumns).Append('\n');
        foreach (var run in report.Runs)
            foreach (var r in run.Requests)
            {
                var t = r.ServerTimeline;
                Row(sb, [run.Rate, r.Index, r.Success, r.TimedOut, r.HttpStatus, r.PromptTokens, r.PromptTokensReported, r.CachedPromptTokens,
                    r.OutputTokensRequested, r.OutputTokens, r.ScheduledS, r.SentS, r.FirstTokenS, r.EndS,
                    r.TtftS, r.TpotS, r.E2eS, r.MeetsSlo, r.MeetsTtftSlo, r.MeetsTpotSlo, t?.Queue, t?.Prefill, t?.Transfer, t?.Decode, r.Error]);
            }
        Save(path, sb);
    }

    public static void WriteRuns(string path, BenchReport report)
    {
        var sb = new StringBuilder();
        sb.AppendJoin(',', RunColumns).Append('\n');
        foreach (var run in report.Runs)
        {
            var s = run.Summary;
            Row(sb, [run.Rate, run.RatePerDevice, s.Total, s.Completed, s.Failed, s.TimedOut, s.DurationSeconds, s.RequestThroughput,
                s.OutputTokenThroughput, s.TotalTokenThroughput, s.Ttft?.Mean, s.Ttft?.Median, s.Ttft?.P90, s.Ttft?.P99,
                s.Tpot?.Mean, s.Tpot?.Median, s.Tpot?.P90, s.Tpot?.P99, s.Itl?.Mean, s.Itl?.P99, s.E2e?.Mean, s.E2e?.P99,
                s.SloTtftSeconds, s.SloTpotSeconds, s.SloAttainment, s.SloAttainmentTtft, s.SloAttainmentTpot, s.GoodRequestThroughput,
                s.CachedPromptTokens, s.CachedPromptTokens is null ? null : s.CachedPromptRequests]);
        }
        Save(path, sb);
    }

    private static void Row(StringBuilder sb, object?[] cells)
    {
        for (int i = 0; i < cells.Length; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append(Cell(cells[i]));
        }
        sb.Append('\n');
    }

    private static string Cell(object? value) => value switch
    {
        null => "",
        bool b => b ? "1" : "0",
        double d => double.IsPositiveInfinity(d) ? "inf" : d.ToString("R", CultureInfo.InvariantCulture),
        string s => s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static void Save(string path, StringBuilder sb)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
        File.WriteAllText(path, sb.ToString());
    }
}
