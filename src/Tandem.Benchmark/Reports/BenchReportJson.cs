using System.IO.Compression;
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

    /// <summary>Writes the report as indented JSON, gzipped when the path ends in ".gz" (a raw report holds every
    /// request's token times: megabytes, which gzip shrinks to about a seventh).</summary>
    public static void Write(string path, BenchReport report)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
        using var file = File.Create(path);
        using var stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
            ? new GZipStream(file, CompressionLevel.SmallestSize) : (Stream)file;
        JsonSerializer.Serialize(stream, report, Options);
    }

    /// <summary>Reads a report, plain or gzipped: gzip is told by its magic bytes, not the name, so a renamed or
    /// hand-compressed file reads too.</summary>
    public static BenchReport Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"report not found: {path}", path);
        using var file = File.OpenRead(path);
        using var stream = StartsWithGzipMagic(file) ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
        BenchReport? report;
        try
        {
            report = JsonSerializer.Deserialize<BenchReport>(stream, Options);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{path}: not a tandem bench report ({e.Message})");
        }
        catch (InvalidDataException e) // a damaged gzip stream
        {
            throw new ArgumentException($"{path}: not a tandem bench report (gzip: {e.Message})");
        }
        if (report is null || report.Schema != BenchReport.CurrentSchema)
            throw new ArgumentException($"{path}: not a tandem bench report (schema '{report?.Schema}', expected '{BenchReport.CurrentSchema}')");
        return report;
    }

    /// <summary>Whether the file starts with gzip's two magic bytes (1f 8b), which no JSON text can; leaves it at the start.</summary>
    private static bool StartsWithGzipMagic(FileStream file)
    {
        Span<byte> head = stackalloc byte[2];
        int read = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        file.Position = 0;
        return read == 2 && head[0] == 0x1f && head[1] == 0x8b;
    }
}
