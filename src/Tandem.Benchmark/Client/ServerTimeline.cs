using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tandem.Benchmark.Client;

/// <summary>
/// A Tandem server's <c>tandem_timeline</c> for one request: lifetime events in seconds on the server's monotonic
/// clock (only differences between them mean anything). Events the serving mode lacks are null.
/// </summary>
public sealed record ServerTimeline
{
    public double Arrival { get; init; }
    public double? PrefillQueued { get; init; }
    public double? PrefillStart { get; init; }
    public double? PrefillEnd { get; init; }
    public double? TransferStart { get; init; }
    public double? TransferEnd { get; init; }
    public double? DecodeStart { get; init; }
    public double? FirstToken { get; init; }
    public double? End { get; init; }
    public IReadOnlyList<double> TokenTimes { get; init; } = [];

    /// <summary>Waiting before prefill started.</summary>
    [JsonIgnore] public double? Queue => PrefillStart - Arrival;
    [JsonIgnore] public double? Prefill => PrefillEnd - PrefillStart;
    /// <summary>From the end of prefill to the start of decode: waiting for a decode slot plus moving the KV cache (null when colocated).</summary>
    [JsonIgnore] public double? Transfer => TransferStart is null ? null : (DecodeStart ?? TransferEnd) - PrefillEnd;
    [JsonIgnore] public double? Decode => End - (DecodeStart ?? PrefillEnd);

    public static ServerTimeline? FromJson(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("arrival", out var arrival) || !arrival.TryGetDouble(out double a))
            return null;
        var tokens = new List<double>();
        if (e.TryGetProperty("token_times", out var times) && times.ValueKind == JsonValueKind.Array)
            foreach (var t in times.EnumerateArray())
                if (t.TryGetDouble(out double v)) tokens.Add(v);
        return new ServerTimeline
        {
            Arrival = a,
            PrefillQueued = Number(e, "prefill_queued"),
            PrefillStart = Number(e, "prefill_start"),
            PrefillEnd = Number(e, "prefill_end"),
            TransferStart = Number(e, "transfer_start"),
            TransferEnd = Number(e, "transfer_end"),
            DecodeStart = Number(e, "decode_start"),
            FirstToken = Number(e, "first_token") ?? (tokens.Count > 0 ? tokens[0] : null),
            End = Number(e, "end"),
            TokenTimes = tokens,
        };
    }

    private static double? Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}
