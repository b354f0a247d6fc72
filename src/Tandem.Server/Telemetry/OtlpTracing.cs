using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Tandem.Server.Telemetry;

/// <summary>
/// Exports the "Tandem" spans (and ASP.NET Core's span of each /v1 call, their parent) over OTLP when an endpoint is
/// given (--otlp-endpoint) or set the standard way (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
/// The protocol is OTLP's default, gRPC, unless OTEL_EXPORTER_OTLP_PROTOCOL says http/protobuf; the other OTEL_*
/// variables (service name, resource attributes, headers, sampler, batching) apply as the OpenTelemetry SDK reads
/// them. Without an endpoint nothing is registered: no listener, so the ActivitySource creates no span at all.
/// </summary>
public static class OtlpTracing
{
    public const string EndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";
    public const string TracesEndpointVariable = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    private const string ServiceNameVariable = "OTEL_SERVICE_NAME";

    /// <summary>Whether spans will be exported: an endpoint given, or one of the standard variables set.</summary>
    public static bool IsOn(Uri? endpoint) =>
        endpoint is not null || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(EndpointVariable))
                             || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(TracesEndpointVariable));

    /// <summary>Registers the exporter when <see cref="IsOn"/>; <paramref name="role"/> (all, frontend, prefill, decode) becomes the tandem.role resource attribute.</summary>
    public static void AddTo(IServiceCollection services, Uri? endpoint, string role)
    {
        if (!IsOn(endpoint)) return;
        services.AddOpenTelemetry()
            .ConfigureResource(r =>
            {
                if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(ServiceNameVariable))) r.AddService("tandem");
                r.AddAttributes([new("tandem.role", role)]);
            })
            .WithTracing(t => t
                .AddSource(TandemTracing.SourceName)
                // The HTTP span of each API call, parent of its requests' spans (and child of the caller's, when it sent a
                // traceparent). Not health probes, scrapes, the cluster's own calls or the warm-up: those would flood the trace store.
                .AddAspNetCoreInstrumentation(o => o.Filter = context => context.Request.Path.StartsWithSegments("/v1") && !Hosting.WarmUpRequest.IsWarmUp(context))
                .AddOtlpExporter(o =>
                {
                    if (endpoint is not null) o.Endpoint = SignalEndpoint(endpoint, o.Protocol);
                }));
    }

    /// <summary>
    /// The collector's base address, as OTEL_EXPORTER_OTLP_ENDPOINT takes it: over http/protobuf the traces go to its
    /// /v1/traces (the SDK appends it only to the variable's value, not to an address set in code).
    /// </summary>
    internal static Uri SignalEndpoint(Uri endpoint, OtlpExportProtocol protocol) =>
        protocol == OtlpExportProtocol.HttpProtobuf && endpoint.AbsolutePath is "/" or ""
            ? new Uri(endpoint, "v1/traces")
            : endpoint;
}
