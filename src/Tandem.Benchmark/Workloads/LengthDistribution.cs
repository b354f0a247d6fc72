namespace Tandem.Benchmark.Workloads;

/// <summary>
/// A distribution of token lengths: log-normal with a given mean and coefficient of variation, clipped to
/// [<see cref="Min"/>, <see cref="Max"/>]. Real prompt and answer lengths (ShareGPT, HumanEval, LongBench) are
/// right-skewed and positive, which a log-normal captures with two intuitive numbers; CV 0 gives a fixed length.
/// </summary>
public sealed record LengthDistribution
{
    public LengthDistribution(double mean, double cv, int min = 1, int max = int.MaxValue)
    {
        if (!(mean >= 1)) throw new ArgumentOutOfRangeException(nameof(mean), $"a mean length must be at least 1, got {mean}");
        if (!(cv >= 0)) throw new ArgumentOutOfRangeException(nameof(cv), $"a coefficient of variation must be 0 or more, got {cv}");
        if (min < 1 || max < min) throw new ArgumentOutOfRangeException(nameof(min), $"length bounds must satisfy 1 <= min <= max, got [{min}, {max}]");
        Mean = mean;
        Cv = cv;
        Min = min;
        Max = max;
    }

    public double Mean { get; }
    public double Cv { get; }
    public int Min { get; }
    public int Max { get; }

    public static LengthDistribution Fixed(int length) => new(length, 0, Math.Max(1, length), Math.Max(1, length));

    public int Sample(Random rng)
    {
        double value = Mean;
        if (Cv > 0)
        {
            // Log-normal with E[X] = Mean and CV = Cv: sigma^2 = ln(1 + cv^2), mu = ln(mean) - sigma^2 / 2.
            double sigma2 = Math.Log(1 + Cv * Cv);
            double mu = Math.Log(Mean) - sigma2 / 2;
            value = Math.Exp(mu + Math.Sqrt(sigma2) * Gaussian.Sample(rng));
        }
        return (int)Math.Clamp(Math.Round(value), Min, Max);
    }
}
