using System.Diagnostics;

namespace Tandem.Server.Telemetry;

/// <summary>
/// A cluster worker's spans for one Prefill or Decode call, children of the frontend's call span whose context came
/// in the request (GenerateRequest.traceparent): the call itself, and under it the prefill (a prefill worker: from the
/// call's arrival, its queue included, until the KV is held or the request ends) or the KV pull and the decode (a
/// decode worker). None when the request carries no context.
/// </summary>
internal sealed class WorkerSpans : IDisposable
{
    private readonly Activity? _span;
    private readonly bool _prefill;
    private DateTime? _imported;

    private WorkerSpans(Activity? span, bool prefill)
    {
        _span = span;
        _prefill = prefill;
    }

    public static WorkerSpans Start(string role, string requestId, string traceparent, string tracestate)
    {
        var parent = TraceParent.Parse(traceparent, tracestate);
        var previous = Activity.Current;
        var span = parent == default ? null : TandemTracing.Source.StartActivity(TandemTracing.WorkerRun, ActivityKind.Server, parent);
        Activity.Current = previous;
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("tandem.role", role);
            span.SetTag("tandem.request_id", requestId);
        }
        return new WorkerSpans(span, role == "prefill");
    }

    /// <summary>A decode worker's KV arrived, after a pull of <paramref name="pullSeconds"/>.</summary>
    public void Imported(long bytes, double pullSeconds)
    {
        if (_span is null || _imported is not null) return;
        var now = DateTime.UtcNow;
        _imported = now;
        PhaseSpans.Span(_span, TandemTracing.KvTransfer, now - TimeSpan.FromSeconds(pullSeconds), now);
        _span.SetTag("tandem.kv_transfer_bytes", bytes);
    }

    /// <summary>The request failed here, or its KV was lost.</summary>
    public void Fail(string reason) => _span?.SetStatus(ActivityStatusCode.Error, reason);

    /// <summary>The call is over: the prefill (or decode) span ends now, and the call's span with it.</summary>
    public void Dispose()
    {
        if (_span is null) return;
        var now = DateTime.UtcNow;
        if (_prefill) PhaseSpans.Span(_span, TandemTracing.Prefill, _span.StartTimeUtc, now);
        else if (_imported is DateTime imported) PhaseSpans.Span(_span, TandemTracing.Decode, imported, now);
        var previous = Activity.Current;
        _span.Stop();
        Activity.Current = previous;
    }
}
