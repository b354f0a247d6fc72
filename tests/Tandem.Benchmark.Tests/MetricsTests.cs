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
        Assert.Equal([true, false, true, true, false, false], records.Select(r => RequestMetrics.MeetsTtftSlo(r, slo)));
        Assert.Equal([true, true, false, true, false, false], records.Select(r => RequestMetrics.MeetsTpotSlo(r, slo)));

        var s = MetricsCalculator.Summarize(records, durationSeconds: 2.0, slo);
        Assert.Equal(6, s.Total);
        Assert.Equal(4, s.Completed);
        Assert.Equal(2, s.Failed);
        Assert.Equal(1, s.TimedOut);
        Assert.Equal(2, s.GoodRequests);
        Assert.Equal(2.0 / 6, s.SloAttainment, 12);
        Assert.Equal(3, s.GoodRequestsTtft);
        Assert.Equal(3.0 / 6, s.SloAttainmentTtft, 12);
        Assert.Equal(3, s.GoodRequestsTpot);
        Assert.Equal(3.0 / 6, s.SloAttainmentTpot, 12);
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

    [Fact]
    public void TheThreeAttainmentsReachTheReportsConsoleJsonAndCsv()
    {
        var slo = new SloSpec(0.5, 0.1);
        RequestRecord[] records =
        [
            Ok(0, 0, 0.4, 0.5, 0.6),  // both
            Ok(1, 0, 0.6, 0.65, 0.7), // TPOT only
            Ok(2, 0, 0.2, 0.5, 0.8),  // TTFT only
            Ok(3, 0, 0.6, 1.0, 1.4),  // neither
        ];
        var run = Reports.ReportBuilder.Run(2.0, "test", new RunResult(records, 2.0), slo, LatencyOrigin.Arrival, 1);
        Assert.Equal(0.5, run.Summary.SloAttainmentTtft, 12);
        Assert.Equal(0.5, run.Summary.SloAttainmentTpot, 12);
        Assert.Equal(0.25, run.Summary.SloAttainment, 12);
        Assert.Equal([true, false, true, false], run.Requests.Select(r => r.MeetsTtftSlo));
        Assert.Equal([true, true, false, false], run.Requests.Select(r => r.MeetsTpotSlo));

        var report = new Reports.BenchReport
        {
            Config = new Reports.BenchConfig
            {
                Label = "x", BaseUrl = "http://h/", Endpoint = "/v1/completions", Model = "m", Workload = "fixed", NumPrompts = 4,
                PromptFormat = "text", ArrivalCv = 1, Seed = 0, TimeoutSeconds = 1, SloTtftSeconds = 0.5, SloTpotSeconds = 0.1,
                Devices = 1, LatencyOrigin = "arrival", StartedUtc = DateTimeOffset.UnixEpoch,
            },
            Runs = [run],
        };
        string dir = TestPaths.NewTempDir();
        string json = Path.Combine(dir, "r.json");
        Reports.BenchReportJson.Write(json, report);
        string text = File.ReadAllText(json);
        Assert.Contains("\"slo_attainment_ttft\": 0.5", text);
        Assert.Contains("\"slo_attainment_tpot\": 0.5", text);
        Assert.Contains("\"slo_attainment\": 0.25", text);
        Assert.Equal(0.5, Reports.BenchReportJson.Read(json).Runs[0].Summary.SloAttainmentTtft, 12);

        string runsCsv = Path.Combine(dir, "r.runs.csv");
        Reports.CsvReport.WriteRuns(runsCsv, report);
        var lines = File.ReadAllLines(runsCsv);
        var header = lines[0].Split(',');
        var cells = lines[1].Split(',');
        Assert.Equal("0.25", cells[Array.IndexOf(header, "slo_attainment")]);
        Assert.Equal("0.5", cells[Array.IndexOf(header, "slo_attainment_ttft")]);
        Assert.Equal("0.5", cells[Array.IndexOf(header, "slo_attainment_tpot")]);
        string requestsCsv = Path.Combine(dir, "r.csv");
        Reports.CsvReport.WriteRequests(requestsCsv, report);
        var rows = File.ReadAllLines(requestsCsv);
        int ttftColumn = Array.IndexOf(rows[0].Split(','), "meets_ttft_slo");
        Assert.Equal(["1", "0", "1", "0"], rows.Skip(1).Select(r => r.Split(',')[ttftColumn]));

        var console = new StringWriter();
        var ansi = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Ansi = Spectre.Console.AnsiSupport.No,
            ColorSystem = Spectre.Console.ColorSystemSupport.NoColors,
            Out = new Spectre.Console.AnsiConsoleOutput(console),
        });
        ansi.Profile.Width = 160;
        Reports.ConsoleReport.WriteRun(ansi, run, "x");
        string table = console.ToString();
        Assert.Contains("SLO attainment, TTFT only", table);
        Assert.Contains("50.0% (2/4)", table);
        Assert.Contains("SLO attainment, both", table);
        Assert.Contains("25.0% (1/4)", table);
    }
}
