namespace Tandem.Benchmark.Tests;

/// <summary>
/// Tests whose outcome depends on a fake server's latencies run alone, after the parallel ones, so that rendering
/// plots or other tests' servers on the same cores do not shift their timings.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "serial: latency-dependent";
}
