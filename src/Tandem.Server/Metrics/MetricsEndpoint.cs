using Microsoft.AspNetCore.Http;
using Tandem.Server.Hosting;

namespace Tandem.Server.Metrics;

/// <summary>GET /metrics: the Prometheus text exposition of this server's registry.</summary>
internal static class MetricsEndpoint
{
    public static Task HandleAsync(HttpContext context) => ApiHandler.RunAsync(context, async (ctx, api) =>
    {
        ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await api.Metrics.WriteTextAsync(ctx.Response.Body, ctx.RequestAborted);
    });
}
