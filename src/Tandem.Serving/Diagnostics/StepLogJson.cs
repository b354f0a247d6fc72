using System.Text.Json;
using Tandem.Engine.KvCache;

namespace Tandem.Serving.Diagnostics;

/// <summary>An instance as a step log file describes it: what the bench needs to rebuild its steps.</summary>
public sealed record StepLogInstance(string Instance, string Role, IReadOnlyList<int> Cores, int Threads, KvElementType KvType, int BlockSize,
    StepLogModel? Model = null);

/// <summary>One line of a step log file: an instance, a step of one, or steps lost (the writer fell behind the ring).</summary>
public readonly record struct StepLogLine(string Type, StepLogInstance? Instance, string? InstanceName, StepRecord Step, long Lost);

/// <summary>
/// The step log file format (<c>tandem serve --step-log FILE</c>, read by <c>Tandem.Bench steps --replay FILE</c>): JSON
/// lines, each an object with a "type": "instance" first for each instance (its role, cores, threads, KV layout, model), then
/// "step" (one <see cref="StepRecord"/>, times in seconds, names in snake_case as vLLM's metrics), "lost" (records the
/// ring overwrote before they were written out) and, last, "process" (GC settings and totals, written by the server).
/// </summary>
public static class StepLogJson
{
    public static void WriteInstance(Utf8JsonWriter w, StepLog log)
    {
        w.WriteStartObject();
        w.WriteString("type", "instance");
        w.WriteString("instance", log.Instance);
        w.WriteString("role", log.Role);
        w.WriteStartArray("cores");
        foreach (int c in log.Cores) w.WriteNumberValue(c);
        w.WriteEndArray();
        w.WriteNumber("threads", log.Threads);
        w.WriteString("kv_type", log.KvType == KvElementType.F16 ? "f16" : "f32");
        w.WriteNumber("block_size", log.BlockSize);
        w.WriteNumber("capacity", log.Capacity);
        if (log.Model is { } model)
        {
            w.WriteString("model", model.File);
            w.WriteString("model_fingerprint", model.Fingerprint);
        }
        w.WriteEndObject();
    }

