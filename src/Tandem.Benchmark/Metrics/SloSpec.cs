namespace Tandem.Benchmark.Metrics;

/// <summary>The latency targets a request must meet to count toward attainment; infinity = no target on that metric.</summary>
public sealed record SloSpec
{
    public SloSpec(double ttftSeconds, double tpotSeconds)
    {
        if (!(ttftSeconds > 0) || !(tpotSeconds > 0)) throw new ArgumentOutOfRangeException(nameof(ttftSeconds), "SLOs must be positive seconds");
        TtftSeconds = ttftSeconds;
        TpotSeconds = tpotSeconds;
    }

    public double TtftSeconds { get; }
    public double TpotSeconds { get; }

    public static SloSpec None { get; } = new(double.PositiveInfinity, double.PositiveInfinity);

    /// <summary>Both targets multiplied by <paramref name="factor"/> (DistServe's "SLO scale" axis).</summary>
    public SloSpec Scaled(double factor) => new(TtftSeconds * factor, TpotSeconds * factor);
}
