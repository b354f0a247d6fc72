using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tandem.Benchmark.Reports;

/// <summary>Reads and writes <see cref="BenchReport"/> files.</summary>
public static class BenchReportJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        // An unreachable SLO or an all-at-once rate is infinity; JSON has no number for it.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static void Write(string path, BenchReport report)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
        using var stream = File.Create(path);
        JsonSerializer.Serialize(stream, report, Options);
    }

    public static BenchReport Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"report not found: {path}", path);
        using var stream = File.OpenRead(path);
        BenchReport? report;
        try
        {
            report = JsonSerializer.Deserialize<BenchReport>(stream, Options);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{path}: not a tandem bench report ({e.Message})");
        }
        if (report is null || report.Schema != BenchReport.CurrentSchema)
            throw new ArgumentException($"{path}: not a tandem bench report (schema '{report?.Schema}', expected '{BenchReport.CurrentSchema}')");
        return report;
    }
}
