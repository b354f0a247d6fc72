namespace Tandem.Benchmark.Workloads;

/// <summary>Standard normal draws from a seeded <see cref="Random"/> (Box–Muller), so workloads repeat exactly for a seed.</summary>
internal static class Gaussian
{
    public static double Sample(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(); // (0, 1]: keeps the logarithm finite
        double u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
