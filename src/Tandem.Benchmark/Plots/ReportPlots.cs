using System.Globalization;
using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Reports;

namespace Tandem.Benchmark.Plots;

/// <summary>Which figures <see cref="ReportPlots.Write"/> makes and where (null path = that figure is not made).</summary>
public sealed record PlotRequest
{
    public string? AttainmentPath { get; init; }
    public string? LatencyCdfPath { get; init; }
    public string? SloScalePath { get; init; }
    /// <summary>For the CDF and SLO-scale figures: use each report's run closest to this rate (default: see <see cref="ReportPlots"/>).</summary>
    public double? Rate { get; init; }
    /// <summary>Attainment target line (default: the first report's goodput target, else 0.9).</summary>
    public double? Target { get; init; }

    public static PlotRequest InDirectory(string dir) => new()
    {
        AttainmentPath = Path.Combine(dir, "attainment.png"),
        LatencyCdfPath = Path.Combine(dir, "latency-cdf.png"),
        SloScalePath = Path.Combine(dir, "slo-scale.png"),
    };
}

/// <summary>
/// Figures from saved reports (several systems side by side, one report each): attainment against per-device rate,
/// CDFs of TTFT and TPOT, attainment against SLO scale. Without <see cref="PlotRequest.Rate"/> the per-run figures use,
/// from each report, its goodput's run (the highest passing probe) when it searched, else all its runs when there are
/// few, else its middle run.
/// </summary>
public static class ReportPlots
{
    public static readonly double[] SloScales = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5];

    /// <summary>Writes the requested figures; returns the files written (a figure with no data is skipped).</summary>
    public static IReadOnlyList<string> Write(IReadOnlyList<BenchReport> reports, PlotRequest request)
    {
        if (reports.Count == 0) throw new ArgumentException("no reports to plot");
        var labels = Labels(reports);
        double target = request.Target ?? reports.Select(r => r.Goodput?.Target).OfType<double>().DefaultIfEmpty(0.9).First();
        var written = new List<string>();

        if (request.AttainmentPath is { } attainmentPath)
        {
            var series = reports.Select((r, i) =>
            {
                var runs = r.Runs.Where(x => double.IsFinite(x.Rate)).OrderBy(x => x.Rate).ToList();
                return new PlotSeries(labels[i], runs.Select(x => x.RatePerDevice).ToArray(), runs.Select(x => x.Summary.SloAttainment).ToArray());
            }).Where(s => s.Xs.Count > 0).ToList();
            bool perDevice = reports.Any(r => r.Config.Devices > 1);
            if (series.Count > 0)
            {
                BenchPlots.Attainment(attainmentPath, series, target, perDevice ? "rate (req/s per device)" : "rate (req/s)");
                written.Add(attainmentPath);
            }
        }

        var chosen = reports.Select((r, i) => (Label: labels[i], Report: r, Runs: ChooseRuns(r, request.Rate))).ToList();
        bool several = chosen.Sum(c => c.Runs.Count) > 1;
        string RunLabel(string label, RunReport run, int runsOfReport) =>
            runsOfReport > 1 || (several && chosen.Count == 1) ? $"{label} @ {ConsoleReport.Rate(run.Rate)}/s" : label;

        if (request.LatencyCdfPath is { } cdfPath)
        {
            var ttft = new List<PlotSeries>();
            var tpot = new List<PlotSeries>();
            foreach (var (label, _, runs) in chosen)
                foreach (var run in runs)
                {
                    string name = RunLabel(label, run, runs.Count);
                    ttft.Add(PlotSeries.Cdf(name, run.Requests.Select(q => q.TtftS).OfType<double>()));
                    tpot.Add(PlotSeries.Cdf(name, run.Requests.Select(q => q.TpotS).OfType<double>()));
                }
            if (ttft.Any(s => s.Xs.Count > 0))
            {
                var cfg = reports[0].Config;
                BenchPlots.LatencyCdf(cdfPath, ttft, tpot, new SloSpec(cfg.SloTtftSeconds, cfg.SloTpotSeconds));
                written.Add(cdfPath);
            }
        }

        if (request.SloScalePath is { } scalePath)
        {
            var series = new List<PlotSeries>();
            foreach (var (label, report, runs) in chosen)
            {
                var slo = new SloSpec(report.Config.SloTtftSeconds, report.Config.SloTpotSeconds);
                if (double.IsPositiveInfinity(slo.TtftSeconds) && double.IsPositiveInfinity(slo.TpotSeconds)) continue;
                foreach (var run in runs) series.Add(BenchPlots.SloScaleSeries(RunLabel(label, run, runs.Count), run, slo, SloScales));
            }
            if (series.Count > 0)
            {
                BenchPlots.AttainmentVsSloScale(scalePath, series, target);
                written.Add(scalePath);
            }
        }
        return written;
    }

    /// <summary>Report labels, made unique by numbering repeats.</summary>
    public static IReadOnlyList<string> Labels(IReadOnlyList<BenchReport> reports)
    {
        var labels = new List<string>();
        foreach (var r in reports)
        {
            string label = r.Config.Label;
            int n = 2;
            while (labels.Contains(label)) label = string.Create(CultureInfo.InvariantCulture, $"{r.Config.Label} ({n++})");
            labels.Add(label);
        }
        return labels;
    }

    private static List<RunReport> ChooseRuns(BenchReport report, double? rate)
    {
        if (report.Runs.Count == 0) return [];
        if (rate is double r)
            return [report.Runs.MinBy(x => Math.Abs(x.Rate - r))!];
        if (report.Goodput is { Goodput: > 0 } g && report.Runs.FirstOrDefault(x => x.Rate == g.Goodput) is { } best)
            return [best];
        if (report.Runs.Count <= 4) return report.Runs.ToList();
        return [report.Runs.OrderBy(x => x.Rate).ElementAt(report.Runs.Count / 2)];
    }
}
