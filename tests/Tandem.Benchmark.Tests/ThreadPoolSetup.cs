using System.Runtime.CompilerServices;

namespace Tandem.Benchmark.Tests;

internal static class ThreadPoolSetup
{
    /// <summary>
    /// The test host blocks pool threads in places (sync-over-async in the command line, xunit's own runners); on a
    /// 2-core machine the pool then adds a thread only every half second, which would show up as latency in the
    /// timing-dependent tests. Enough threads up front keep the fake server and the client responsive.
    /// </summary>
    [ModuleInitializer]
    internal static void Init() => ThreadPool.SetMinThreads(Math.Max(64, Environment.ProcessorCount), Math.Max(64, Environment.ProcessorCount));
}
