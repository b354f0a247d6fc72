using System.Diagnostics;

namespace Tandem.Server.Telemetry;

/// <summary>W3C trace context (<c>traceparent</c> / <c>tracestate</c>) as text, to carry a span's context over the cluster protocol.</summary>
internal static class TraceParent
{
    /// <summary>"00-{trace id}-{span id}-{flags}", or "" for no context.</summary>
    public static string Format(ActivityContext context) =>
        context == default ? "" : $"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{((context.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? "01" : "00")}";

    /// <summary>The remote context in <paramref name="traceparent"/>, or default when it is empty or malformed (a root span then).</summary>
    public static ActivityContext Parse(string? traceparent, string? tracestate) =>
        !string.IsNullOrEmpty(traceparent) && ActivityContext.TryParse(traceparent, string.IsNullOrEmpty(tracestate) ? null : tracestate, isRemote: true, out var context)
            ? context
            : default;
}
