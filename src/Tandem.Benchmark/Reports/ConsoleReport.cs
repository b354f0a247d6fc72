using System.Globalization;
using Spectre.Console;
using Tandem.Benchmark.Goodput;
using Tandem.Benchmark.Metrics;

namespace Tandem.Benchmark.Reports;

/// <summary>Tables for the console (Spectre.Console): per-run latencies, a sweep overview, the goodput search.</summary>
public static class ConsoleReport
{
    public static string Rate(double rate) =>
        double.IsPositiveInfinity(rate) ? "inf" : rate.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Ms(double? seconds) =>
        seconds is double s ? (s * 1000).ToString("0.00", CultureInfo.InvariantCulture) : "-";

    private static string Num(double value, string format = "0.00") => value.ToString(format, CultureInfo.InvariantCulture);

    private static string Slo(double seconds) => double.IsPositiveInfinity(seconds) ? "none" : Ms(seconds) + " ms";

    /// <summary>One run in detail: counts, throughput, each latency metric's mean/median/p90/p99, the server's breakdown.</summary>
    public static void WriteRun(IAnsiConsole console, RunReport run, string label)
    {
        var s = run.Summary;
        var head = new Table { Border = TableBorder.Rounded, Title = new TableTitle($"{Markup.Escape(label)} — rate {Rate(run.Rate)} req/s ({Markup.Escape(run.Arrival)})") };
        head.AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        head.AddRow("requests (completed / failed / timed out)", $"{s.Total} ({s.Completed} / {s.Failed} / {s.TimedOut})");
        head.AddRow("duration", Num(s.DurationSeconds) + " s");
        head.AddRow("request throughput", Num(s.RequestThroughput, "0.000") + " req/s");
        head.AddRow("output token throughput", Num(s.OutputTokenThroughput, "0.0") + " tok/s");
        head.AddRow("total token throughput", Num(s.TotalTokenThroughput, "0.0") + " tok/s");
        head.AddRow("input / output tokens", $"{s.InputTokens} / {s.OutputTokens}");
        if (s.CachedPromptTokens is long cached)
            head.AddRow("prompt tokens from the server's cache", $"{cached} ({s.CachedPromptRequests} requests)");
        head.AddRow("SLO (TTFT / TPOT)", $"{Slo(s.SloTtftSeconds)} / {Slo(s.SloTpotSeconds)}");
        head.AddRow("SLO attainment, TTFT only", $"{Num(s.SloAttainmentTtft * 100, "0.0")}% ({s.GoodRequestsTtft}/{s.Total})");
        head.AddRow("SLO attainment, TPOT only", $"{Num(s.SloAttainmentTpot * 100, "0.0")}% ({s.GoodRequestsTpot}/{s.Total})");
        head.AddRow("[bold]SLO attainment, both[/]", $"[bold]{Num(s.SloAttainment * 100, "0.0")}%[/] ({s.GoodRequests}/{s.Total})");
        head.AddRow("good request throughput", Num(s.GoodRequestThroughput, "0.000") + " req/s");
        console.Write(head);

        var lat = new Table { Border = TableBorder.Rounded };
        lat.AddColumn("latency (ms)");
        foreach (string c in (string[])["n", "mean", "median", "p90", "p99", "max"]) lat.AddColumn(new TableColumn(c).RightAligned());
        void Row(string name, LatencyStats? l) =>
            lat.AddRow(name, l?.Count.ToString(CultureInfo.InvariantCulture) ?? "0", Ms(l?.Mean), Ms(l?.Median), Ms(l?.P90), Ms(l?.P99), Ms(l?.Max));
        Row("TTFT", s.Ttft);
        Row("TPOT", s.Tpot);
        Row("ITL", s.Itl);
        Row("E2E", s.E2e);
        if (s.Breakdown is { } b)
        {
            Row("server queue", b.Queue);
            Row("server prefill", b.Prefill);
            Row("server transfer", b.Transfer);
            Row("server decode", b.Decode);
        }
        console.Write(lat);

        if (CacheNote(s) is { } note)
            console.MarkupLine($"[yellow]{Markup.Escape(note)}[/]");

        var errors = run.Requests.Where(r => !r.Success).GroupBy(r => r.Error ?? "failed").OrderByDescending(g => g.Count()).Take(5).ToList();
        foreach (var g in errors)
            console.MarkupLine($"[red]{g.Count()} failed:[/] {Markup.Escape(g.Key)}");
    }

