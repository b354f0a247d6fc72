using Tandem.Benchmark.Goodput;
using Tandem.Benchmark.Reports;

namespace Tandem.Benchmark;

/// <summary>Hears what a <see cref="ServeBenchmark"/> is doing, for progress displays and logs. All members are optional.</summary>
public interface IBenchObserver
{
    void RunStarting(double rate, int requests) { }
    void Progress(double rate, RunProgress progress) { }
    void RunFinished(RunReport run) { }
    void Probed(GoodputProbe probe, double target) { }
}
