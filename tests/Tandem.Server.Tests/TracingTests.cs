using System.Diagnostics;
using System.Net;
using Tandem.Server.Telemetry;
using Tandem.Server.Tests.Otlp;

namespace Tandem.Server.Tests;

/// <summary>
/// Traces reach a real OTLP/gRPC collector on loopback: one span per request under the HTTP call's span (itself under
/// the caller's traceparent), with its queue, prefill, KV transfer and decode as children, in process and across a
/// cluster's processes (the frontend's context travels to the workers in the cluster protocol).
/// </summary>
public sealed class TracingTests
{
    private static readonly TimeSpan ExportLimit = TimeSpan.FromSeconds(60);

    static TracingTests()
    {
        // The SDK batches spans for 5 s by default; a short delay keeps the tests quick (the processes started here inherit it).
        Environment.SetEnvironmentVariable("OTEL_BSP_SCHEDULE_DELAY", "100");
    }

    [Fact]
    public async Task A_request_is_a_span_with_its_phases_under_the_callers_trace()
    {
        await using var collector = await OtlpReceiver.StartAsync();
        // Local prefill off: every phase of disaggregation, the KV transfer included, happens for this short prompt.
        await using var server = await RunningServer.StartAsync(configureServer: o => o.OtlpEndpoint = collector.Endpoint, localPrefillThreshold: 0);
        var (traceId, callerSpan, headers) = Caller();

        var reply = await server.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 8), headers);
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        string id = reply.Body.GetProperty("id").GetString()!;

        // Spans come in batches, each when it ends (the HTTP call's last): wait for all that are expected.
        var spans = await TraceAsync(collector, traceId, callerSpan, TandemTracing.Request, TandemTracing.Queue, TandemTracing.Prefill,
            TandemTracing.KvTransfer, TandemTracing.Decode);
        var http = Assert.Single(spans, s => s.ParentSpanId == callerSpan); // ASP.NET Core's span of the call
        var request = Assert.Single(spans, s => s.Name == TandemTracing.Request);
        Assert.Equal(http.SpanId, request.ParentSpanId);
        Assert.Equal(id, request.Attributes["tandem.request_id"]);
        Assert.Equal(RunningServer.ModelName, request.Attributes["gen_ai.request.model"]);
        Assert.Equal(References.OnceUponATimePromptTokens.ToString(), request.Attributes["gen_ai.usage.input_tokens"]);
        Assert.Equal("8", request.Attributes["gen_ai.usage.output_tokens"]);
        Assert.Equal("length", request.Attributes["gen_ai.response.finish_reasons"]);
        Assert.Equal("tandem", request.Resource["service.name"]);
        Assert.Equal("all", request.Resource["tandem.role"]);

        // Disaggregated: every phase happened once, inside the request and in order.
        string[] phases = [TandemTracing.Queue, TandemTracing.Prefill, TandemTracing.KvTransfer, TandemTracing.Decode];
        var children = spans.Where(s => s.ParentSpanId == request.SpanId).ToList();
        Assert.Equal(phases.Order(), children.Select(c => c.Name).Order());
        var ordered = phases.Select(p => children.Single(c => c.Name == p)).ToList();
        foreach (var phase in ordered)
        {
            Assert.InRange(phase.StartNanos, request.StartNanos, request.EndNanos);
            Assert.InRange(phase.EndNanos, phase.StartNanos, request.EndNanos);
        }
        for (int i = 1; i < ordered.Count; i++)
            Assert.True(ordered[i].StartNanos >= ordered[i - 1].EndNanos, $"{ordered[i].Name} starts before {ordered[i - 1].Name} ends");
        Assert.DoesNotContain(spans, s => s.Name.Contains("token", StringComparison.OrdinalIgnoreCase));
    }

    /// <param name="kvOverlap">
    /// With --kv-overlap the frontend calls Decode while the prefill runs (from inside the Prefill call): that call carries
    /// the trace context as well.
    /// </param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_cluster_request_is_one_trace_across_the_frontend_and_its_workers(bool kvOverlap)
    {
        await using var collector = await OtlpReceiver.StartAsync();
        string[] otlp = ["--otlp-endpoint", collector.Endpoint.ToString()];
        using var cluster = await LocalCluster.StartAsync(1, 1, workerArguments: otlp, frontendArguments: [.. otlp, .. kvOverlap ? ["--kv-overlap"] : (string[])[]]);
        var (traceId, callerSpan, headers) = Caller();

        var reply = await cluster.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 8), headers);
        Assert.Equal(HttpStatusCode.OK, reply.Status);

        var spans = await TraceAsync(collector, traceId, callerSpan, TandemTracing.Request, TandemTracing.WorkerCall, TandemTracing.WorkerCall,
            TandemTracing.WorkerRun, TandemTracing.WorkerRun, TandemTracing.Prefill, TandemTracing.KvTransfer, TandemTracing.Decode);
        var http = Assert.Single(spans, s => s.ParentSpanId == callerSpan);
        var request = Assert.Single(spans, s => s.Name == TandemTracing.Request);
        Assert.Equal(http.SpanId, request.ParentSpanId);
        Assert.All([http, request], s => Assert.Equal("frontend", s.Resource["tandem.role"]));

        // The frontend calls the prefill worker, then the decode worker; each worker's span is a child of its call.
        var calls = spans.Where(s => s.Name == TandemTracing.WorkerCall).ToList();
        Assert.Equal(["decode", "prefill"], calls.Select(c => c.Attributes["tandem.role"]).Order());
        Assert.All(calls, c => Assert.Equal(request.SpanId, c.ParentSpanId));
        foreach (string role in (string[])["prefill", "decode"])
        {
            var call = calls.Single(c => c.Attributes["tandem.role"] == role);
            var run = Assert.Single(spans, s => s.Name == TandemTracing.WorkerRun && s.ParentSpanId == call.SpanId);
            Assert.Equal(role, run.Resource["tandem.role"]); // exported by the worker's own process
            string[] expected = role == "prefill" ? [TandemTracing.Prefill] : [TandemTracing.Decode, TandemTracing.KvTransfer];
            Assert.Equal(expected, spans.Where(s => s.ParentSpanId == run.SpanId).Select(s => s.Name).Order());
        }
        // The frontend repeats no phase of its own: the workers traced them.
        Assert.Equal(1, spans.Count(s => s.Name == TandemTracing.Prefill));
        Assert.Equal(1, spans.Count(s => s.Name == TandemTracing.Decode));
    }

    /// <summary>
    /// The spans of the trace once the collector has the HTTP call's span (the child of <paramref name="callerSpan"/>)
    /// and at least as many of each name as <paramref name="names"/> lists.
    /// </summary>
    private static async Task<List<ReceivedSpan>> TraceAsync(OtlpReceiver collector, string traceId, string callerSpan, params string[] names)
    {
        var spans = await collector.WaitForAsync(all =>
        {
            var trace = all.Where(s => s.TraceId == traceId).ToList();
            return trace.Any(s => s.ParentSpanId == callerSpan)
                && names.GroupBy(n => n).All(g => trace.Count(s => s.Name == g.Key) >= g.Count());
        }, ExportLimit);
        return [.. spans.Where(s => s.TraceId == traceId)];
    }

    /// <summary>A caller's trace context, sent as W3C traceparent.</summary>
    private static (string TraceId, string SpanId, Dictionary<string, string> Headers) Caller()
    {
        string traceId = ActivityTraceId.CreateRandom().ToHexString();
        string spanId = ActivitySpanId.CreateRandom().ToHexString();
        return (traceId, spanId, new Dictionary<string, string> { ["traceparent"] = $"00-{traceId}-{spanId}-01" });
    }
}
