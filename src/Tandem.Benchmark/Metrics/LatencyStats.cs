namespace Tandem.Benchmark.Metrics;

/// <summary>Summary of a latency sample in seconds; percentiles interpolate linearly between order statistics (numpy's default, as vLLM reports).</summary>
public sealed record LatencyStats(int Count, double Mean, double Median, double P90, double P99, double Min, double Max)
{
    /// <summary>Null for an empty sample.</summary>
    public static LatencyStats? From(IEnumerable<double> values)
    {
        var sorted = values.ToArray();
        if (sorted.Length == 0) return null;
        Array.Sort(sorted);
        return new LatencyStats(sorted.Length, sorted.Average(), Percentile(sorted, 50), Percentile(sorted, 90), Percentile(sorted, 99), sorted[0], sorted[^1]);
    }

    /// <summary>The p-th percentile of an ascending array.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0) throw new ArgumentException("empty sample");
        double rank = p / 100.0 * (sorted.Count - 1);
        int lo = (int)Math.Floor(rank);
        int hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (rank - lo) * (sorted[hi] - sorted[lo]);
    }
}