    /// <summary>
    /// A warning when the server reported answering prompts partly from its cache: those TTFTs timed a cache hit, not
    /// the prefill of the whole prompt. Null when it reported no cached tokens.
    /// </summary>
    public static string? CacheNote(RunSummary s) => s.CachedPromptTokens is long cached && cached > 0
        ? string.Create(CultureInfo.InvariantCulture,
            $"note: the server reported {cached} prompt tokens ({100.0 * cached / Math.Max(1, s.InputTokens):0.#}% of {s.InputTokens}) taken from its prompt cache in {s.CachedPromptRequests} of {s.Total} requests; their TTFT is not a full prefill")
        : null;

    /// <summary>Several runs side by side, one row per rate.</summary>
    public static void WriteSweep(IAnsiConsole console, IReadOnlyList<RunReport> runs, string label, int devices)
    {
        var t = new Table { Border = TableBorder.Rounded, Title = new TableTitle(Markup.Escape(label)) };
        t.AddColumn(new TableColumn("rate").RightAligned());
        if (devices > 1) t.AddColumn(new TableColumn("rate/dev").RightAligned());
        foreach (string c in (string[])["ok/total", "req/s", "tok/s", "TTFT p90 ms", "TPOT p90 ms", "E2E p90 ms", "TTFT att.", "TPOT att.", "attainment"])
            t.AddColumn(new TableColumn(c).RightAligned());
        foreach (var run in runs)
        {
            var s = run.Summary;
            var cells = new List<string> { Rate(run.Rate) };
            if (devices > 1) cells.Add(Rate(run.RatePerDevice));
            cells.AddRange([$"{s.Completed}/{s.Total}", Num(s.RequestThroughput, "0.000"), Num(s.OutputTokenThroughput, "0.0"),
                Ms(s.Ttft?.P90), Ms(s.Tpot?.P90), Ms(s.E2e?.P90),
                Num(s.SloAttainmentTtft * 100, "0.0") + "%", Num(s.SloAttainmentTpot * 100, "0.0") + "%", Num(s.SloAttainment * 100, "0.0") + "%"]);
            t.AddRow(cells.ToArray());
        }
        console.Write(t);
    }

    public static string ProbeLine(GoodputProbe p, double target) =>
        $"probe rate {Rate(p.Rate)} req/s: attainment {Num(p.Attainment * 100, "0.0")}% {(p.Passed ? ">=" : "<")} {Num(target * 100, "0.#")}% -> {(p.Passed ? "pass" : "fail")}";

    public static void WriteGoodput(IAnsiConsole console, GoodputReport g, int devices)
    {
        var t = new Table { Border = TableBorder.Rounded, Title = new TableTitle("goodput search") };
        t.AddColumn(new TableColumn("rate").RightAligned()).AddColumn(new TableColumn("attainment").RightAligned()).AddColumn("result");
        foreach (var p in g.Probes)
            t.AddRow(Rate(p.Rate), Num(p.Attainment * 100, "0.0") + "%", p.Passed ? "[green]pass[/]" : "[red]fail[/]");
        console.Write(t);
        string bound = g.LowestFailingRate is double f ? $"fails at {Rate(f)}" : "still passing at the search's maximum rate";
        string perDevice = devices > 1 ? $" = {Rate(g.GoodputPerDevice)} req/s per device ({devices})" : "";
        console.MarkupLine($"[bold]goodput[/] at {Num(g.Target * 100, "0.#")}% attainment: [bold]{Rate(g.Goodput)} req/s[/]{perDevice} ({bound}; precision {Rate(g.Precision)})");
    }
}