    public static void WriteStep(Utf8JsonWriter w, string instance, in StepRecord s)
    {
        w.WriteStartObject();
        w.WriteString("type", "step");
        w.WriteString("instance", instance);
        w.WriteNumber("index", s.Index);
        w.WriteString("kind", s.Kind);
        Seconds(w, "start", s.Start);
        Seconds(w, "gap", s.Gap);
        Seconds(w, "prepare", s.Prepare);
        Seconds(w, "forward_at", s.ForwardAt);
        Seconds(w, "forward", s.Forward);
        Seconds(w, "forward_cpu", s.ForwardCpu);
        Seconds(w, "forward_run_queue", s.ForwardRunQueue);
        Seconds(w, "execute", s.Execute);
        Seconds(w, "total", s.Total);
        w.WriteNumber("decode_seqs", s.DecodeSequences);
        w.WriteNumber("decode_ctx", s.DecodeContext);
        w.WriteNumber("prefill_chunks", s.PrefillChunks);
        w.WriteNumber("prefill_tokens", s.PrefillTokens);
        w.WriteNumber("prefill_ctx", s.PrefillContext);
        w.WriteNumber("cached_tokens", s.CachedTokens);
        w.WriteNumber("logit_rows", s.LogitRows);
        w.WriteNumber("preempted", s.Preempted);
        w.WriteNumber("pulled", s.Pulled);
        w.WriteNumber("to_prefill", s.ToPrefill);
        w.WriteNumber("alloc_bytes", s.AllocatedBytes);
        w.WriteNumber("gc0", s.Gen0Collections);
        w.WriteNumber("gc1", s.Gen1Collections);
        w.WriteNumber("gc2", s.Gen2Collections);
        Seconds(w, "gc_pause", s.GcPause);
        // [start, tokens, samples] per kept prompt chunk
        w.WriteStartArray("chunks");
        for (int i = 0; i < s.StoredChunks; i++)
        {
            var c = s.Chunk(i);
            w.WriteStartArray();
            w.WriteNumberValue(c.Start);
            w.WriteNumberValue(c.Tokens);
            w.WriteBooleanValue(c.SamplesToken);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    public static void WriteLost(Utf8JsonWriter w, string instance, long lost)
    {
        w.WriteStartObject();
        w.WriteString("type", "lost");
        w.WriteString("instance", instance);
        w.WriteNumber("count", lost);
        w.WriteEndObject();
    }

    // Microsecond resolution is all a step time carries; NaN (not measured) is null.
    private static void Seconds(Utf8JsonWriter w, string name, double seconds)
    {
        if (double.IsFinite(seconds)) w.WriteNumber(name, Math.Round(seconds, 7));
        else w.WriteNull(name);
    }

    /// <summary>Parses one line; throws <see cref="FormatException"/> saying what is wrong with it.</summary>
    public static StepLogLine Parse(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var o = doc.RootElement;
            string type = o.GetProperty("type").GetString() ?? throw new FormatException("\"type\" is null");
            string? name = o.TryGetProperty("instance", out var n) ? n.GetString() : null;
            switch (type)
            {
                case "instance":
                    var cores = o.GetProperty("cores").EnumerateArray().Select(c => c.GetInt32()).ToArray();
                    var kv = o.GetProperty("kv_type").GetString() switch
                    {
                        "f16" => KvElementType.F16,
                        "f32" => KvElementType.F32,
                        var other => throw new FormatException($"unknown kv_type {other}"),
                    };
                    // Logs written before the model was recorded have neither field.
                    var model = o.TryGetProperty("model_fingerprint", out var fp)
                        ? new StepLogModel(o.TryGetProperty("model", out var file) ? file.GetString() ?? "" : "", fp.GetString() ?? throw new FormatException("\"model_fingerprint\" is null"))
                        : null;
                    return new StepLogLine(type, new StepLogInstance(name!, o.GetProperty("role").GetString()!, cores,
                        o.GetProperty("threads").GetInt32(), kv, o.GetProperty("block_size").GetInt32(), model), name, default, 0);
                case "step":
                    return new StepLogLine(type, null, name, ParseStep(o), 0);
                case "lost":
                    return new StepLogLine(type, null, name, default, o.GetProperty("count").GetInt64());
                default:
                    return new StepLogLine(type, null, name, default, 0);
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException($"not a step log line ({e.Message}): {(line.Length > 120 ? line[..120] + "..." : line)}", e);
        }
    }

    private static StepRecord ParseStep(JsonElement o)
    {
        double Sec(string p) => o.GetProperty(p).ValueKind == JsonValueKind.Null ? double.NaN : o.GetProperty(p).GetDouble();
        int Int(string p) => o.GetProperty(p).GetInt32();
        long Long(string p) => o.GetProperty(p).GetInt64();
        var s = new StepRecord
        {
            Index = Long("index"),
            Start = Sec("start"),
            Gap = Sec("gap"),
            Prepare = Sec("prepare"),
            ForwardAt = Sec("forward_at"),
            Forward = Sec("forward"),
            ForwardCpu = Sec("forward_cpu"),
            ForwardRunQueue = Sec("forward_run_queue"),
            Execute = Sec("execute"),
            Total = Sec("total"),
            DecodeSequences = Int("decode_seqs"),
            DecodeContext = Long("decode_ctx"),
            CachedTokens = Int("cached_tokens"),
            LogitRows = Int("logit_rows"),
            Preempted = Int("preempted"),
            Pulled = Int("pulled"),
            ToPrefill = o.TryGetProperty("to_prefill", out var toPrefill) ? toPrefill.GetInt32() : 0, // not in logs before it was recorded
            AllocatedBytes = Long("alloc_bytes"),
            Gen0Collections = Int("gc0"),
            Gen1Collections = Int("gc1"),
            Gen2Collections = Int("gc2"),
            GcPause = Sec("gc_pause"),
        };
        foreach (var c in o.GetProperty("chunks").EnumerateArray())
            s.AddChunk(new StepChunk(c[0].GetInt32(), c[1].GetInt32(), c[2].GetBoolean()));
        // Chunks beyond those kept: their count and token sums come from the totals.
        int chunks = Int("prefill_chunks");
        if (chunks < s.PrefillChunks) throw new FormatException($"prefill_chunks {chunks} is less than the {s.PrefillChunks} chunks listed");
        s.PrefillContext = Long("prefill_ctx");
        s.PrefillTokens = Int("prefill_tokens");
        s.PrefillChunks = chunks;
        return s;
    }
}
