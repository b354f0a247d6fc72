using System.Text.Json;
using System.Text.Json.Serialization;
using Tandem.Benchmark.Reports;
using Tandem.Serving;

namespace Tandem.Planning.Search;

/// <summary>
/// <c>plan.json</c>, written by <c>tandem plan --out</c> and started by <c>tandem serve --plan</c> (format in
/// src/Tandem.Planning/README.md): what was planned for, the chosen placement and the runners-up. snake_case,
/// seconds, requests per second, as the bench reports.
/// </summary>
public sealed record PlanFile
{
    public const string CurrentSchema = "tandem.plan/1";

    public string Schema { get; init; } = CurrentSchema;
    public required string Model { get; init; }
    /// <summary>The profile file planned with.</summary>
    public required string Profile { get; init; }
    /// <summary>"cpu" (a profile of this engine: devices are cores, <c>tandem serve --plan</c> can start it) or "gpu" (DistServe's profiles: simulated only).</summary>
    public required string DeviceKind { get; init; }
    public required string Workload { get; init; }
    public required double SloTtftSeconds { get; init; }
    public required double SloTpotSeconds { get; init; }
    public required double Attainment { get; init; }
    /// <summary>The rate planned for; null: the most the cluster can give.</summary>
    public double? TargetRate { get; init; }
    public required int Nodes { get; init; }
    public required int DevicesPerNode { get; init; }
    public required double IntraNodeBandwidth { get; init; }
    public required double InterNodeBandwidth { get; init; }
    /// <summary>Scheduler settings the placements were simulated with (and serve runs with).</summary>
    public required int PrefillTokenTarget { get; init; }
    public required int ChunkBudget { get; init; }
    /// <summary>
    /// KV bytes per instance the CPU placements were simulated with (plan's --kv-memory), which <c>serve --plan</c>
    /// applies unless --kv-memory is given; null for GPU profiles (they carry their own capacities) and older plans.
    /// </summary>
    public long? KvBytesPerInstance { get; init; }
    public required int RequestsPerProbe { get; init; }
    public required int Seed { get; init; }
    public required double PlanningSeconds { get; init; }
    public required int GoodputSearches { get; init; }
    /// <summary>The winner; null when no placement meets the SLOs at any rate.</summary>
    public PlannedPlacement? Chosen { get; init; }
    /// <summary>The next best, in rank order.</summary>
    public required IReadOnlyList<PlannedPlacement> RunnersUp { get; init; }
}

/// <summary>Reads and writes <see cref="PlanFile"/>.</summary>
public static class PlanFileJson
{
    public static void Write(string path, PlanFile plan)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } dir) Directory.CreateDirectory(dir);
        File.WriteAllText(path, Serialize(plan));
    }

    /// <summary>The bench reports' conventions, with modes and affinities as words ("disaggregated", "low").</summary>
    public static JsonSerializerOptions Options { get; } = new(BenchReportJson.Options)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static string Serialize(PlanFile plan) => JsonSerializer.Serialize(plan, Options);

    public static PlanFile Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"plan not found: {path}", path);
        PlanFile? plan;
        try
        {
            plan = JsonSerializer.Deserialize<PlanFile>(File.ReadAllText(path), Options);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{path}: not a tandem plan ({e.Message})");
        }
        if (plan is null || plan.Schema != PlanFile.CurrentSchema)
            throw new ArgumentException($"{path}: not a tandem plan (schema '{plan?.Schema}', expected '{PlanFile.CurrentSchema}')");
        if (plan.Chosen is { } c && (c.Mode == ServingMode.Disaggregated ? c.Prefill is null || c.Decode is null : c.Instances is null))
            throw new ArgumentException($"{path}: the chosen {c.Mode.ToString().ToLowerInvariant()} placement lacks its instances");
        return plan;
    }
}
