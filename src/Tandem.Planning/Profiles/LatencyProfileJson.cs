using System.Text.Json;
using Tandem.Benchmark.Reports;

namespace Tandem.Planning.Profiles;

/// <summary>Reads and writes <see cref="LatencyProfile"/> files (snake_case JSON, the format the bench reports use).</summary>
public static class LatencyProfileJson
{
    public static void Write(string path, LatencyProfile profile)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
        using var stream = File.Create(path);
        JsonSerializer.Serialize(stream, profile, BenchReportJson.Options);
    }

    public static string Serialize(LatencyProfile profile) => JsonSerializer.Serialize(profile, BenchReportJson.Options);

    /// <summary>Loads a profile written by <c>tandem profile</c>, or DistServe's <c>profiler-*.json</c> (see <see cref="DistServeProfiles"/>).</summary>
    public static LatencyProfile Read(string path, string? modelName = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"profile not found: {path}", path);
        string text = File.ReadAllText(path);
        LatencyProfile? profile;
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (!doc.RootElement.TryGetProperty("schema", out _)) return DistServeProfiles.Load(path, modelName);
            profile = JsonSerializer.Deserialize<LatencyProfile>(text, BenchReportJson.Options);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{path}: not a latency profile ({e.Message})");
        }
        if (profile is null || profile.Schema != LatencyProfile.CurrentSchema)
            throw new ArgumentException($"{path}: not a latency profile (schema '{profile?.Schema}', expected '{LatencyProfile.CurrentSchema}')");
        if (modelName is not null && !string.Equals(modelName, profile.Model, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"{path} profiles {profile.Model}, not {modelName}");
        Validate(profile, path);
        return profile;
    }

    private static void Validate(LatencyProfile p, string path)
    {
        if (p.Configs.Count == 0) throw new ArgumentException($"{path}: the profile has no configurations");
        if (p.KvBytesPerToken <= 0) throw new ArgumentException($"{path}: kv_bytes_per_token must be positive");
        foreach (var c in p.Configs)
        {
            if (c.Tp < 1) throw new ArgumentException($"{path}: tp must be at least 1, got {c.Tp}");
            if (c.Decode.Count == 0) throw new ArgumentException($"{path}: tp {c.Tp} has no decode model");
        }
    }
}
