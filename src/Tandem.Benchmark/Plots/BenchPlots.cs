using ScottPlot;
using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Reports;

namespace Tandem.Benchmark.Plots;

/// <summary>
/// PNG figures in the style of DistServe's evaluation: SLO attainment against per-device rate for several systems
/// side by side, attainment against SLO scale, and latency distributions (CDFs of TTFT and TPOT).
/// </summary>
public static class BenchPlots
{
    public const int DefaultWidth = 900;
    public const int DefaultHeight = 600;

    /// <summary>Attainment (%) against request rate, one line per series, with the target as a dashed line.</summary>
    public static void Attainment(string path, IReadOnlyList<PlotSeries> series, double target, string xLabel = "rate (req/s per device)",
        string title = "SLO attainment", int width = DefaultWidth, int height = DefaultHeight)
    {
        var plot = new Plot();
        foreach (var s in series)
        {
            var line = plot.Add.Scatter(s.Xs.ToArray(), s.Ys.Select(y => y * 100).ToArray());
            line.LegendText = s.Label;
            line.LineWidth = 2;
            line.MarkerSize = 7;
        }
        var goal = plot.Add.HorizontalLine(target * 100);
        goal.LinePattern = LinePattern.Dashed;
        goal.Color = Colors.Black.WithAlpha(0.6);
        goal.LineWidth = 1;
        goal.LegendText = $"target {target * 100:0.#}%";
        plot.Axes.SetLimitsY(0, 105);
        plot.Axes.AutoScaleX();
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel("SLO attainment (%)");
        plot.ShowLegend(Alignment.LowerLeft);
        Save(plot, path, width, height);
    }

    /// <summary>Empirical CDFs of TTFT (left) and TPOT (right) in milliseconds, one line per run, with the SLOs marked.</summary>
    public static void LatencyCdf(string path, IReadOnlyList<PlotSeries> ttft, IReadOnlyList<PlotSeries> tpot, SloSpec? slo = null,
        int width = DefaultWidth * 2, int height = DefaultHeight)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        Cdf(multiplot.GetPlot(0), "TTFT", ttft, slo?.TtftSeconds);
        Cdf(multiplot.GetPlot(1), "TPOT", tpot, slo?.TpotSeconds);
        EnsureDirectory(path);
        multiplot.SavePng(path, width, height);
    }

    private static void Cdf(Plot plot, string metric, IReadOnlyList<PlotSeries> series, double? sloSeconds)
    {
        foreach (var s in series)
        {
            if (s.Xs.Count == 0) continue;
            var line = plot.Add.Scatter(s.Xs.Select(x => x * 1000).ToArray(), s.Ys.ToArray());
            line.LegendText = s.Label;
            line.LineWidth = 2;
            line.MarkerSize = 0;
            line.ConnectStyle = ConnectStyle.StepHorizontal;
        }
        if (sloSeconds is double slo && double.IsFinite(slo))
        {
            var mark = plot.Add.VerticalLine(slo * 1000);
            mark.LinePattern = LinePattern.Dashed;
            mark.Color = Colors.Black.WithAlpha(0.6);
            mark.LegendText = $"SLO {slo * 1000:0.##} ms";
        }
        plot.Axes.SetLimitsY(0, 1.02);
        plot.Title($"{metric} distribution");
        plot.XLabel($"{metric} (ms)");
        plot.YLabel("fraction of requests");
        plot.ShowLegend(Alignment.LowerRight);
    }

    /// <summary>Attainment against SLO scale (both SLOs multiplied by the scale), one line per series: DistServe's second axis.</summary>
    public static void AttainmentVsSloScale(string path, IReadOnlyList<PlotSeries> series, double target,
        int width = DefaultWidth, int height = DefaultHeight) =>
        Attainment(path, series, target, "SLO scale (x both SLOs)", "SLO attainment against SLO scale", width, height);

    /// <summary>The attainment of a run's requests at each SLO scale, from its saved latencies.</summary>
    public static PlotSeries SloScaleSeries(string label, RunReport run, SloSpec slo, IReadOnlyList<double> scales) =>
        new(label, scales, scales.Select(k =>
        {
            var scaled = slo.Scaled(k);
            return run.Requests.Count == 0 ? 0 : run.Requests.Count(r => r.Meets(scaled)) / (double)run.Requests.Count;
        }).ToArray());

    private static void Save(Plot plot, string path, int width, int height)
    {
        EnsureDirectory(path);
        plot.SavePng(path, width, height);
    }

    private static void EnsureDirectory(string path)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
    }
}
