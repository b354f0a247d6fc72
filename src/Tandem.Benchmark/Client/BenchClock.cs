using System.Diagnostics;

namespace Tandem.Benchmark.Client;

/// <summary>Seconds since a run started, on the monotonic high-resolution clock: every time in a record is on it.</summary>
public sealed class BenchClock
{
    private readonly long _start = Stopwatch.GetTimestamp();

    public double Now => Stopwatch.GetElapsedTime(_start).TotalSeconds;
}
