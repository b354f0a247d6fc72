using System.Diagnostics;
using Tandem.Serving;

namespace Tandem.Server.Telemetry;

/// <summary>
/// The phase spans of a finished request, made from its <see cref="RequestTimeline"/> once it ends (the runtime's
/// instance loops stay free of tracing): queue, prefill, KV transfer and decode, as children of the request's span,
/// each with the start and end the timeline recorded.
/// </summary>
internal static class PhaseSpans
{
    /// <summary>
    /// Adds the phases under <paramref name="parent"/>. The timeline's clock (seconds) maps to wall time through one
    /// pair of readings: <paramref name="originSeconds"/> on the timeline is <paramref name="originUtc"/>.
    /// </summary>
    public static void Emit(Activity parent, RequestTimeline t, double originSeconds, DateTime originUtc)
    {
        if (!parent.Recorded) return;
        DateTime At(double seconds) => originUtc.AddTicks((long)((seconds - originSeconds) * TimeSpan.TicksPerSecond));
        if (t.PrefillStart is double prefillStart)
            Span(parent, TandemTracing.Queue, At(t.PrefillQueued ?? t.Arrival), At(prefillStart));
        if (t is { PrefillStart: double ps, PrefillEnd: double pe })
            Span(parent, TandemTracing.Prefill, At(ps), At(pe));
        if (t is { TransferStart: double ts, TransferEnd: double te })
            Span(parent, TandemTracing.KvTransfer, At(ts), At(te));
        double? decodeStart = t.DecodeStart ?? (t.TokenTimes.Count > 0 ? t.TokenTimes[0] : null);
        double? decodeEnd = t.End ?? (t.TokenTimes.Count > 0 ? t.TokenTimes[^1] : null);
        if (decodeStart is double ds && decodeEnd is double de && t.TokenTimes.Count > 1)
            Span(parent, TandemTracing.Decode, At(ds), At(de));
    }

    /// <summary>A finished child span from <paramref name="start"/> to <paramref name="end"/> (an end not after the start is clamped to one tick after it).</summary>
    public static void Span(Activity parent, string name, DateTime start, DateTime end, int? tokens = null)
    {
        using var span = TandemTracing.Source.StartActivity(name, ActivityKind.Internal, parent.Context, startTime: start);
        if (span is null) return;
        if (tokens is int n) span.SetTag("tandem.tokens", n);
        span.SetEndTime(end > start ? end : start.AddTicks(1)); // a zero duration would make Stop take the time now
    }
}
