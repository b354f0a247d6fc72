using Tandem.Benchmark.Arrivals;

namespace Tandem.Benchmark.Tests;

public class ArrivalProcessTests
{
    private static (double Mean, double Cv) GapStats(double[] times)
    {
        var gaps = times.Zip(times.Skip(1), (a, b) => b - a).ToArray();
        double mean = gaps.Average();
        double sd = Math.Sqrt(gaps.Sum(g => (g - mean) * (g - mean)) / (gaps.Length - 1));
        return (mean, sd / mean);
    }

    [Fact]
    public void PoissonGapsHaveMeanOneOverRateAndCvOne()
    {
        var times = ArrivalProcess.Poisson(4.0).ArrivalTimes(601, seed: 7);
        var (mean, cv) = GapStats(times);
        // 600 exponential gaps: the sample mean's standard error is 4%, the CV's about 4%; bounds are ~3 standard errors.
        Assert.InRange(mean, 0.25 * 0.88, 0.25 * 1.12);
        Assert.InRange(cv, 0.88, 1.12);
        Assert.Equal(0.0, times[0]);
        Assert.True(times.Zip(times.Skip(1)).All(p => p.Second >= p.First));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(2.0)]
    public void GammaGapsHaveTheRequestedCv(double cv)
    {
        var times = ArrivalProcess.Gamma(10.0, cv).ArrivalTimes(801, seed: 3);
        var (mean, measured) = GapStats(times);
        Assert.InRange(mean, 0.1 * 0.85, 0.1 * 1.15);
        Assert.InRange(measured, cv * 0.85, cv * 1.15);
    }

    [Fact]
    public void GammaSamplerMatchesShapeForSmallAndLargeShapes()
    {
        foreach (double shape in (double[])[0.3, 1.0, 2.5, 9.0])
        {
            var rng = new Random(11);
            var xs = Enumerable.Range(0, 2000).Select(_ => GammaSampler.Sample(rng, shape)).ToArray();
            double mean = xs.Average();
            double variance = xs.Sum(x => (x - mean) * (x - mean)) / (xs.Length - 1);
            // Gamma(k, 1): mean k, variance k.
            Assert.InRange(mean, shape * 0.9, shape * 1.1);
            Assert.InRange(variance, shape * 0.8, shape * 1.2);
            Assert.All(xs, x => Assert.True(x > 0));
        }
    }

    [Fact]
    public void CvZeroIsEvenlySpacedAndInfiniteRateIsAllAtOnce()
    {
        var even = ArrivalProcess.Gamma(5.0, 0).ArrivalTimes(5, seed: 1);
        Assert.Equal([0.0, 0.2, 0.4, 0.6, 0.8], even.Select(t => Math.Round(t, 12)));
        Assert.All(ArrivalProcess.Poisson(double.PositiveInfinity).ArrivalTimes(10, seed: 1), t => Assert.Equal(0.0, t));
    }

    [Fact]
    public void SameSeedSamePatternStretchedByRate()
    {
        var slow = ArrivalProcess.Gamma(1.0, 1.5).ArrivalTimes(50, seed: 42);
        var again = ArrivalProcess.Gamma(1.0, 1.5).ArrivalTimes(50, seed: 42);
        var fast = ArrivalProcess.Gamma(4.0, 1.5).ArrivalTimes(50, seed: 42);
        var other = ArrivalProcess.Gamma(1.0, 1.5).ArrivalTimes(50, seed: 43);
        Assert.Equal(slow, again);
        for (int i = 0; i < slow.Length; i++) Assert.Equal(slow[i] / 4, fast[i], 12);
        Assert.NotEqual(slow, other);
    }

    [Fact]
    public void BurstinessIsTheGammaShape()
    {
        Assert.Equal(1.0, ArrivalProcess.CvFromBurstiness(1.0));
        Assert.Equal(0.5, ArrivalProcess.CvFromBurstiness(4.0), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ArrivalProcess(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ArrivalProcess(1, -1));
    }
}
