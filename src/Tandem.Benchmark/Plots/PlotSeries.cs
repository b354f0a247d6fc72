namespace Tandem.Benchmark.Plots;

/// <summary>One line of a plot: a name for the legend and its points.</summary>
public sealed record PlotSeries(string Label, IReadOnlyList<double> Xs, IReadOnlyList<double> Ys)
{
    /// <summary>The empirical CDF of a sample: sorted values against cumulative share (i + 1) / n.</summary>
    public static PlotSeries Cdf(string label, IEnumerable<double> sample)
    {
        var xs = sample.Where(double.IsFinite).OrderBy(x => x).ToArray();
        var ys = new double[xs.Length];
        for (int i = 0; i < xs.Length; i++) ys[i] = (i + 1) / (double)xs.Length;
        return new PlotSeries(label, xs, ys);
    }
}
