using System.Text.Json;

namespace Tandem.Bench;

/// <summary>
/// The raw record of one <c>Tandem.Bench batch</c> run (<c>--json FILE</c>): decode tok/s over all sequences for each
/// batch size, with the load average when that batch size was timed, the settings and the machine (docs/performance/);
/// <paramref name="Weights"/>: where Tandem's weights were (mapped, huge-pages; null in reports written before it was recorded).
/// </summary>
public sealed record BatchRunReport(
    string Utc,
    string CpuModel,
    string CpuFlags,
    string DotnetIsa,
    string? BundleLibrary,
    int Threads,
    int ContextTokens,
    int Steps,
    int Repetitions,
    string Kv,
    IReadOnlyList<BatchRunReport.Entry> Results,
    string? Weights = null)
{
    /// <summary>One batch size on one file; <paramref name="BundleTokPerSec"/> is null with <c>--no-bundle</c>.</summary>
    public sealed record Entry(string File, int Batch, double TandemTokPerSec, double? BundleTokPerSec, string LoadAverage);

    public void Write(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, EngineRunReport.Json));
}
