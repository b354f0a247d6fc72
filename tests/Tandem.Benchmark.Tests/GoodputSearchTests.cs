using Tandem.Benchmark.Goodput;

namespace Tandem.Benchmark.Tests;

public class GoodputSearchTests
{
    [Theory]
    [InlineData(3.7, 1.0)]
    [InlineData(3.7, 50.0)]   // starts above the threshold: halves down first
    [InlineData(0.37, 1.0)]
    [InlineData(123.4, 0.5)]
    public void FindsAStepThresholdWithinThePrecision(double threshold, double initial)
    {
        var options = new GoodputSearchOptions { Target = 0.9, Precision = 0.05, InitialRate = initial };
        var probes = new List<GoodputProbe>();
        var result = GoodputSearch.Find(r => r <= threshold ? 0.97 : 0.4, options, probes.Add);
        Assert.InRange(result.Goodput, threshold - 0.05, threshold);
        Assert.NotNull(result.LowestFailingRate);
        Assert.InRange(result.LowestFailingRate!.Value - result.Goodput, 0, 0.05);
        Assert.Equal(probes, result.Probes);
        Assert.All(result.Probes, p => Assert.Equal(p.Rate <= threshold, p.Passed));
    }

    [Fact]
    public void FindsWhereASmoothAttainmentCurveCrossesTheTarget()
    {
        // Attainment falls linearly: 1 at rate 0, 0.9 at rate 10.
        var result = GoodputSearch.Find(r => 1 - r / 100, new GoodputSearchOptions { Target = 0.9, Precision = 0.01, InitialRate = 2 });
        Assert.InRange(result.Goodput, 9.99, 10.0);
    }

    [Fact]
    public void UnreachableTargetGivesZeroAndUnboundedGivesTheMaximum()
    {
        var never = GoodputSearch.Find(_ => 0.5, new GoodputSearchOptions { InitialRate = 1, MinRate = 0.01 });
        Assert.Equal(0, never.Goodput);
        Assert.All(never.Probes, p => Assert.False(p.Passed));
        Assert.True(never.Probes[^1].Rate >= 0.01);

        var always = GoodputSearch.Find(_ => 1.0, new GoodputSearchOptions { InitialRate = 1, MaxRate = 64 });
        Assert.Equal(64, always.Goodput);
        Assert.Null(always.LowestFailingRate);
        Assert.Equal([1.0, 2, 4, 8, 16, 32, 64], always.Probes.Select(p => p.Rate));
    }

    [Fact]
    public void RefusesBadOptions()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => GoodputSearch.Find(_ => 1, new GoodputSearchOptions { Target = 1.5 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => GoodputSearch.Find(_ => 1, new GoodputSearchOptions { Precision = 0 }));
    }
}
