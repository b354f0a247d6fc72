using System.Globalization;
using System.Text.Json;

namespace Tandem.Planning.Profiles;

/// <summary>
/// DistServe's published A100-80GB profiles (<c>profiler-a100-80g.distserve.json</c> from simdistserve): per model and
/// tensor-parallel degree, prefill <c>[a, b, c]</c> and decode in two pieces, <c>decoding_smallbs</c> below
/// <c>decoding_large_small_bs_threshold</c> requests and <c>decoding_largebs</c> from it on, all in milliseconds.
/// A <c>max_num_tokens.csv</c> next to it (model, tp, pp, max_num_tokens) gives each instance's KV capacity.
/// </summary>
public static class DistServeProfiles
{
    // The KV size per token follows from the OPT shapes (fp16, K and V, every layer): 2 · layers · hidden · 2 bytes.
    private static readonly Dictionary<string, (int Layers, int Hidden)> OptShapes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["facebook/opt-1.3b"] = (24, 2048),
        ["facebook/opt-2.7b"] = (32, 2560),
        ["facebook/opt-6.7b"] = (32, 4096),
        ["facebook/opt-13b"] = (40, 5120),
        ["facebook/opt-30b"] = (48, 7168),
        ["facebook/opt-66b"] = (64, 9216),
        ["facebook/opt-175b"] = (96, 12288),
    };

    /// <param name="modelName">Model to take (e.g. <c>facebook/opt-13b</c> or <c>opt-13b</c>); null when the file holds one.</param>
    public static LatencyProfile Load(string path, string? modelName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var models = doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        string model = Resolve(path, models, modelName);
        var configs = new List<ConfigLatency>();
        foreach (var tp in doc.RootElement.GetProperty(model).EnumerateObject())
        {
            var e = tp.Value;
            int threshold = e.GetProperty("decoding_large_small_bs_threshold").GetInt32();
            configs.Add(new ConfigLatency
            {
                Tp = int.Parse(tp.Name, CultureInfo.InvariantCulture),
                Prefill = Seconds(e.GetProperty("prefill")),
                // simdistserve uses the small-batch piece for batch < threshold.
                Decode = [new DecodePiece(threshold - 1, Seconds(e.GetProperty("decoding_smallbs"))), new DecodePiece(null, Seconds(e.GetProperty("decoding_largebs")))],
            });
        }
        configs.Sort((a, b) => a.Tp.CompareTo(b.Tp));
        if (!OptShapes.TryGetValue(model, out var shape))
            throw new ArgumentException($"{path}: no model shape known for {model} (needed for its KV size per token)");
        return new LatencyProfile
        {
            Model = model,
            Device = "NVIDIA A100-80GB (DistServe's published profile, " + Path.GetFileName(path) + ")",
            KvBytesPerToken = 2L * shape.Layers * shape.Hidden * 2,
            Layers = shape.Layers,
            Configs = configs,
            KvCapacity = ReadCapacity(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "max_num_tokens.csv"), model),
        };
    }

    private static string Resolve(string path, List<string> models, string? name)
    {
        if (name is null)
            return models.Count == 1 ? models[0]
                : throw new ArgumentException($"{path} holds several models ({string.Join(", ", models)}): choose one with --model-name");
        return models.FirstOrDefault(m => string.Equals(m, name, StringComparison.OrdinalIgnoreCase) || m.EndsWith("/" + name, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"{path} has no profile of {name} (it has {string.Join(", ", models)})");
    }

    private static StepCoefficients Seconds(JsonElement ms) =>
        new(ms[0].GetDouble() / 1000, ms[1].GetDouble() / 1000, ms[2].GetDouble() / 1000);

    private static IReadOnlyList<KvCapacity> ReadCapacity(string csv, string model)
    {
        if (!File.Exists(csv)) return [];
        var result = new List<KvCapacity>();
        foreach (var line in File.ReadLines(csv).Skip(1))
        {
            var f = line.Split(',');
            if (f.Length < 4 || !string.Equals(f[0].Trim(), model, StringComparison.OrdinalIgnoreCase)) continue;
            result.Add(new KvCapacity(int.Parse(f[1], CultureInfo.InvariantCulture), int.Parse(f[2], CultureInfo.InvariantCulture),
                long.Parse(f[3], CultureInfo.InvariantCulture)));
        }
        return result;
    }
}
