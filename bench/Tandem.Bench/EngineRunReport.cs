using System.Text.Json;

namespace Tandem.Bench;

/// <summary>
/// The raw record of one <c>Tandem.Bench engine</c> run (<c>--json FILE</c>): every repetition's rate for each
/// engine and file, with the settings and the machine state it ran under, so that a published figure can be
/// traced back to its samples (docs/performance/). <see cref="AnchorReport"/> reads these back.
/// <see cref="ReadBandwidthBytesPerSec"/> is the machine's read bandwidth with the run's thread count, measured at its
/// start (<see cref="ReadBandwidth"/>); null in reports written before it was.
/// </summary>
public sealed record EngineRunReport(
    string Utc,
    string CpuModel,
    string CpuFlags,
    string DotnetIsa,
    string? BundleLibrary,
    string LoadAverageStart,
    string LoadAverageEnd,
    int Threads,
    int PromptTokens,
    int DecodeTokens,
    bool DecodeFromEmpty,
    string Kv,
    int Repetitions,
    IReadOnlyList<EngineRunReport.Entry> Results,
    double? ReadBandwidthBytesPerSec = null,
    string? Weights = null)
{
    /// <summary>
    /// One engine ("tandem" or "llamasharp", the LLamaSharp bundle) on one file. <paramref name="WeightBytesPerToken"/>:
    /// what a decode step reads of the file's weights (<see cref="DecodeWeightBytes"/>); <paramref name="PeakRssBytes"/>:
    /// the process's peak resident memory while this engine ran on this file (<see cref="PeakResidentMemory"/>; Tandem
    /// only). Both null in reports written before they were recorded.
    /// </summary>
    public sealed record Entry(string File, string Engine, double[] PrefillTokPerSec, double[] DecodeTokPerSec,
        long? WeightBytesPerToken = null, long? PeakRssBytes = null);

    public const string TandemEngine = "tandem";
    public const string BundleEngine = "llamasharp";

    /// <summary>The bench's JSON settings (snake_case, indented), shared by its raw records.</summary>
    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    public void Write(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    public static EngineRunReport Read(string path) =>
        JsonSerializer.Deserialize<EngineRunReport>(File.ReadAllText(path), Json)
        ?? throw new InvalidDataException($"{path}: empty report");
}
