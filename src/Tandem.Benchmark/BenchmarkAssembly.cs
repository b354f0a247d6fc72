namespace Tandem.Benchmark;

/// <summary>Placeholder so the project builds before the benchmark client lands.</summary>
internal static class BenchmarkAssembly;
