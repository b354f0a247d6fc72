using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark.Arrivals;

/// <summary>Gamma(shape, 1) draws from a seeded <see cref="Random"/>: Marsaglia and Tsang's method (2000), with the usual boost for shape below 1.</summary>
public static class GammaSampler
{
    public static double Sample(Random rng, double shape)
    {
        if (!(shape > 0)) throw new ArgumentOutOfRangeException(nameof(shape), $"gamma shape must be positive, got {shape}");
        if (shape == 1.0) return -Math.Log(1.0 - rng.NextDouble()); // exponential, exactly
        if (shape < 1.0)
        {
            // Gamma(k) = Gamma(k + 1) * U^(1/k).
            double u = 1.0 - rng.NextDouble();
            return Sample(rng, shape + 1.0) * Math.Pow(u, 1.0 / shape);
        }
        double d = shape - 1.0 / 3.0;
        double c = 1.0 / Math.Sqrt(9.0 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = Gaussian.Sample(rng);
                v = 1.0 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = 1.0 - rng.NextDouble();
            if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
            if (Math.Log(u) < 0.5 * x * x + d * (1.0 - v + Math.Log(v))) return d * v;
        }
    }
}
