using System.Text.Json;
using Tandem.Serving;

namespace Tandem.Server.Generation;

/// <summary>
/// The <c>tandem_timeline</c> extension object: a request's lifetime events in seconds on the runtime's monotonic
/// clock (compare them with each other, not with wall time); events a mode does not have (transfer when colocated) are null.
/// </summary>
internal static class TimelineJson
{
    public const string PropertyName = "tandem_timeline";

    public static void Write(Utf8JsonWriter w, RequestTimeline t)
    {
        w.WriteStartObject(PropertyName);
        w.WriteNumber("arrival", t.Arrival);
        Optional(w, "prefill_queued", t.PrefillQueued);
        Optional(w, "prefill_start", t.PrefillStart);
        Optional(w, "prefill_end", t.PrefillEnd);
        Optional(w, "transfer_start", t.TransferStart);
        Optional(w, "transfer_end", t.TransferEnd);
        Optional(w, "decode_start", t.DecodeStart);
        Optional(w, "first_token", t.TokenTimes.Count > 0 ? t.TokenTimes[0] : null);
        Optional(w, "end", t.End);
        w.WriteStartArray("token_times");
        foreach (double time in t.TokenTimes)
            w.WriteNumberValue(time);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Optional(Utf8JsonWriter w, string name, double? value)
    {
        if (value is double v) w.WriteNumber(name, v); else w.WriteNull(name);
    }
}
