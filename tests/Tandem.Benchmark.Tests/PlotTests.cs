using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Plots;

namespace Tandem.Benchmark.Tests;

public class PlotTests
{
    [Fact]
    public void AttainmentAndCdfFiguresAreWrittenAsPng()
    {
        string dir = TestPaths.NewTempDir();
        string attainment = Path.Combine(dir, "a.png");
        BenchPlots.Attainment(attainment,
            [new PlotSeries("disaggregated", [0.5, 1, 1.5, 2], [1, 0.98, 0.93, 0.6]), new PlotSeries("colocated", [0.5, 1, 1.5], [0.99, 0.8, 0.3])],
            target: 0.9);
        PngAssert.IsPng(attainment, BenchPlots.DefaultWidth, BenchPlots.DefaultHeight);

        string cdf = Path.Combine(dir, "sub", "cdf.png");
        var rng = new Random(1);
        var ttft = Enumerable.Range(0, 200).Select(_ => rng.NextDouble() * 0.4).ToArray();
        var tpot = Enumerable.Range(0, 200).Select(_ => 0.02 + rng.NextDouble() * 0.05).ToArray();
        BenchPlots.LatencyCdf(cdf, [PlotSeries.Cdf("run", ttft)], [PlotSeries.Cdf("run", tpot)], new SloSpec(0.25, 0.05));
        PngAssert.IsPng(cdf, BenchPlots.DefaultWidth * 2, BenchPlots.DefaultHeight);
    }

    [Fact]
    public void CdfIsSortedAndEndsAtOne()
    {
        var s = PlotSeries.Cdf("x", [3.0, 1.0, 2.0, double.NaN]);
        Assert.Equal([1.0, 2.0, 3.0], s.Xs);
        Assert.Equal(1.0, s.Ys[^1], 12);
        Assert.Equal(1.0 / 3, s.Ys[0], 12);
    }
}
