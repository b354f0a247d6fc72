namespace Tandem.Benchmark.Metrics;

/// <summary>Where TTFT and E2E are measured from.</summary>
public enum LatencyOrigin
{
    /// <summary>The arrival time the arrival process gave (the mission's definition): time held back by --max-concurrency counts as queueing.</summary>
    Arrival,
    /// <summary>The moment the request was sent (vLLM's bench serve measures this way).</summary>
    Send,
}
