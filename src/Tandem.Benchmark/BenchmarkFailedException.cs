namespace Tandem.Benchmark;

/// <summary>The benchmark cannot go on (e.g. the warm-up request failed); the message says why, for users.</summary>
public sealed class BenchmarkFailedException(string message) : Exception(message);
