using System.Text.Json;

namespace Tandem.Bench;

/// <summary>
/// The raw record of one <c>Tandem.Bench engine</c> run (<c>--json FILE</c>): every repetition's rate for each
/// engine and file, with the settings and the machine state it ran under, so that a published figure can be
/// traced back to its samples (docs/results/). <see cref="AnchorReport"/> reads these back.
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
    IReadOnlyList<EngineRunReport.Entry> Results)
{
    /// <summary>One engine ("tandem" or "llamasharp", the LLamaSharp bundle) on one file.</summary>
    public sealed record Entry(string File, string Engine, double[] PrefillTokPerSec, double[] DecodeTokPerSec);

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
