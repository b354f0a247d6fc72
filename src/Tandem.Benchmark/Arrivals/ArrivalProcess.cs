using System.Globalization;
using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark.Arrivals;

/// <summary>
/// When requests arrive: inter-arrival gaps drawn from a gamma distribution with mean 1/<see cref="Rate"/> and
/// coefficient of variation <see cref="Cv"/>. CV 1 is the exponential (Poisson arrivals); CV above 1 is burstier,
/// below 1 smoother, CV 0 evenly spaced. An infinite rate sends everything at once.
/// </summary>
public sealed record ArrivalProcess
{
    public ArrivalProcess(double rate, double cv = 1.0)
    {
        if (!(rate > 0)) throw new ArgumentOutOfRangeException(nameof(rate), $"a request rate must be positive (or inf), got {rate}");
        if (!(cv >= 0) || double.IsInfinity(cv)) throw new ArgumentOutOfRangeException(nameof(cv), $"a coefficient of variation must be finite and 0 or more, got {cv}");
        Rate = rate;
        Cv = cv;
    }

    /// <summary>Requests per second; <see cref="double.PositiveInfinity"/> = all at time 0.</summary>
    public double Rate { get; }
    public double Cv { get; }

    public static ArrivalProcess Poisson(double rate) => new(rate, 1.0);
    public static ArrivalProcess Gamma(double rate, double cv) => new(rate, cv);

    /// <summary>vLLM's <c>--burstiness</c> is the gamma shape k; the CV is 1/sqrt(k).</summary>
    public static double CvFromBurstiness(double burstiness) =>
        burstiness > 0 ? 1.0 / Math.Sqrt(burstiness) : throw new ArgumentOutOfRangeException(nameof(burstiness), $"burstiness must be positive, got {burstiness}");

    public string Describe() => double.IsPositiveInfinity(Rate)
        ? "all at once"
        : Cv == 1.0 ? string.Create(CultureInfo.InvariantCulture, $"Poisson {Rate:G4}/s")
        : Cv == 0.0 ? string.Create(CultureInfo.InvariantCulture, $"uniform {Rate:G4}/s")
        : string.Create(CultureInfo.InvariantCulture, $"gamma {Rate:G4}/s cv {Cv:G3}");

    /// <summary>
    /// Arrival times in seconds from the start, the first at 0. The gaps are drawn at unit rate and divided by the
    /// rate, so one seed gives the same pattern at every rate, only stretched: a rate sweep or goodput search then
    /// compares rates, not random draws.
    /// </summary>
    public double[] ArrivalTimes(int count, int seed)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        var times = new double[count];
        if (double.IsPositiveInfinity(Rate) || count == 0) return times;
        var gaps = UnitGaps(count - 1, seed);
        double t = 0;
        for (int i = 1; i < count; i++)
        {
            t += gaps[i - 1] / Rate;
            times[i] = t;
        }
        return times;
    }

    /// <summary>Inter-arrival gaps with mean 1 and this process's CV.</summary>
    public double[] UnitGaps(int count, int seed)
    {
        var rng = new Random(seed);
        var gaps = new double[count];
        if (Cv == 0)
        {
            Array.Fill(gaps, 1.0);
            return gaps;
        }
        // Gamma with shape k = 1/cv^2 and scale 1/k has mean 1 and CV cv.
        double shape = 1.0 / (Cv * Cv);
        for (int i = 0; i < gaps.Length; i++)
            gaps[i] = GammaSampler.Sample(rng, shape) / shape;
        return gaps;
    }
}
