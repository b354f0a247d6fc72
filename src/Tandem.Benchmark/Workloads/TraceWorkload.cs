using System.Text.Json;

namespace Tandem.Benchmark.Workloads;

/// <summary>
/// Request traces in JSON Lines: one row per request, <c>{"input_len": N, "output_len": M, "arrival_time": T}</c>,
/// with T in seconds (<c>"timestamp"</c> is accepted for it; both optional, but all rows or none). Prompts are made to
/// the row's length (random token ids, exact text with a tokenizer, or common words), answers forced to
/// <c>output_len</c>; rows keep their file order, since that is their arrival order.
/// </summary>
public static class TraceWorkload
{
    private static readonly string[] ArrivalNames = ["arrival_time", "timestamp"];

    /// <summary>
    /// Whether a file given as <c>--dataset</c> is a trace: its first non-blank line is a JSON object with
    /// <c>input_len</c> and no <c>prompt</c>.
    /// </summary>
    public static bool IsTrace(string path)
    {
        if (!File.Exists(path)) return false;
        using var reader = new StreamReader(path);
        while (reader.ReadLine() is { } line)
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                return doc.RootElement.ValueKind == JsonValueKind.Object
                    && doc.RootElement.TryGetProperty("input_len", out _) && !doc.RootElement.TryGetProperty("prompt", out _);
            }
            catch (JsonException)
            {
                return false;
            }
        }
        return false;
    }

    /// <summary>Reads every row; a malformed one throws <see cref="ArgumentException"/> naming the file and line.</summary>
    public static RequestTrace Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"trace file not found: {path}", path);
        var entries = new List<TraceEntry>();
        using var reader = new StreamReader(path);
        int lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException e) { throw new ArgumentException($"{path}:{lineNumber}: not JSON ({e.Message})"); }
            using (doc) entries.Add(Entry(path, lineNumber, doc.RootElement));
        }
        return new RequestTrace(path, entries);
    }

    /// <summary>
    /// The first <paramref name="count"/> rows of <paramref name="trace"/> as requests (all rows when it is shorter;
    /// a trace is not cycled, its times would repeat). <paramref name="fixedOutputLength"/> overrides every answer length.
    /// </summary>
    public static IReadOnlyList<BenchRequest> Requests(RequestTrace trace, int count, int seed, int? maxModelLength = null, int? fixedOutputLength = null,
        PromptFormat format = PromptFormat.Text, int tokenIdMin = PromptBuilder.DefaultTokenIdMin, int tokenIdMax = PromptBuilder.DefaultTokenIdMax,
        ExactTextPromptBuilder? exactText = null)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), $"--num-prompts must be at least 1, got {count}");
        var rng = new Random(seed);
        int n = Math.Min(count, trace.Entries.Count);
        var requests = new BenchRequest[n];
        for (int i = 0; i < n; i++)
        {
            var e = trace.Entries[i];
            int output = fixedOutputLength ?? e.OutputLength;
            if (maxModelLength is int cap && e.InputLength + output > cap)
                throw new ArgumentException($"{trace.Path}:{e.Line}: input_len {e.InputLength} + output_len {output} exceeds --max-model-len {cap}");
            requests[i] = WorkloadGenerator.Request(i, rng, e.InputLength, output, format, tokenIdMin, tokenIdMax, exactText);
        }
        return requests;
    }

    private static TraceEntry Entry(string path, int line, JsonElement row)
    {
        string where = $"{path}:{line}";
        if (row.ValueKind != JsonValueKind.Object)
            throw new ArgumentException($"{where}: expected {{\"input_len\": N, \"output_len\": M, \"arrival_time\": T}}");
        int input = Length(row, "input_len", where);
        int output = Length(row, "output_len", where);
        double? arrival = null;
        foreach (string name in ArrivalNames)
        {
            if (!row.TryGetProperty(name, out var t) || t.ValueKind == JsonValueKind.Null) continue;
            if (t.ValueKind != JsonValueKind.Number || !t.TryGetDouble(out double seconds) || !double.IsFinite(seconds))
                throw new ArgumentException($"{where}: \"{name}\" must be a number of seconds, got {t.GetRawText()}");
            if (arrival is not null) throw new ArgumentException($"{where}: give \"arrival_time\" or \"timestamp\", not both");
            arrival = seconds;
        }
        return new TraceEntry(line, input, output, arrival);
    }

    private static int Length(JsonElement row, string name, string where)
    {
        if (!row.TryGetProperty(name, out var v))
            throw new ArgumentException($"{where}: missing \"{name}\" (expected {{\"input_len\": N, \"output_len\": M, \"arrival_time\": T}})");
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n) || n < 1)
            throw new ArgumentException($"{where}: \"{name}\" must be a positive integer, got {v.GetRawText()}");
        return n;
    }
}
