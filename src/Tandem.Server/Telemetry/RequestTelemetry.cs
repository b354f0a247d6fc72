using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Tandem.Server.Generation;
using Tandem.Server.Logging;
using Tandem.Server.Metrics;
using Tandem.Serving;

namespace Tandem.Server.Telemetry;

/// <summary>
/// What a finished request leaves behind: its metrics, one log line (id, tokens, cached tokens, TTFT, TPOT, finish
/// reason) and its trace span with a child per phase. All of it once per request, when it ends: nothing per token.
/// </summary>
/// <param name="phasesFromTimeline">
/// False for a cluster frontend: its workers trace their own phases under the frontend's calls to them, so the
/// frontend's timeline (which mirrors what workers report) would only repeat them.
/// </param>
internal sealed class RequestTelemetry(ServingMetrics metrics, ILogger requestLog, string modelName, bool phasesFromTimeline)
{
    /// <summary>
    /// Starts the request's span, a child of the current one (ASP.NET Core's for the HTTP call, when it is traced), or
    /// null when no one listens. The caller's flow keeps its own current span: this one ends in <see cref="Track"/>.
    /// </summary>
    public Activity? Start(string requestId)
    {
        var previous = Activity.Current;
        var span = TandemTracing.Source.StartActivity(TandemTracing.Request, ActivityKind.Internal);
        Activity.Current = previous;
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("tandem.request_id", requestId);
            span.SetTag("gen_ai.request.model", modelName);
        }
        return span;
    }

    /// <summary>Records the request once it ends: metrics, the log line, and the span (which started just before the runtime's arrival time).</summary>
    public void Track(RequestHandle handle, Activity? span) =>
        handle.Completion.ContinueWith(t =>
        {
            if (!t.IsCompletedSuccessfully)
            {
                metrics.ObserveFailure(); // also observes the fault, so it is never unobserved
                if (requestLog.IsEnabled(LogLevel.Information))
                    ServerLog.RequestFinished(requestLog, handle.Id, FinishReasons.Abort, 0, 0, 0, null, null, null);
                if (span is not null)
                {
                    span.SetStatus(ActivityStatusCode.Error, t.Exception?.InnerException?.Message);
                    span.Stop();
                }
                return;
            }
            var outcome = t.Result;
            metrics.Observe(outcome);
            var timeline = outcome.Timeline;
            string reason = FinishReasons.ToApi(outcome.FinishReason);
            if (requestLog.IsEnabled(LogLevel.Information))
            {
                ServerLog.RequestFinished(requestLog, handle.Id, reason, outcome.PromptTokens, outcome.CachedTokens, outcome.CompletionTokens,
                    Milliseconds(timeline.Ttft), Milliseconds(timeline.Tpot), Milliseconds(timeline.End - timeline.Arrival));
            }
            if (span is not null) End(span, outcome, reason);
        }, TaskScheduler.Default);

    private void End(Activity span, RequestOutcome outcome, string reason)
    {
        var previous = Activity.Current;
        var t = outcome.Timeline;
        DateTime origin = span.StartTimeUtc;
        if (span.IsAllDataRequested)
        {
            span.SetTag("gen_ai.usage.input_tokens", outcome.PromptTokens);
            span.SetTag("gen_ai.usage.output_tokens", outcome.CompletionTokens);
            span.SetTag("gen_ai.response.finish_reasons", new[] { reason });
            span.SetTag("tandem.cached_tokens", outcome.CachedTokens);
            if (t.Ttft is double ttft) span.SetTag("tandem.ttft_seconds", ttft);
            if (t.Tpot is double tpot) span.SetTag("tandem.tpot_seconds", tpot);
            if (outcome.Preemptions > 0) span.SetTag("tandem.preemptions", outcome.Preemptions);
            if (phasesFromTimeline) PhaseSpans.Emit(span, t, t.Arrival, origin);
        }
        if (t.End is double end) span.SetEndTime(origin.AddTicks((long)((end - t.Arrival) * TimeSpan.TicksPerSecond)));
        span.Stop();
        Activity.Current = previous;
    }

    private static double? Milliseconds(double? seconds) => seconds is double s ? Math.Round(s * 1000, 2) : null;
}
