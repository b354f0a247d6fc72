using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tandem.Server.Tests.Otlp.Proto;

namespace Tandem.Server.Tests.Otlp;

/// <summary>One span as an OTLP collector received it, with its process's resource attributes.</summary>
public sealed record ReceivedSpan(string TraceId, string SpanId, string ParentSpanId, string Name, ulong StartNanos, ulong EndNanos,
    IReadOnlyDictionary<string, string> Attributes, IReadOnlyDictionary<string, string> Resource, int StatusCode);

/// <summary>
/// A real OTLP/gRPC trace collector on loopback (Kestrel, cleartext HTTP/2 as collectors listen on 4317): what a
/// Tandem process started with --otlp-endpoint exports to. Keeps every span it is sent.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private WebApplication _app = null!;

    private OtlpReceiver() { }

    public Uri Endpoint { get; private set; } = null!;

    public IReadOnlyList<ReceivedSpan> Spans => [.. _spans];

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var receiver = new OtlpReceiver();
        builder.Services.AddSingleton(receiver);
        var app = receiver._app = builder.Build();
        app.MapGrpcService<TraceService>();
        await app.StartAsync();
        receiver.Endpoint = new Uri(app.Urls.First());
        return receiver;
    }

    /// <summary>Polls (bounded) until <paramref name="done"/> holds for the spans received, which it then returns.</summary>
    public async Task<IReadOnlyList<ReceivedSpan>> WaitForAsync(Func<IReadOnlyList<ReceivedSpan>, bool> done, TimeSpan limit)
    {
        var until = DateTime.UtcNow + limit;
        while (true)
        {
            var spans = Spans;
            if (done(spans)) return spans;
            if (DateTime.UtcNow > until)
                Assert.Fail($"the collector did not get the expected spans within {limit.TotalSeconds} s; it got:\n" +
                    string.Join("\n", spans.Select(s => $"  {s.Name} trace {s.TraceId} span {s.SpanId} parent {s.ParentSpanId} ({Role(s)})")));
            await Task.Delay(100);
        }
    }

    private static string Role(ReceivedSpan s) => s.Resource.TryGetValue("tandem.role", out var r) ? r : "?";

    internal void Add(ExportTraceServiceRequest request)
    {
        foreach (var rs in request.ResourceSpans)
        {
            var resource = Attributes(rs.Resource?.Attributes);
            foreach (var scope in rs.ScopeSpans)
                foreach (var s in scope.Spans)
                    _spans.Enqueue(new ReceivedSpan(Convert.ToHexStringLower(s.TraceId.Span), Convert.ToHexStringLower(s.SpanId.Span),
                        Convert.ToHexStringLower(s.ParentSpanId.Span), s.Name, s.StartTimeUnixNano, s.EndTimeUnixNano, Attributes(s.Attributes), resource,
                        s.Status?.Code ?? 0));
        }
    }

    private static Dictionary<string, string> Attributes(IEnumerable<KeyValue>? attributes) =>
        (attributes ?? []).ToDictionary(a => a.Key, a => a.Value?.ValueCase switch
        {
            AnyValue.ValueOneofCase.StringValue => a.Value.StringValue,
            AnyValue.ValueOneofCase.IntValue => a.Value.IntValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
            AnyValue.ValueOneofCase.DoubleValue => a.Value.DoubleValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
            AnyValue.ValueOneofCase.BoolValue => a.Value.BoolValue ? "true" : "false",
            AnyValue.ValueOneofCase.ArrayValue => string.Join(",", a.Value.ArrayValue.Values.Select(v => v.StringValue)),
            _ => "",
        });

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed class TraceService(OtlpReceiver receiver) : Proto.TraceService.TraceServiceBase
    {
        public override Task<ExportTraceServiceResponse> Export(ExportTraceServiceRequest request, ServerCallContext context)
        {
            receiver.Add(request);
            return Task.FromResult(new ExportTraceServiceResponse());
        }
    }
}
